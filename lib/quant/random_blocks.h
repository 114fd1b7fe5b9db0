// Random but valid tensor data of any GGUF type, for synthesized models and
// tests. Deterministic given the generator state.
#pragma once

#include <cstdint>

#include "quant/types.h"
#include "util/rng.h"

namespace nextlm::quant {

// Writes row_bytes(t, n) bytes at dst (any alignment): n elements (a multiple
// of the block size) of random data whose dequantized values lie within about
// [-scale, scale] and reach a good fraction of it, never NaN or Inf.
// f32/f16/bf16/f64 are uniform in [-scale, scale] (integer types: rounded).
// Quantized types get random payload bits and scale fields (d, dmin, sub-block
// scales, e8m0 exponents) chosen for that range; products of random quants and
// random sub-scales make typical values smaller than the maximum. f16 scale
// fields saturate at 65504, so a huge `scale` on a 4-bit type is clipped and a
// tiny one (below ~1e-4 on k-quants) may flush to zero. scale must be > 0.
void fill_random_row(Type t, nextlm::util::Rng& rng, void* dst, int64_t n, float scale);

}  // namespace nextlm::quant
