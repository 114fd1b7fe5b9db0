// f32 -> GGUF block formats for the types the runtime writes itself (KV
// cache: f32, f16, bf16, q8_0, q4_0), following ggml's reference quantizers
// so that a cache we fill holds what llama.cpp's would.
#pragma once

#include <cstdint>
#include <string>

#include "quant/types.h"

namespace nextlm::quant {

// True for the types quantize_row() accepts.
bool can_quantize(Type t);

// A KV-cache type by name ("f32", "f16", "bf16", "q8_0", "q4_0"); throws
// nextlm::Error(kInvalidArgument) for any other.
Type cache_type_from_name(const std::string& name);

// Writes row_bytes(t, n) bytes at dst; n must be a multiple of the block size.
// Throws nextlm::Error(kUnsupported) for other types.
void quantize_row(Type t, const float* src, void* dst, int64_t n);

}  // namespace nextlm::quant
