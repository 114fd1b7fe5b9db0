// Per-format dequantizers behind dequantize_row(). Each takes a pointer to
// nb consecutive blocks (any alignment) and writes nb * block_size floats.
// The float operations follow ggml's reference scalar code in the same order,
// so results are bit-identical. (Most products here are exact in float, since
// f16 scales have 11 significant bits and quants a few; where rounding can
// happen, e.g. q6_K's (d * scale) * q, the order matters. FMA contraction of
// the "x * d - m" forms cannot change results, as x * d is exact.)
#pragma once

#include <cstdint>
#include <cstring>

namespace nextlm::quant::detail {

// Copies block i out of a byte stream: blocks in files are not aligned.
template <typename B>
inline B load_block(const uint8_t* src, int64_t i) {
  B b;
  std::memcpy(&b, src + static_cast<size_t>(i) * sizeof(B), sizeof(B));
  return b;
}

// dequant_legacy.cpp (32-element blocks)
void dequant_q4_0(const uint8_t* src, float* y, int64_t nb);
void dequant_q4_1(const uint8_t* src, float* y, int64_t nb);
void dequant_q5_0(const uint8_t* src, float* y, int64_t nb);
void dequant_q5_1(const uint8_t* src, float* y, int64_t nb);
void dequant_q8_0(const uint8_t* src, float* y, int64_t nb);
void dequant_mxfp4(const uint8_t* src, float* y, int64_t nb);

// dequant_kquants.cpp (256-element super-blocks, plus the ternary formats)
void dequant_q2_k(const uint8_t* src, float* y, int64_t nb);
void dequant_q3_k(const uint8_t* src, float* y, int64_t nb);
void dequant_q4_k(const uint8_t* src, float* y, int64_t nb);
void dequant_q5_k(const uint8_t* src, float* y, int64_t nb);
void dequant_q6_k(const uint8_t* src, float* y, int64_t nb);
void dequant_q8_k(const uint8_t* src, float* y, int64_t nb);
void dequant_tq1_0(const uint8_t* src, float* y, int64_t nb);
void dequant_tq2_0(const uint8_t* src, float* y, int64_t nb);

// dequant_iquants.cpp
void dequant_iq2_xxs(const uint8_t* src, float* y, int64_t nb);
void dequant_iq2_xs(const uint8_t* src, float* y, int64_t nb);
void dequant_iq2_s(const uint8_t* src, float* y, int64_t nb);
void dequant_iq3_xxs(const uint8_t* src, float* y, int64_t nb);
void dequant_iq3_s(const uint8_t* src, float* y, int64_t nb);
void dequant_iq1_s(const uint8_t* src, float* y, int64_t nb);
void dequant_iq1_m(const uint8_t* src, float* y, int64_t nb);
void dequant_iq4_nl(const uint8_t* src, float* y, int64_t nb);
void dequant_iq4_xs(const uint8_t* src, float* y, int64_t nb);

}  // namespace nextlm::quant::detail
