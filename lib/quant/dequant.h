// Dequantization of one row of any supported GGUF type to f32, bit-exact
// with ggml's reference (scalar) implementation.
#pragma once

#include <cstdint>

#include "quant/types.h"

namespace nextlm::quant {

// src holds n / block_size blocks; n must be a multiple of the block size.
// Throws nextlm::Error(kUnsupported) for types without a dequantizer.
void dequantize_row(Type t, const void* src, float* dst, int64_t n);

}  // namespace nextlm::quant
