// fill_random_row(): random payload bytes for the whole row first (fast,
// every bit pattern of the quant fields is valid), then each block's scale
// fields are overwritten with values that bound the dequantized magnitude.
#include "quant/random_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "nextlm/error.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

namespace nextlm::quant {
namespace {

using util::Rng;

// A positive f16 scale in [dmax / 2, dmax], clamped to the finite f16 range.
half_t rand_half(Rng& rng, float dmax) {
  const float v = std::min(dmax * rng.uniform(0.5f, 1.0f), 65504.0f);
  return fp32_to_fp16(v);
}

// Applies fix(block) to each of the nb blocks at dst (copied in and out, as
// the destination may be unaligned).
template <typename B, typename F>
void patch_blocks(uint8_t* dst, int64_t nb, F&& fix) {
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t* p = dst + static_cast<size_t>(i) * sizeof(B);
    B b;
    std::memcpy(&b, p, sizeof b);
    fix(b);
    std::memcpy(p, &b, sizeof b);
  }
}

// Blocks whose only non-integer field is one f16 `d`: values = d * k with
// |k| <= kmax, so d <= scale / kmax.
template <typename B>
void patch_d(Rng& rng, uint8_t* dst, int64_t nb, float scale, float kmax) {
  patch_blocks<B>(dst, nb, [&](B& b) { b.d = rand_half(rng, scale / kmax); });
}

// Legacy _1 blocks: values q * d + m with q in [0, qmax]; m = -d * qmax / 2
// centres them on zero.
template <typename B>
void patch_d_min(Rng& rng, uint8_t* dst, int64_t nb, float scale, float qmax) {
  patch_blocks<B>(dst, nb, [&](B& b) {
    b.d = rand_half(rng, 2.0f * scale / qmax);
    b.m = fp32_to_fp16(-fp16_to_fp32(b.d) * qmax * 0.5f);
  });
}

// k-quant blocks: values d * sc * q - dmin * m with sc, m in [0, smax] and q
// in [0, qmax]. d bounds the positive side by scale; dmin = d * qmax / 2 makes
// the mean zero (so the negative side reaches about scale / 2).
template <typename B>
void patch_k_min(Rng& rng, uint8_t* dst, int64_t nb, float scale, float smax, float qmax) {
  patch_blocks<B>(dst, nb, [&](B& b) {
    b.d = rand_half(rng, scale / (smax * qmax));
    b.dmin = fp32_to_fp16(fp16_to_fp32(b.d) * qmax * 0.5f);
  });
}

template <typename T>
void fill_ints(Rng& rng, uint8_t* dst, int64_t n, float scale) {
  const double lo = static_cast<double>(std::numeric_limits<T>::min());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::clamp(std::nearbyint(static_cast<double>(scale) * rng.uniform(-1.0f, 1.0f)), lo, hi);
    const T x = static_cast<T>(v);
    std::memcpy(dst + static_cast<size_t>(i) * sizeof(T), &x, sizeof(T));
  }
}

template <typename T, typename Conv>
void fill_floats(Rng& rng, uint8_t* dst, int64_t n, float scale, Conv conv) {
  for (int64_t i = 0; i < n; ++i) {
    const T x = conv(scale * rng.uniform(-1.0f, 1.0f));  // no overflow even near FLT_MAX
    std::memcpy(dst + static_cast<size_t>(i) * sizeof(T), &x, sizeof(T));
  }
}

// MXFP4: |value| <= 12 * 2^(e-128); pick e so that bound is about scale.
uint8_t mxfp4_exponent(Rng& rng, float scale) {
  const int e = 128 + std::ilogb(scale / 12.0f) - static_cast<int>(rng.below(2));
  return static_cast<uint8_t>(std::clamp(e, 0, 252));  // 252: 12 * 2^124 stays finite
}

}  // namespace

void fill_random_row(Type t, Rng& rng, void* dst, int64_t n, float scale) {
  const TypeInfo& ti = type_info(t);
  if (n < 0 || n % ti.block_size != 0)
    throw Error(ErrorCode::kInvalidArgument,
                "fill_random_row: " + std::to_string(n) + " elements is not a whole number of " + ti.name + " blocks");
  if (!(scale > 0.0f) || !std::isfinite(scale))
    throw Error(ErrorCode::kInvalidArgument, "fill_random_row: scale must be positive and finite");
  auto* p = static_cast<uint8_t*>(dst);
  const int64_t nb = n / ti.block_size;

  switch (t) {
    case Type::F32:
      fill_floats<float>(rng, p, n, scale, [](float v) { return v; });
      return;
    case Type::F64:
      fill_floats<double>(rng, p, n, scale, [](float v) { return double{v}; });
      return;
    case Type::F16:
      fill_floats<uint16_t>(rng, p, n, scale, [](float v) { return fp32_to_fp16(std::clamp(v, -65504.0f, 65504.0f)); });
      return;
    case Type::BF16:
      fill_floats<uint16_t>(rng, p, n, scale, [](float v) {
        const uint16_t h = fp32_to_bf16(v);  // may round up to inf near FLT_MAX: step back
        return (h & 0x7FFF) == 0x7F80 ? static_cast<uint16_t>(h - 1) : h;
      });
      return;
    case Type::I8:
      fill_ints<int8_t>(rng, p, n, scale);
      return;
    case Type::I16:
      fill_ints<int16_t>(rng, p, n, scale);
      return;
    case Type::I32:
      fill_ints<int32_t>(rng, p, n, scale);
      return;
    case Type::I64:
      fill_ints<int64_t>(rng, p, n, scale);
      return;
    default:
      break;
  }

  rng.fill_bytes(p, row_bytes(t, n));
  // clang-format off
  switch (t) {
    case Type::Q4_0: patch_d<BlockQ4_0>(rng, p, nb, scale, 8); return;
    case Type::Q5_0: patch_d<BlockQ5_0>(rng, p, nb, scale, 16); return;
    case Type::Q8_0: patch_d<BlockQ8_0>(rng, p, nb, scale, 128); return;
    case Type::IQ4_NL: patch_d<BlockIQ4_NL>(rng, p, nb, scale, 127); return;
    case Type::Q4_1: patch_d_min<BlockQ4_1>(rng, p, nb, scale, 15); return;
    case Type::Q5_1: patch_d_min<BlockQ5_1>(rng, p, nb, scale, 31); return;
    case Type::Q8_1:
      patch_blocks<BlockQ8_1>(p, nb, [&](BlockQ8_1& b) {
        b.d = rand_half(rng, scale / 128);
        int sum = 0;
        for (int8_t q : b.qs) sum += q;
        b.s = fp32_to_fp16(fp16_to_fp32(b.d) * static_cast<float>(sum));
      });
      return;
    case Type::MXFP4:
      patch_blocks<BlockMXFP4>(p, nb, [&](BlockMXFP4& b) { b.e = mxfp4_exponent(rng, scale); });
      return;
    // k-quants: sub-scale and quant ranges.
    case Type::Q2_K: patch_k_min<BlockQ2_K>(rng, p, nb, scale, 15, 3); return;
    case Type::Q4_K: patch_k_min<BlockQ4_K>(rng, p, nb, scale, 63, 15); return;
    case Type::Q5_K: patch_k_min<BlockQ5_K>(rng, p, nb, scale, 63, 31); return;
    case Type::Q3_K: patch_d<BlockQ3_K>(rng, p, nb, scale, 32 * 4); return;
    case Type::Q6_K: patch_d<BlockQ6_K>(rng, p, nb, scale, 128 * 32); return;
    case Type::Q8_K:
      patch_blocks<BlockQ8_K>(p, nb, [&](BlockQ8_K& b) {
        b.d = scale / 128 * rng.uniform(0.5f, 1.0f);
        for (int j = 0; j < QK_K / 16; ++j) {  // keep the block self-consistent
          int sum = 0;
          for (int k = 0; k < 16; ++k) sum += b.qs[16 * j + k];
          b.bsums[j] = static_cast<int16_t>(sum);
        }
      });
      return;
    case Type::TQ1_0: patch_d<BlockTQ1_0>(rng, p, nb, scale, 1); return;
    case Type::TQ2_0:
      // Codes are 0..2 (value q - 1); the quantizer never writes 3, so turn a
      // 3 into 1, which also makes -1, 0, 1 come out 1/4, 1/2, 1/4.
      patch_blocks<BlockTQ2_0>(p, nb, [&](BlockTQ2_0& b) {
        b.d = rand_half(rng, scale);
        for (uint8_t& q : b.qs) {
          const uint8_t threes = static_cast<uint8_t>(q & (q >> 1) & 0x55);  // low bit of each 3
          q = static_cast<uint8_t>(q & ~(threes << 1));                       // 3 -> 1
        }
      });
      return;
    // i-quants: max sub-scale factor times the largest grid magnitude.
    case Type::IQ2_XXS: patch_d<BlockIQ2_XXS>(rng, p, nb, scale, 3.875f * 43); return;
    case Type::IQ2_XS: patch_d<BlockIQ2_XS>(rng, p, nb, scale, 3.875f * 43); return;
    case Type::IQ2_S: patch_d<BlockIQ2_S>(rng, p, nb, scale, 3.875f * 43); return;
    case Type::IQ3_XXS: patch_d<BlockIQ3_XXS>(rng, p, nb, scale, 7.75f * 62); return;
    case Type::IQ3_S: patch_d<BlockIQ3_S>(rng, p, nb, scale, 31 * 15); return;
    case Type::IQ1_S: patch_d<BlockIQ1_S>(rng, p, nb, scale, 15 * 1.125f); return;
    case Type::IQ4_XS: patch_d<BlockIQ4_XS>(rng, p, nb, scale, 32 * 127); return;
    case Type::IQ1_M:
      // The f16 scale lives in the top nibble of each of the 4 scale words.
      patch_blocks<BlockIQ1_M>(p, nb, [&](BlockIQ1_M& b) {
        const uint16_t d = rand_half(rng, scale / (15 * 1.125f));
        uint16_t sc[4];
        std::memcpy(sc, b.scales, sizeof sc);
        for (int k = 0; k < 4; ++k)
          sc[k] = static_cast<uint16_t>((sc[k] & 0x0FFF) | (((d >> (4 * k)) & 0xF) << 12));
        std::memcpy(b.scales, sc, sizeof sc);
      });
      return;
    default: break;
  }
  // clang-format on
  throw Error(ErrorCode::kUnsupported, std::string("fill_random_row: unsupported type ") + ti.name);
}

}  // namespace nextlm::quant
