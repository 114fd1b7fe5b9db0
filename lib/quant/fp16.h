// Bit-exact conversions between f32 and the small float formats of GGUF:
// IEEE half (f16), bfloat16 and MXFP4's E8M0 block exponent. The decoding
// direction (to f32) is NLM_HD: the CUDA backend uses the same code.
#pragma once

#include <bit>
#include <cstdint>

#include "quant/hd.h"

namespace nextlm::quant {

// f16 -> f32 is exact for every input. NaNs keep their payload and come out
// quiet, as with x86 F16C and ggml's portable conversion.
NLM_HD inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: shift the mantissa up until its leading 1 is implicit.
    uint32_t e = 113;  // exponent of 2^-14 in f32 bias, before normalization
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  return bits_to_f32(bits);
}

// f32 -> f16, round to nearest even; overflow gives +-inf, NaN stays NaN.
inline uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  if (ax >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65536: inf
  if (ax < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
    if (ax < 0x33000000u) return sign;  // below half of the smallest subnormal
    const uint32_t e = ax >> 23;
    const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24 for this range
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  // Normal: rebias and round the 13 dropped bits; a carry may bump the exponent
  // (up to inf), which is the correct rounding.
  uint32_t r = ax - 0x38000000u;  // exponent 127 -> 15
  r += 0x0FFFu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

NLM_HD inline float bf16_to_fp32(uint16_t h) {
  return bits_to_f32(static_cast<uint32_t>(h) << 16);
}

// f32 -> bf16 round to nearest even, NaN kept quiet (as ggml does).
inline uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

// MXFP4 block scale: ggml stores the E2M1 codebook doubled (kvalues_fp4), so it
// decodes the E8M0 exponent as 2^(e-128), i.e. half of 2^(e-127). e = 0 and 1
// give the subnormals 2^-128 and 2^-127; e = 255 gives 2^127 (no NaN).
NLM_HD inline float e8m0_to_fp32_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<uint32_t>(e - 1) << 23);
  return bits_to_f32(bits);
}

}  // namespace nextlm::quant
