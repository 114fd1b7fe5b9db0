// BF16 weight rows against activations rounded to bf16 once per token, the
// operands of AVX512-BF16's VDPBF16PS (issue 10).
//
// Canonical order: 16 lanes; for each chunk c of 32 elements, lane l takes
// the product of element 32c + 2l + 1 and then that of element 32c + 2l, each
// as one fused multiply-add rounded to nearest even, with denormal inputs read
// as zero and denormal results flushed to zero: VDPBF16PS's arithmetic. The
// lanes then sum in plain f32 as (s0 + s2) + (s1 + s3), where
// s_i = (l_i + l_i+8) + (l_i+4 + l_i+12). The scalar and AVX2 forms emulate it
// bit for bit, so a row's result is the same on every ISA and path (decode or
// prefill, any batch).
#pragma once

#include <cstdint>

#include "quant/cpu_features.h"

namespace nextlm::quant {

// x (n floats) to bf16, round to nearest even, denormals to signed zero (the
// kernels read them as zero anyway). n need not be a multiple of 32.
void act_to_bf16(const float* x, int64_t n, uint16_t* out);

// sum_i w[i] * x[i] over n elements (the last chunk zero-padded to 32).
using Bf16DotFn = float (*)(const uint16_t* w, const uint16_t* x, int64_t n);

// The form for an ISA the machine supports (AVX-512 means VDPBF16PS where the
// CPU has AVX512-BF16, else the AVX2 form), or null.
Bf16DotFn bf16_dot(Isa isa);
// For the active ISA.
Bf16DotFn bf16_dot();

}  // namespace nextlm::quant
