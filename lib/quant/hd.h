// Helpers for code shared by the CPU and the CUDA backend: NLM_HD marks a
// function for both (plain inline under a host compiler), and the helpers
// below behave identically on both sides, with no host-only library calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define NLM_HD __host__ __device__
#else
#define NLM_HD
#endif
#define NLM_RESTRICT __restrict__

namespace nextlm::quant {

// Bytes from a pointer of any alignment (blocks in files and in device copies
// of them are not aligned): byte loads on the GPU, where a misaligned wide load
// would fault; memcpy on the host, which compiles to one unaligned load.
NLM_HD inline void copy_bytes(void* NLM_RESTRICT dst, const void* NLM_RESTRICT src, size_t n) {
#if defined(__CUDA_ARCH__)
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
#else
  std::memcpy(dst, src, n);
#endif
}

// A little-endian T at p (any alignment).
template <typename T>
NLM_HD inline T load_le(const uint8_t* p) {
  T v;
  copy_bytes(&v, p, sizeof v);
  return v;
}
NLM_HD inline uint16_t load_u16(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
#else
  return load_le<uint16_t>(p);
#endif
}
NLM_HD inline uint32_t load_u32(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
#else
  return load_le<uint32_t>(p);
#endif
}

// The float whose IEEE bits are u (std::bit_cast, usable in device code).
NLM_HD inline float bits_to_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// a * b rounded to float, never fused with a following add into an FMA: nvcc
// contracts a * b + c by default (--fmad=true), g++ in ISO mode does not. Used
// in the "q * d + m" forms so that CPU and GPU round identically by
// construction (there the product happens to be exact anyway).
NLM_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

}  // namespace nextlm::quant
