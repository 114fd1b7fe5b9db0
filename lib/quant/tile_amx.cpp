// The tile kernel of dot.h (TileDotFn) with AMX-INT8: 16 rows x 16 tokens per
// call. For each canonical unit (16 or 32 elements) one TDPBSSD gives the exact
// int32 sums of all 256 (row, token) pairs; AVX-512 then does the canonical float step with
// the 16 tokens of a row in one vector. Compiled by target pragma and called
// only where amx_granted() (cpu_features.h) says the OS allows the tiles.
#include <cstdint>

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
void tile_dot_amx(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt,
                  const float* sxt, int64_t n, float* out) {
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
        for (int r = 0; r < kTileRows; ++r)
          mins[r] = _mm512_fmadd_ps(_mm512_set1_ps(m[r * nsub + j]), sx, mins[r]);
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

}  // namespace

TileDotFn tile_dot(int unit) {
  // Its float step is AVX-512: NEXTLM_CPU_ISA below avx512 turns it off too.
  if (!amx_granted() || active_isa() != Isa::kAvx512) return nullptr;
  return unit == 32 ? tile_dot_amx<32> : tile_dot_amx<16>;
}

}  // namespace nextlm::quant

#include "quant/isa_target_pop.inc"
#else
namespace nextlm::quant {
TileDotFn tile_dot(int) { return nullptr; }
}  // namespace nextlm::quant
#endif
