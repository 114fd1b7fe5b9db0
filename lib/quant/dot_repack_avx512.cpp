// AVX-512 VNNI decode kernel for repacked IQ3_S rows (Repack::kIq3sNibbles,
// see repack.h): compiled by target pragma, installed only through
// repacked_dot_kernels() where the active ISA is AVX-512.
//
// Per 256-block: two 64-byte loads give four registers of 64 codes (a mask
// and a shift each), four multiply-adds against the activations in the
// matching order (act_nibble_layout) give 16 dwords of 16-element sums, and
// S_u = 2 D_u - 15 A_u (D_u: codes x activations, A_u: the unit's activation
// sum, precomputed with the layout) is the exact integer unit sum of the
// values 2c - 15. The float steps are the IQ3_S VBMI kernel's, so results are
// bit-identical to the file layout's on every path.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/prefetch.h"
#include "quant/repack.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NLM_ISA_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#include "quant/isa_target_push.inc"

namespace nextlm::quant::detail {
namespace {

#include "quant/iq3s_avx512.inc"

// Per 256-block: 256 bytes with out[64k + 4m + j] = qx[16m + 4k + j] (the
// codes' order), then, after all blocks, 8 int32 unit sums per block.
void act_nibble_layout(const int8_t* qx, const float*, int64_t n, int8_t* out) {
  for (int64_t b = 0; b < n; b += 256) {
    for (int k = 0; k < 4; ++k)
      for (int m = 0; m < 16; ++m)
        for (int j = 0; j < 4; ++j) out[b + 64 * k + 4 * m + j] = qx[b + 16 * m + 4 * k + j];
    int32_t sums[8];
    for (int u = 0; u < 8; ++u) {
      int32_t a = 0;
      for (int i = 0; i < 32; ++i) a += qx[b + 32 * u + i];
      sums[u] = a;
    }
    std::memcpy(out + n + (b / 256) * 32, sums, sizeof sums);
  }
}

float vec_dot_iq3s_nib(const uint8_t* row, const int8_t* qa, const float* dx, const float*, int64_t n) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const int8_t* unit_sums = qa + n;
  __m256 acc = _mm256_setzero_ps();  // lane u % 8 (dot.h)
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* blk = row + b * kNibBlockBytes;
    prefetch_ahead<kNibBlockBytes>(blk);
    const __m256 scale8 = iq3s_scale8(blk + kNibScales, blk + kNibD, dx + 8 * b);
    const __m512i c0 = _mm512_loadu_si512(blk), c1 = _mm512_loadu_si512(blk + 64);
    const int8_t* a = qa + 256 * b;
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(c0, m4), _mm512_loadu_si512(a));
    s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(c0, 4), m4), _mm512_loadu_si512(a + 64));
    s = _mm512_dpbusd_epi32(s, _mm512_and_si512(c1, m4), _mm512_loadu_si512(a + 128));
    s = _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(c1, 4), m4), _mm512_loadu_si512(a + 192));
    // S_u = 2 D_u - 15 A_u, exact (D_u: codes x activations, A_u: act_nibble_layout's unit sums).
    const __m256i d_u = iq3s_units(s);
    const __m256i a_u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(unit_sums + 32 * b));
    const __m256i s_u = _mm256_sub_epi32(_mm256_slli_epi32(d_u, 1), _mm256_sub_epi32(_mm256_slli_epi32(a_u, 4), a_u));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_u), scale8, acc);
  }
  return iq3s_sum8(acc);
}

// As unpack_iq3_s (values, ws = d (1 + 2s) per 16, no offsets): the codes
// come out in the kernel's order, dword 4m + k of the block in register k's
// dword m, and a 4 x 4 transpose of dwords, then of 128-bit lanes, puts them
// in element order.
void unpack_iq3s_nib(const uint8_t* row, int64_t n, int8_t* q, float* ws, float* m) {
  const __m512i m4 = _mm512_set1_epi8(0x0F), k15 = _mm512_set1_epi8(15);
  const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* blk = row + b * kNibBlockBytes;
    // The 8 units' d * (1 + 2s) (nib_unit_scale's products, bit for bit), each
    // for its two 16-element halves: one vector step instead of 8 scalar f16
    // conversions, which were most of this function's time.
    const __m256 ws8 = iq3s_ws8(blk + kNibScales, blk + kNibD);
    _mm512_storeu_ps(ws + b * 16, _mm512_permutexvar_ps(pairs, _mm512_castps256_ps512(ws8)));
    _mm256_storeu_ps(m + b * 8, _mm256_setzero_ps());
    const __m512i c0 = _mm512_loadu_si512(blk), c1 = _mm512_loadu_si512(blk + 64);
    auto value = [&](__m512i c) { return _mm512_sub_epi8(_mm512_add_epi8(c, c), k15); };
    const __m512i v0 = value(_mm512_and_si512(c0, m4)), v1 = value(_mm512_and_si512(_mm512_srli_epi16(c0, 4), m4));
    const __m512i v2 = value(_mm512_and_si512(c1, m4)), v3 = value(_mm512_and_si512(_mm512_srli_epi16(c1, 4), m4));
    const __m512i lo01 = _mm512_unpacklo_epi32(v0, v1), hi01 = _mm512_unpackhi_epi32(v0, v1);
    const __m512i lo23 = _mm512_unpacklo_epi32(v2, v3), hi23 = _mm512_unpackhi_epi32(v2, v3);
    // Lane L of A, B, C, D: dwords 4m .. 4m + 3 for m = 4L, 4L + 1, 4L + 2, 4L + 3.
    const __m512i A = _mm512_unpacklo_epi64(lo01, lo23), B = _mm512_unpackhi_epi64(lo01, lo23);
    const __m512i C = _mm512_unpacklo_epi64(hi01, hi23), D = _mm512_unpackhi_epi64(hi01, hi23);
    const __m512i ab_lo = _mm512_shuffle_i32x4(A, B, 0x44), ab_hi = _mm512_shuffle_i32x4(A, B, 0xEE);
    const __m512i cd_lo = _mm512_shuffle_i32x4(C, D, 0x44), cd_hi = _mm512_shuffle_i32x4(C, D, 0xEE);
    int8_t* out = q + 256 * b;
    _mm512_storeu_si512(out, _mm512_shuffle_i32x4(ab_lo, cd_lo, 0x88));
    _mm512_storeu_si512(out + 64, _mm512_shuffle_i32x4(ab_lo, cd_lo, 0xDD));
    _mm512_storeu_si512(out + 128, _mm512_shuffle_i32x4(ab_hi, cd_hi, 0x88));
    _mm512_storeu_si512(out + 192, _mm512_shuffle_i32x4(ab_hi, cd_hi, 0xDD));
  }
}

// Element order to the codes' order: register k, dword m = element dword
// 4m + k; dwords 4m + k for m < 8 lie in the first two registers, the rest
// in the last two.
void nibble_codes(const int8_t* q, uint8_t* codes) {
  const __m512i n0 = _mm512_loadu_si512(q), n1 = _mm512_loadu_si512(q + 64);
  const __m512i n2 = _mm512_loadu_si512(q + 128), n3 = _mm512_loadu_si512(q + 192);
  const __m512i k15 = _mm512_set1_epi8(15), m7f = _mm512_set1_epi8(0x7F);
  __m512i c[4];
  for (int k = 0; k < 4; ++k) {
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                         _mm512_set1_epi32(k));
    const __m512i lo = _mm512_permutex2var_epi32(n0, idx, n1), hi = _mm512_permutex2var_epi32(n2, idx, n3);
    const __m512i v = _mm512_mask_blend_epi32(0xFF00, lo, hi);
    // (v + 15) / 2 per byte: the sum is even and in 0..30, so the 16-bit shift leaks no bit that stays.
    c[k] = _mm512_and_si512(_mm512_srli_epi16(_mm512_add_epi8(v, k15), 1), m7f);
  }
  _mm512_storeu_si512(codes, _mm512_or_si512(c[0], _mm512_slli_epi16(c[1], 4)));
  _mm512_storeu_si512(codes + 64, _mm512_or_si512(c[2], _mm512_slli_epi16(c[3], 4)));
}

}  // namespace

bool iq3s_nibble_codes_avx512(const int8_t* q, uint8_t* codes) {
  if (!isa_supported(Isa::kAvx512)) return false;
  nibble_codes(q, codes);
  return true;
}

void add_iq3s_nibble_kernels(DotKernels& k) {
  if (!isa_supported(Isa::kAvx512)) return;
  k.unpack = unpack_iq3s_nib;
  k.vec_dot = vec_dot_iq3s_nib;
  k.vec_dot_rows = iq3s_rows<vec_dot_iq3s_nib>;
  k.vec_dot_layout = act_nibble_layout;
}

}  // namespace nextlm::quant::detail

#include "quant/isa_target_pop.inc"
#else
namespace nextlm::quant::detail {
void add_iq3s_nibble_kernels(DotKernels&) {}
bool iq3s_nibble_codes_avx512(const int8_t*, uint8_t*) { return false; }
}  // namespace nextlm::quant::detail
#endif
