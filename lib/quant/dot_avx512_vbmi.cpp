// AVX-512 VBMI + BITALG decode kernel for IQ3_S (see dot.h): compiled by
// target pragma in a file of its own, so that nothing else is built for VBMI,
// and only installed where cpu_features() reports it (dot.cpp).
//
// The gather-based body spends most of its time in 8 gathers per block. Here
// the 64 grid lookups of a block are byte permutes over two 512-entry planes
// held in registers: plane 0 holds grid bytes 0 and 1 of each entry (one per
// nibble; grid bytes are odd numbers below 16), plane 1 bytes 2 and 3. The
// four nibble planes W_k (byte e = grid byte k of entry e, element 4e + k)
// meet the activations in a matching order (act_planes4), so no byte is moved
// after the lookup; the signs pick the activations to negate with a bit
// shuffle. The integer unit sums are exact and the float steps are
// vec_dot_iq3_s's, so results are bit-identical to every other path.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "quant/blocks.h"
#include "quant/dot.h"
#include "quant/prefetch.h"
#include "quant/tables.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NLM_ISA_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx512bitalg"
#include "quant/isa_target_push.inc"

namespace nextlm::quant::detail {
namespace {

#include "quant/iq3s_avx512.inc"

// planes[p][e]: grid bytes 2p (low nibble) and 2p + 1 (high nibble) of entry e.
alignas(64) uint8_t g_planes[2][512];
// g_sign_ctl[k][e]: the bit of a sign qword that belongs to element 4e + k.
alignas(64) uint8_t g_sign_ctl[4][64];

void init_tables() {
  for (int e = 0; e < 512; ++e) {
    uint8_t b[4];
    std::memcpy(b, &iq3s_grid[e], 4);
    g_planes[0][e] = static_cast<uint8_t>(b[0] | (b[1] << 4));
    g_planes[1][e] = static_cast<uint8_t>(b[2] | (b[3] << 4));
  }
  for (int k = 0; k < 4; ++k)
    for (int e = 0; e < 64; ++e) g_sign_ctl[k][e] = static_cast<uint8_t>((4 * e + k) & 63);
}

// Each 256-block as four planes of 64: out[64k + e] = qx[4e + k].
void act_planes4(const int8_t* qx, const float*, int64_t n, int8_t* out) {
  for (int64_t b = 0; b < n; b += 256)
    for (int k = 0; k < 4; ++k)
      for (int e = 0; e < 64; ++e) out[b + 64 * k + e] = qx[b + 4 * e + k];
}

inline __m512i plane(int p, int t) { return _mm512_load_si512(g_planes[p] + 64 * t); }

float vec_dot_iq3_s_vbmi(const uint8_t* row, const int8_t* qa, const float* dx, const float*, int64_t n) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i sign_qwords = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
  __m256 acc = _mm256_setzero_ps();  // lane u % 8 (dot.h)
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* blk = row + b * sizeof(BlockIQ3_S);
    prefetch_ahead<sizeof(BlockIQ3_S)>(blk);
    const __m256 scale8 = iq3s_scale8(blk + offsetof(BlockIQ3_S, scales), blk + offsetof(BlockIQ3_S, d), dx + 8 * b);
    // Entry e's index: qs[e] plus bit e of the qh qword as bit 8. A permute
    // covers 128 entries (7 index bits); bits 7 and 8 pick among four.
    const __m512i idx = _mm512_loadu_si512(blk + offsetof(BlockIQ3_S, qs));
    const __mmask64 bit7 = _mm512_movepi8_mask(idx);
    uint64_t qh;
    std::memcpy(&qh, blk + offsetof(BlockIQ3_S, qh), 8);
    const __mmask64 bit8 = _cvtu64_mask64(qh);
    __m512i pl[2];
    for (int p = 0; p < 2; ++p) {
      const __m512i r0 = _mm512_permutex2var_epi8(plane(p, 0), idx, plane(p, 1));
      const __m512i r1 = _mm512_permutex2var_epi8(plane(p, 2), idx, plane(p, 3));
      const __m512i r2 = _mm512_permutex2var_epi8(plane(p, 4), idx, plane(p, 5));
      const __m512i r3 = _mm512_permutex2var_epi8(plane(p, 6), idx, plane(p, 7));
      pl[p] = _mm512_mask_blend_epi8(bit8, _mm512_mask_blend_epi8(bit7, r0, r1), _mm512_mask_blend_epi8(bit7, r2, r3));
    }
    const __m512i w[4] = {_mm512_and_si512(pl[0], m4), _mm512_and_si512(_mm512_srli_epi16(pl[0], 4), m4),
                          _mm512_and_si512(pl[1], m4), _mm512_and_si512(_mm512_srli_epi16(pl[1], 4), m4)};
    // Sign bit i of the block is element i's; qword e / 8 of `sg` holds those of entry e.
    const __m512i sg = _mm512_permutexvar_epi64(
        sign_qwords, _mm512_castsi256_si512(_mm256_loadu_si256(
                         reinterpret_cast<const __m256i*>(blk + offsetof(BlockIQ3_S, signs)))));
    // Dword m of s: elements 16m .. 16m + 15, exactly.
    __m512i s = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      const __mmask64 neg = _mm512_bitshuffle_epi64_mask(sg, _mm512_load_si512(g_sign_ctl[k]));
      const __m512i a = _mm512_loadu_si512(qa + 256 * b + 64 * k);
      s = _mm512_dpbusd_epi32(s, w[k], _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a));
    }
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iq3s_units(s)), scale8, acc);
  }
  return iq3s_sum8(acc);
}

}  // namespace

void add_vbmi_kernels(Type t, DotKernels& k) {
  if (t != Type::IQ3_S || k.vec_dot == nullptr) return;
  static std::once_flag once;
  std::call_once(once, init_tables);
  k.vec_dot = vec_dot_iq3_s_vbmi;
  k.vec_dot_rows = iq3s_rows<vec_dot_iq3_s_vbmi>;
  k.vec_dot_layout = act_planes4;
}

}  // namespace nextlm::quant::detail

#include "quant/isa_target_pop.inc"
#else
namespace nextlm::quant::detail {
void add_vbmi_kernels(Type, DotKernels&) {}
}  // namespace nextlm::quant::detail
#endif
