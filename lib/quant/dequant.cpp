// dequantize_row(): validates the arguments and dispatches to the per-format
// dequantizers. Plain element types (floats and integers) are converted here.
#include "quant/dequant.h"

#include <cstring>
#include <string>

#include "nextlm/error.h"
#include "quant/block_decode.h"
#include "quant/dequant_impl.h"

namespace nextlm::quant {
namespace {

// Element-wise conversion with a block_decode.h element decoder (unaligned
// little-endian reads; integers and f64 round to nearest float).
template <size_t kBytes, float (*Decode)(const uint8_t*)>
void convert(const uint8_t* src, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Decode(src + static_cast<size_t>(i) * kBytes);
}

}  // namespace

void dequantize_row(Type t, const void* src, float* dst, int64_t n) {
  const TypeInfo& ti = type_info(t);
  if (n < 0 || n % ti.block_size != 0)
    throw Error(ErrorCode::kInvalidArgument, "dequantize_row: " + std::to_string(n) +
                                                 " elements is not a whole number of " + ti.name + " blocks of " +
                                                 std::to_string(ti.block_size));
  if (n == 0) return;
  const auto* s = static_cast<const uint8_t*>(src);
  const int64_t nb = n / ti.block_size;
  using namespace detail;
  // clang-format off
  switch (t) {
    case Type::F32: std::memcpy(dst, s, static_cast<size_t>(n) * sizeof(float)); return;
    case Type::F16: convert<2, decode_f16>(s, dst, n); return;
    case Type::BF16: convert<2, decode_bf16>(s, dst, n); return;
    case Type::F64: convert<8, decode_plain<double>>(s, dst, n); return;
    case Type::I8: convert<1, decode_plain<int8_t>>(s, dst, n); return;
    case Type::I16: convert<2, decode_plain<int16_t>>(s, dst, n); return;
    case Type::I32: convert<4, decode_plain<int32_t>>(s, dst, n); return;
    case Type::I64: convert<8, decode_plain<int64_t>>(s, dst, n); return;
    case Type::Q4_0: dequant_q4_0(s, dst, nb); return;
    case Type::Q4_1: dequant_q4_1(s, dst, nb); return;
    case Type::Q5_0: dequant_q5_0(s, dst, nb); return;
    case Type::Q5_1: dequant_q5_1(s, dst, nb); return;
    case Type::Q8_0: dequant_q8_0(s, dst, nb); return;
    case Type::MXFP4: dequant_mxfp4(s, dst, nb); return;
    case Type::Q2_K: dequant_q2_k(s, dst, nb); return;
    case Type::Q3_K: dequant_q3_k(s, dst, nb); return;
    case Type::Q4_K: dequant_q4_k(s, dst, nb); return;
    case Type::Q5_K: dequant_q5_k(s, dst, nb); return;
    case Type::Q6_K: dequant_q6_k(s, dst, nb); return;
    case Type::Q8_K: dequant_q8_k(s, dst, nb); return;
    case Type::TQ1_0: dequant_tq1_0(s, dst, nb); return;
    case Type::TQ2_0: dequant_tq2_0(s, dst, nb); return;
    case Type::IQ2_XXS: dequant_iq2_xxs(s, dst, nb); return;
    case Type::IQ2_XS: dequant_iq2_xs(s, dst, nb); return;
    case Type::IQ2_S: dequant_iq2_s(s, dst, nb); return;
    case Type::IQ3_XXS: dequant_iq3_xxs(s, dst, nb); return;
    case Type::IQ3_S: dequant_iq3_s(s, dst, nb); return;
    case Type::IQ1_S: dequant_iq1_s(s, dst, nb); return;
    case Type::IQ1_M: dequant_iq1_m(s, dst, nb); return;
    case Type::IQ4_NL: dequant_iq4_nl(s, dst, nb); return;
    case Type::IQ4_XS: dequant_iq4_xs(s, dst, nb); return;
    case Type::Q8_1: break;
  }
  // clang-format on
  throw Error(ErrorCode::kUnsupported, std::string("dequantize_row: no dequantizer for type ") + ti.name);
}

}  // namespace nextlm::quant
