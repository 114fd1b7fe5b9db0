// The tile kernel of dot.h (TileDotFn) with AMX-INT8: 16 rows x 16 tokens per
// call. For each canonical unit (16 or 32 elements) one TDPBSSD gives the exact
// int32 sums of all 256 (row, token) pairs; AVX-512 then does the canonical float step with
// the 16 tokens of a row in one vector. Compiled by target pragma and called
// only where amx_granted() (cpu_features.h) says the OS allows the tiles.
#include <cstdint>
#include <cstring>

#include "quant/cpu_features.h"
#include "quant/dot.h"

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NLM_ISA_TARGET "avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,amx-tile,amx-int8"
#include "quant/isa_target_push.inc"

namespace nextlm::quant {
namespace {

// The tile palette for units of U elements: tmm0 = 16 weight rows x one unit
// (U bytes each), tmm1 = the unit's activations (U / 4 rows of 16 tokens x 4
// bytes), tmm2 and tmm3 = two 16 x 16 int32 results (alternating, so one
// unit's sums are read while the next unit's are computed).
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

template <int U>
void configure_tiles() {
  TileConfig c;
  c.colsb[0] = U, c.rows[0] = 16;
  c.colsb[1] = 64, c.rows[1] = U / 4;
  c.colsb[2] = 64, c.rows[2] = 16;
  c.colsb[3] = 64, c.rows[3] = 16;
  _tile_loadconfig(&c);
}

// The exact sums of unit u for the 16 x 16 pairs into c (tile 2 or 3 by slot).
template <int U>
inline void unit_sums_amx(const int8_t* q, const int8_t* b, int64_t n, int64_t u, int slot, int32_t* c) {
  _tile_loadd(0, q + U * u, n);
  _tile_loadd(1, b + 64 * (U / 4) * u, 64);
  if (slot == 0) {
    _tile_zero(2);
    _tile_dpbssd(2, 0, 1);
    _tile_stored(2, c, 64);
  } else {
    _tile_zero(3);
    _tile_dpbssd(3, 0, 1);
    _tile_stored(3, c, 64);
  }
}

// The canonical final sum (dot.h) of row r's 8 lane accumulators, 16 tokens at once.
inline __m512 tree8(const float (*lanes)[kTileRows * kTileTokens], int r) {
  __m512 a[8];
  for (int l = 0; l < 8; ++l) a[l] = _mm512_load_ps(lanes[l] + r * kTileTokens);
  return _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
                       _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])));
}

// v[r] holds row r's 16 tokens; writes out[k * 16 + r]. Swapping the
// off-diagonal s x s blocks for s = 8, 4, 2, 1 transposes the 16 x 16 block.
inline void store_token_major(__m512* v, float* out) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int s = 8; s >= 1; s /= 2) {
    const __mmask16 high = _mm512_test_epi32_mask(iota, _mm512_set1_epi32(s));
    // Lane l of row i (l & s set) takes row i + s's lane l - s; row i + s's lane l (l & s clear) row i's l + s.
    const __m512i lo = _mm512_mask_add_epi32(iota, high, iota, _mm512_set1_epi32(16 - s));
    const __m512i hi = _mm512_mask_blend_epi32(high, _mm512_add_epi32(iota, _mm512_set1_epi32(s)),
                                               _mm512_add_epi32(iota, _mm512_set1_epi32(16)));
    for (int i = 0; i < 16; ++i) {
      if (i & s) continue;
      const __m512 a = v[i], b = v[i + s];
      v[i] = _mm512_permutex2var_ps(a, lo, b);
      v[i + s] = _mm512_permutex2var_ps(a, hi, b);
    }
  }
  for (int k = 0; k < kTileTokens; ++k) _mm512_storeu_ps(out + k * kTileRows, v[k]);
}

template <int U>
void tile_dot_amx(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt, const float* sxt,
                  int64_t n, float* out) {
  configure_tiles<U>();
  const int64_t nu = n / U, nsub = n / 32, nws = n / 16;
  alignas(64) int32_t c[2][kTileRows * kTileTokens];
  alignas(64) float lanes[8][kTileRows * kTileTokens];  // the 8 canonical accumulators, per row and token
  for (int lane = 0; lane < 8; ++lane) {
    __m512 acc[kTileRows];
    for (auto& a : acc) a = _mm512_setzero_ps();
    // Units lane, lane + 8, ...: AMX sums unit u + 8 while the float step reads unit u.
    int slot = 0;
    if (lane < nu) unit_sums_amx<U>(q, b, n, lane, 0, c[0]);
    for (int64_t u = lane; u < nu; u += 8, slot ^= 1) {
      if (u + 8 < nu) unit_sums_amx<U>(q, b, n, u + 8, slot ^ 1, c[slot ^ 1]);
      const __m512 dxv = _mm512_loadu_ps(dxt + (u * U / 32) * kTileTokens);
      const int32_t* cs = c[slot];
      for (int r = 0; r < kTileRows; ++r) {
        const __m512 scale = _mm512_mul_ps(dxv, _mm512_set1_ps(ws[r * nws + u * U / 16]));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cs + r * kTileTokens)), scale, acc[r]);
      }
    }
    for (int r = 0; r < kTileRows; ++r) _mm512_store_ps(lanes[lane] + r * kTileTokens, acc[r]);
  }
  // The mins in the same 8 lanes (j % 8, j in order within each), then the same tree.
  alignas(64) float mlanes[8][kTileRows * kTileTokens];
  if (m != nullptr) {
    for (int lane = 0; lane < 8; ++lane) {
      __m512 mins[kTileRows];
      for (auto& v : mins) v = _mm512_setzero_ps();
      for (int64_t j = lane; j < nsub; j += 8) {
        const __m512 sx = _mm512_loadu_ps(sxt + j * kTileTokens);
        for (int r = 0; r < kTileRows; ++r) mins[r] = _mm512_fmadd_ps(_mm512_set1_ps(m[r * nsub + j]), sx, mins[r]);
      }
      for (int r = 0; r < kTileRows; ++r) _mm512_store_ps(mlanes[lane] + r * kTileTokens, mins[r]);
    }
  }
  __m512 v[kTileRows];
  for (int r = 0; r < kTileRows; ++r) {
    v[r] = tree8(lanes, r);
    if (m != nullptr) v[r] = _mm512_sub_ps(v[r], tree8(mlanes, r));
  }
  store_token_major(v, out);
}

// The superblock form (dot.h), all tiles 16 x 64 bytes: tmm0 / tmm1 = 16
// rows x 64 elements of lo / hi bytes (then tmm0 the rows' mins), tmm2 / tmm3
// = the two token tiles' activations (then unit sums), tmm4-7 = lo and hi
// sums per token tile (then the mins' sums).
// out = lo + (hi << kShift) over a 16 x 16 int32 tile (out may be lo).
template <int kShift>
inline void join_parts(const int32_t* lo, const int32_t* hi, int32_t* out) {
  for (int o = 0; o < kTileRows * kTileTokens; o += 16)
    _mm512_store_si512(
        out + o, _mm512_add_epi32(_mm512_load_si512(lo + o), _mm512_slli_epi32(_mm512_load_si512(hi + o), kShift)));
}

void configure_tiles_k() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) c.colsb[t] = 64, c.rows[t] = 16;
  _tile_loadconfig(&c);
}

template <int NT>
void tile_dot_k_amx(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt,
                    const float* sxt, int64_t n, float* out) {
  configure_tiles_k();
  const int64_t nb = n / 256, nws = n / 16, nm = n / 32;
  const auto* sums = reinterpret_cast<const uint8_t*>(sxt);  // pack_act_tile_k's byte tiles, 2n bytes per tile
  constexpr int kC = kTileRows * kTileTokens;
  alignas(64) int32_t c[4][kC];
  alignas(64) float lanes[NT][8][kC];  // acc[b % 8] of dot.h per token tile, row and token
  for (int64_t k = 0; k < nb; ++k) {
    _tile_zero(4);
    _tile_zero(5);
    if (NT == 2) {
      _tile_zero(6);
      _tile_zero(7);
    }
    for (int cc = 0; cc < 4; ++cc) {
      const int64_t e = 256 * k + 64 * cc;
      _tile_loadd(0, q + 2 * e, 2 * n);
      _tile_loadd(1, q + 2 * e + 64, 2 * n);
      _tile_loadd(2, b + 16 * e, 64);
      _tile_dpbusd(4, 0, 2);
      _tile_dpbusd(5, 1, 2);
      if (NT == 2) {
        _tile_loadd(3, b + 16 * n + 16 * e, 64);
        _tile_dpbusd(6, 0, 3);
        _tile_dpbusd(7, 1, 3);
      }
    }
    _tile_stored(4, c[0], 64);
    _tile_stored(5, c[1], 64);
    if (NT == 2) {
      _tile_stored(6, c[2], 64);
      _tile_stored(7, c[3], 64);
    }
    for (int t = 0; t < NT; ++t) join_parts<8>(c[2 * t], c[2 * t + 1], c[2 * t]);  // T_b = lo + 256 hi
    alignas(64) int32_t mt[NT][kC];
    // M_b = lo + 64 hi of the mins against the unit sums (the mins' row: K 8..63 are zero).
    _tile_loadd(0, reinterpret_cast<const uint8_t*>(ws) + 64 * k, nws * 4);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* st = sums + 2 * n * t + 256 * k;
      _tile_zero(4);
      _tile_zero(5);
      _tile_loadd(2, st, 64);
      _tile_loadd(3, st + 128, 64);
      _tile_dpbusd(4, 0, 2);
      _tile_dpbusd(5, 0, 3);
      _tile_stored(4, c[1], 64);  // (c[1] and c[3] are free once the T_b are joined)
      _tile_stored(5, c[3], 64);
      join_parts<6>(c[1], c[3], mt[t]);
    }
    const bool first = k < 8;
    for (int t = 0; t < NT; ++t) {
      const __m512 dxv = _mm512_loadu_ps(dxt + t * (n / 2) + 8 * k * kTileTokens);
      float* la = lanes[t][k % 8];
      for (int r = 0; r < kTileRows; ++r) {
        const float* dm = m + r * nm + 8 * k;  // d, dmin
        const int o = r * kTileTokens;
        const __m512 a0 = first ? _mm512_setzero_ps() : _mm512_load_ps(la + o);
        const __m512 a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[2 * t] + o)),
                                          _mm512_mul_ps(dxv, _mm512_set1_ps(dm[0])), a0);
        const __m512 neg = _mm512_xor_ps(_mm512_mul_ps(dxv, _mm512_set1_ps(dm[1])), _mm512_set1_ps(-0.0f));
        _mm512_store_ps(la + o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(mt[t] + o)), neg, a1));
      }
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int64_t l = nb; l < 8; ++l) std::memset(lanes[t][l], 0, sizeof lanes[t][l]);  // lanes no block reached
    __m512 v[kTileRows];
    for (int r = 0; r < kTileRows; ++r) v[r] = tree8(lanes[t], r);
    store_token_major(v, out + t * kC);
  }
}

void tile_dot_k_call(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt,
                     const float* sxt, int64_t n, int n_tiles, float* out) {
  if (n_tiles == 2)
    tile_dot_k_amx<2>(q, ws, m, b, dxt, sxt, n, out);
  else
    tile_dot_k_amx<1>(q, ws, m, b, dxt, sxt, n, out);
}

}  // namespace

TileDotKFn tile_dot_k() {
  if (!amx_granted() || active_isa() != Isa::kAvx512) return nullptr;
  return tile_dot_k_call;
}

TileDotFn tile_dot(int unit) {
  // Its float step is AVX-512: NEXTLM_CPU_ISA below avx512 turns it off too.
  if (!amx_granted() || active_isa() != Isa::kAvx512) return nullptr;
  return unit == 32 ? tile_dot_amx<32> : tile_dot_amx<16>;
}

}  // namespace nextlm::quant

#include "quant/isa_target_pop.inc"
#else
namespace nextlm::quant {
TileDotFn tile_dot(int) {
  return nullptr;
}
TileDotFn tile_dot_k() {
  return nullptr;
}
}  // namespace nextlm::quant
#endif
