// BF16 dot kernels (dot_bf16.h): VDPBF16PS where the CPU has it, and exact
// emulations of its arithmetic for AVX2 and for any CPU.
#include "quant/dot_bf16.h"

#include <cmath>
#include <cstring>

#include "quant/fp16.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NLM_BF16_X86 1
#endif

namespace nextlm::quant {

namespace {

constexpr float kMinNormal = 0x1p-126f;

// Denormal bf16 (exponent bits zero) as signed zero.
inline uint16_t bf16_daz(uint16_t h) { return (h & 0x7F80u) == 0 ? static_cast<uint16_t>(h & 0x8000u) : h; }

inline float ftz(float v) { return std::fabs(v) < kMinNormal ? std::copysign(0.0f, v) : v; }

// The fixed lane tree of dot_bf16.h.
inline float lane_sum(const float* a) {
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = a[i] + a[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// The last n % 32 elements, zero-padded to a whole chunk (the padding's
// products are still added: +0 turns a -0 lane into +0, as in the hardware).
struct Tail {
  alignas(64) uint16_t w[32] = {}, x[32] = {};
  Tail(const uint16_t* wr, const uint16_t* xr, int64_t n) {
    const int64_t full = n / 32 * 32;
    std::memcpy(w, wr + full, static_cast<size_t>(n - full) * 2);
    std::memcpy(x, xr + full, static_cast<size_t>(n - full) * 2);
  }
};

float dot_scalar(const uint16_t* w, const uint16_t* x, int64_t n) {
  float acc[16] = {};
  auto chunk = [&](const uint16_t* wc, const uint16_t* xc) {
    for (int l = 0; l < 16; ++l) {
      for (int e : {1, 0}) {
        const int i = 2 * l + e;
        acc[l] = ftz(std::fma(bf16_to_fp32(bf16_daz(wc[i])), bf16_to_fp32(bf16_daz(xc[i])), acc[l]));
      }
    }
  };
  for (int64_t c = 0; c + 32 <= n; c += 32) chunk(w + c, x + c);
  if (n % 32 != 0) {
    const Tail t(w, x, n);
    chunk(t.w, t.x);
  }
  return lane_sum(acc);
}

#if NLM_BF16_X86
#define NLM_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define NLM_TARGET_BF16 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512bf16")))

// 8 lanes: the odd (high half) or even (low half) bf16 of each dword as f32,
// denormals as zero.
NLM_TARGET_AVX2 inline __m256 odd_f32(__m256i v) {
  const __m256i f = _mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u)));
  const __m256i tiny = _mm256_cmpeq_epi32(_mm256_and_si256(f, _mm256_set1_epi32(0x7F800000)), _mm256_setzero_si256());
  return _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_andnot_si256(_mm256_set1_epi32(INT32_MIN), tiny), f));
}
NLM_TARGET_AVX2 inline __m256 even_f32(__m256i v) { return odd_f32(_mm256_slli_epi32(v, 16)); }

NLM_TARGET_AVX2 inline __m256 ftz8(__m256 v) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 tiny = _mm256_cmp_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(kMinNormal), _CMP_LT_OQ);
  return _mm256_blendv_ps(v, _mm256_and_ps(v, sign), tiny);
}

NLM_TARGET_AVX2 float dot_avx2(const uint16_t* w, const uint16_t* x, int64_t n) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // lanes 0-7, 8-15
  auto chunk = [&](const uint16_t* wc, const uint16_t* xc) NLM_TARGET_AVX2 {
    for (int h = 0; h < 2; ++h) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wc + 16 * h));
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xc + 16 * h));
      acc[h] = ftz8(_mm256_fmadd_ps(odd_f32(wv), odd_f32(xv), acc[h]));
      acc[h] = ftz8(_mm256_fmadd_ps(even_f32(wv), even_f32(xv), acc[h]));
    }
  };
  for (int64_t c = 0; c + 32 <= n; c += 32) chunk(w + c, x + c);
  if (n % 32 != 0) {
    const Tail t(w, x, n);
    chunk(t.w, t.x);
  }
  alignas(32) float a[16];
  _mm256_store_ps(a, acc[0]);
  _mm256_store_ps(a + 8, acc[1]);
  return lane_sum(a);
}

NLM_TARGET_BF16 float dot_avx512bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  auto chunk = [&](const uint16_t* wc, const uint16_t* xc) NLM_TARGET_BF16 {
    const __m512i wv = _mm512_loadu_si512(wc), xv = _mm512_loadu_si512(xc);
    acc = _mm512_dpbf16_ps(acc, reinterpret_cast<const __m512bh&>(wv), reinterpret_cast<const __m512bh&>(xv));
  };
  for (int64_t c = 0; c + 32 <= n; c += 32) chunk(w + c, x + c);
  if (n % 32 != 0) {
    const Tail t(w, x, n);
    chunk(t.w, t.x);
  }
  alignas(64) float a[16];
  _mm512_store_ps(a, acc);
  return lane_sum(a);
}
#endif

}  // namespace

void act_to_bf16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_daz(fp32_to_bf16(x[i]));
}

Bf16DotFn bf16_dot(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
#if NLM_BF16_X86
  if (isa == Isa::kAvx512 && cpu_features().avx512bf16) return dot_avx512bf16;
  if (isa != Isa::kScalar) return dot_avx2;
#endif
  return dot_scalar;
}

Bf16DotFn bf16_dot() {
  static const Bf16DotFn fn = bf16_dot(active_isa());
  return fn;
}

}  // namespace nextlm::quant
