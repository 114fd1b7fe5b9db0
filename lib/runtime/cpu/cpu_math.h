// Element-wise math of the CPU ops: an exp that vectorizes, and the
// activation loops built on it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace nextlm::runtime::cpu {

// A 16-float vector for the f32 loops (GCC vector extension; each ISA clone
// lowers it to its widest registers). Loads and stores by memcpy: no alignment needed.
typedef float V16 __attribute__((vector_size(64)));
// (By reference: a 64-byte vector passed by value changes the ABI on baseline x86-64.)
inline void load16(V16& v, const float* p) {
  std::memcpy(&v, p, sizeof v);
}
inline void store16(float* p, const V16& v) {
  std::memcpy(p, &v, sizeof v);
}

// sum_i a[i] b[i]: two 16-lane sums (one chain of dependent multiply-adds
// left long rows waiting on its latency), then a tree over the lanes (a chain
// of 16 adds per call was a quarter of attention's time). cpu::dot is its
// out-of-line form.
inline float dot_f32(const float* a, const float* b, int64_t n) {
  typedef float V8 __attribute__((vector_size(32)));
  V16 s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    V16 x0, y0, x1, y1;
    load16(x0, a + i), load16(y0, b + i), load16(x1, a + i + 16), load16(y1, b + i + 16);
    s0 += x0 * y0;
    s1 += x1 * y1;
  }
  for (; i + 16 <= n; i += 16) {
    V16 x0, y0;
    load16(x0, a + i), load16(y0, b + i);
    s0 += x0 * y0;
  }
  const V16 t = s0 + s1;
  V8 h0, h1;
  std::memcpy(&h0, &t, sizeof h0);
  std::memcpy(&h1, reinterpret_cast<const char*>(&t) + sizeof h0, sizeof h1);
  const V8 u = h0 + h1;
  float r = ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// e^x within 2 ulp (tests `[math]`), subnormal results, 0 and inf included,
// NaN kept. Straight-line float code, so a loop of it vectorizes where glibc's
// expf is a call per element (3% of prefill). Every multiply-add is an
// explicit fma: a vector lane and the scalar tail give the same bits. Fast
// inside NLM_CPU_CLONES functions (their fma is an instruction); elsewhere on
// x86-64 std::fma may be a library call.
inline float fast_exp(float x) {
  // Past these bounds the result is 0 or inf anyway (e^-104 < half the
  // smallest subnormal, e^88.8 > FLT_MAX); comparisons keep a NaN as it is.
  x = x < -104.0f ? -104.0f : x;
  x = x > 88.8f ? 88.8f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 shifter: n sits in t's low mantissa bits.
  const float shifter = 12582912.0f;
  const float t = std::fma(x, 1.44269504088896341f, shifter);
  const float n = t - shifter;
  uint32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const uint32_t ni = tb - 0x4B400000u;  // n as a two's complement int
  // r = x - n ln 2 in two steps (Cody and Waite), |r| <= ln 2 / 2.
  float r = std::fma(n, -0.693359375f, x);
  r = std::fma(n, 2.12194440e-4f, r);
  // e^r = 1 + r + r^2 P(r), P of degree 5 (minimax coefficients).
  float p = std::fma(1.9875691500e-4f, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  const float y = std::fma(p, r * r, r) + 1.0f;
  // 2^n as two normal powers, 2^(n/2) 2^(n - n/2), so that n down to -150
  // (subnormal results) and up to 128 (overflow to inf) scale correctly.
  const uint32_t n1 = static_cast<uint32_t>(static_cast<int32_t>(ni) >> 1), n2 = ni - n1;
  const uint32_t b1 = (n1 + 127u) << 23, b2 = (n2 + 127u) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  return y * s1 * s2;
}

inline float fast_silu(float x) {
  return x / (1.0f + fast_exp(-x));
}
inline float fast_sigmoid(float x) {
  return 1.0f / (1.0f + fast_exp(-x));
}

// f16 to f32 without branches (select and add only), so that a row's loop
// vectorizes; exact for every input, NaNs made quiet (as fp16_to_fp32).
inline float half_to_float(uint16_t h) {
  const uint32_t em = static_cast<uint32_t>(h & 0x7FFFu) << 13;  // exponent and mantissa in f32 place
  const uint32_t e = em & 0x0F800000u;
  uint32_t bits = em + ((127u - 15u) << 23);
  bits = e == 0x0F800000u ? (bits + ((128u - 16u) << 23)) | (em & 0x7FE000u ? 0x00400000u : 0u) : bits;
  // Subnormal halves: m * 2^-24 as a float difference, exact.
  float sub;
  const uint32_t sb = em + (1u << 23) + ((127u - 15u) << 23);
  std::memcpy(&sub, &sb, sizeof sub);
  sub -= 6.103515625e-05f;  // 2^-14
  float f;
  std::memcpy(&f, &bits, sizeof f);
  f = e == 0 ? sub : f;
  uint32_t out;
  std::memcpy(&out, &f, sizeof out);
  out |= static_cast<uint32_t>(h & 0x8000u) << 16;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

// Activation loops (built per ISA like the other f32 loops). out may alias an input.
void silu_mul(const float* g, const float* u, int64_t n, float* out);      // out = silu(g) * u
void mul_silu(const float* z, int64_t n, float* y);                        // y *= silu(z)
void mul_sigmoid(const float* x, const float* gate, int64_t n, float* y);  // y = x * sigmoid(gate)
void silu_inplace(float* y, int64_t n);

}  // namespace nextlm::runtime::cpu
