#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "nextlm/error.h"
#include "quant/blocks.h"
#include "quant/fp16.h"

namespace nextlm::quant {

namespace {

void quantize_q8_0(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    std::memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

// The scale maps the element of largest magnitude to -8 (keeping its sign), as
// ggml's reference does; codes are offset by 8 and clamped to 15.
void quantize_q4_0(const float* x, uint8_t* dst, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += QK4_0) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 b;
    b.d = fp32_to_fp16(d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const float x0 = x[j] * id, x1 = x[QK4_0 / 2 + j] * id;
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
      const int xi1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    std::memcpy(dst + i * sizeof b, &b, sizeof b);
  }
}

}  // namespace

bool can_quantize(Type t) {
  return t == Type::F32 || t == Type::F16 || t == Type::BF16 || t == Type::Q8_0 || t == Type::Q4_0;
}

Type cache_type_from_name(const std::string& name) {
  auto t = type_from_name(name);
  if (!t || !can_quantize(*t)) {
    throw Error(ErrorCode::kInvalidArgument, "cache type '" + name + "' is not one of f32, f16, bf16, q8_0, q4_0");
  }
  return *t;
}

void quantize_row(Type t, const float* src, void* dst, int64_t n) {
  const TypeInfo& ti = type_info(t);
  if (!can_quantize(t)) {
    throw Error(ErrorCode::kUnsupported, std::string("quantize_row: writing ") + ti.name + " is not supported");
  }
  if (n % ti.block_size != 0) {
    throw Error(ErrorCode::kInvalidArgument, std::string("quantize_row: row length not a multiple of the ") +
                                                 ti.name + " block size");
  }
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case Type::F32: std::memcpy(out, src, static_cast<size_t>(n) * 4); return;
    case Type::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case Type::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case Type::Q8_0: quantize_q8_0(src, out, n / QK8_0); return;
    case Type::Q4_0: quantize_q4_0(src, out, n / QK4_0); return;
    default: return;
  }
}

}  // namespace nextlm::quant
