// Per-format dequantizers behind dequantize_row(). Each takes a pointer to
// nb consecutive blocks (any alignment) and writes nb * block_size floats.
// The math is in block_decode.h, shared with the CUDA backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nextlm::quant::detail {

// Runs a block_decode.h decoder over nb consecutive blocks of kBlockBytes bytes
// and kElems elements (a multiple of the 32-element sub-block). Each block is
// copied to a local buffer first: then the compiler knows that the float
// stores cannot change the block bytes (which it must assume of a uint8_t
// pointer into the source), and keeps them in registers.
template <size_t kBlockBytes, int kElems, void (*Decode)(const uint8_t*, int, float*)>
inline void decode_blocks(const uint8_t* src, float* y, int64_t nb) {
  static_assert(kElems % 32 == 0);
  for (int64_t i = 0; i < nb; ++i, src += kBlockBytes) {
    alignas(8) uint8_t blk[kBlockBytes];
    std::memcpy(blk, src, kBlockBytes);
    for (int s = 0; s < kElems / 32; ++s, y += 32) Decode(blk, s, y);
  }
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
