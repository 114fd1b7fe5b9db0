// Integer dot-product kernels for quantized weight rows (issue 10).
//
// Activations are quantized once per matmul to int8 per 32 elements
// (qx, dx = scale, sx = dx * sum(qx)), as ggml's q8_0/q8_K. A weight row is
// unpacked to int8 codes with per-16 scales and per-32 offsets,
//   w[i] = ws[i / 16] * q[i] - m[i / 32],
// once per row (and reused across the tokens of a batch), then dotted with
// integer multiply-adds. Results match the f32 path to the activation
// quantization error (the `native` tolerance), not bit for bit.
//
// Kernels are compiled per ISA (scalar, AVX2, AVX-512 VNNI) with target
// attributes and chosen at run time by cpu_features.h.
#pragma once

#include <cstdint>

#include "quant/cpu_features.h"
#include "quant/types.h"

namespace nextlm::quant {

// n must be a multiple of 32; writes n int8s to q and n / 32 floats to d, s.
void quantize_act_q8(const float* x, int64_t n, int8_t* q, float* d, float* s);

// Unpacks a row of n elements (n a multiple of the type's block size):
// n int8s to q, n / 16 floats to ws, n / 32 floats to m.
using UnpackFn = void (*)(const uint8_t* row, int64_t n, int8_t* q, float* ws, float* m);
// sum_i w[i] * x[i] with w as above and x[i] ~= dx[i / 32] * qx[i].
using DotFn = float (*)(const int8_t* q, const float* ws, const float* m, const int8_t* qx, const float* dx,
                        const float* sx, int64_t n);

// The same sum straight from a packed row (no unpacked copy): each block is
// decoded in registers and used at once. For one or two tokens (decode),
// where an unpacked row would not be reused.
using VecDotFn = float (*)(const uint8_t* row, const int8_t* qx, const float* dx, const float* sx, int64_t n);
// Four tokens against one unpacked row (prefill): token k's activations at
// qx + k * stride, its scales expanded (each dx repeated 8 times, so that a
// vector load gives a sub-block's scale in every lane: expand_act_scales) at
// dxe + k * stride / 4, its sums at sx + k * stride / 32; results to out[0..4).
using Dot4Fn = void (*)(const int8_t* q, const float* ws, const float* m, const int8_t* qx, const float* dxe,
                        const float* sx, int64_t n, int64_t stride, float* out);
// dxe[8 * j + l] = dx[j] for l < 8, j < n / 32.
void expand_act_scales(const float* dx, int64_t n, float* dxe);

using QuantizeFn = void (*)(const float* x, int64_t n, int8_t* q, float* d, float* s);

struct DotKernels {
  QuantizeFn quantize = nullptr;  // quantize_act_q8 for this ISA (the same bytes on every ISA)
  UnpackFn unpack = nullptr;  // nullptr: no integer kernel for this type
  DotFn dot = nullptr;
  VecDotFn vec_dot = nullptr;
  Dot4Fn dot4 = nullptr;
};

// The kernels of a type for an ISA the machine supports (else empty).
DotKernels dot_kernels(Type t, Isa isa);
// For the active ISA (cached per type); none when NEXTLM_INT_DOT=0.
DotKernels dot_kernels(Type t);

namespace detail {
DotKernels dot_kernels_scalar(Type t);
DotKernels dot_kernels_avx2(Type t);
DotKernels dot_kernels_avx512(Type t);
}  // namespace detail

}  // namespace nextlm::quant
