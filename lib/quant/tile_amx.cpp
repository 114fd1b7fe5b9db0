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
  for (int r = 0; r < kTileRows; ++r) {
    __m512 v = tree8(lanes, r);
    if (m != nullptr) v = _mm512_sub_ps(v, tree8(mlanes, r));
    _mm512_storeu_ps(out + r * kTileTokens, v);
  }
}

// The superblock form (dot.h): tmm0 / tmm1 = 16 rows x 64 elements of lo /
// hi bytes, tmm2 = their activations (then the mins' high sums), tmm3 = the
// mins' low sums, tmm4 / tmm5 = the lo / hi sums of a block, tmm6 = 16 rows x
// the block's 8 mins, tmm7 = the unit sums' low or high parts (2 x 64 bytes).
void configure_tiles_k() {
  TileConfig c;
  for (int t = 0; t < 6; ++t) c.colsb[t] = 64, c.rows[t] = 16;
  c.colsb[6] = 8, c.rows[6] = 16;
  c.colsb[7] = 64, c.rows[7] = 2;
  _tile_loadconfig(&c);
}

void tile_dot_k_amx(const int8_t* q, const float* ws, const float*, const int8_t* b, const float* dxt, const float* sxt,
                    int64_t n, float* out) {
  configure_tiles_k();
  const int64_t nb = n / 256, nws = n / 16;
  const auto* sums = reinterpret_cast<const uint8_t*>(sxt);  // pack_act_tile_k's byte tiles
  alignas(64) int32_t clo[kTileRows * kTileTokens], chi[kTileRows * kTileTokens];
  alignas(64) int32_t mlo[kTileRows * kTileTokens], mhi[kTileRows * kTileTokens];
  alignas(64) float lanes[8][kTileRows * kTileTokens], mlanes[8][kTileRows * kTileTokens];
  for (int64_t k = 0; k < nb; ++k) {
    _tile_zero(4);
    _tile_zero(5);
    for (int c = 0; c < 4; ++c) {
      const int64_t e = 256 * k + 64 * c;
      _tile_loadd(0, q + 2 * e, 2 * n);
      _tile_loadd(1, q + 2 * e + 64, 2 * n);
      _tile_loadd(2, b + 16 * e, 64);
      _tile_dpbusd(4, 0, 2);
      _tile_dpbusd(5, 1, 2);
    }
    _tile_stored(4, clo, 64);
    _tile_stored(5, chi, 64);
    _tile_zero(3);
    _tile_zero(2);
    _tile_loadd(6, reinterpret_cast<const uint8_t*>(ws) + 64 * k + 8, nws * 4);
    _tile_loadd(7, sums + 256 * k, 64);
    _tile_dpbusd(3, 6, 7);
    _tile_loadd(7, sums + 256 * k + 128, 64);
    _tile_dpbusd(2, 6, 7);
    _tile_stored(3, mlo, 64);
    _tile_stored(2, mhi, 64);
    const __m512 dxv = _mm512_loadu_ps(dxt + 8 * k * kTileTokens);
    float* la = lanes[k % 8];
    float* ma = mlanes[k % 8];
    const bool first = k < 8;
    for (int r = 0; r < kTileRows; ++r) {
      const float* w = ws + r * nws + 16 * k;  // d, dmin
      const int o = r * kTileTokens;
      const __m512i t = _mm512_add_epi32(_mm512_load_si512(clo + o), _mm512_slli_epi32(_mm512_load_si512(chi + o), 8));
      const __m512i m = _mm512_add_epi32(_mm512_load_si512(mlo + o), _mm512_slli_epi32(_mm512_load_si512(mhi + o), 6));
      const __m512 a0 = first ? _mm512_setzero_ps() : _mm512_load_ps(la + o);
      const __m512 m0 = first ? _mm512_setzero_ps() : _mm512_load_ps(ma + o);
      _mm512_store_ps(la + o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(dxv, _mm512_set1_ps(w[0])), a0));
      _mm512_store_ps(ma + o, _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(dxv, _mm512_set1_ps(w[1])), m0));
    }
  }
  for (int64_t l = nb; l < 8; ++l) {  // lanes no block reached
    std::memset(lanes[l], 0, sizeof lanes[l]);
    std::memset(mlanes[l], 0, sizeof mlanes[l]);
  }
  for (int r = 0; r < kTileRows; ++r)
    _mm512_storeu_ps(out + r * kTileTokens, _mm512_sub_ps(tree8(lanes, r), tree8(mlanes, r)));
}

}  // namespace

TileDotFn tile_dot_k() {
  if (!amx_granted() || active_isa() != Isa::kAvx512) return nullptr;
  return tile_dot_k_amx;
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
