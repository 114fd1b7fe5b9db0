// Dequantization of GGUF tensor data to f32 on the GPU, bit-identical to the
// CPU's quant::dequantize_row() (both run the decoders of
// lib/quant/block_decode.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "quant/types.h"

namespace nextlm::cuda {

// Dequantizes n_rows rows of n_per_row elements of type t. src_device holds
// the rows back to back (row stride quant::row_bytes(t, n_per_row)) at any
// alignment; dst_device receives n_rows * n_per_row floats, row-major.
// Supports every type that quant::dequantize_row() supports. Asynchronous on
// `stream`; returns the launch status: cudaErrorInvalidValue for unsupported
// types, negative sizes, n_per_row not a multiple of the block size, or null
// pointers with a non-empty range; cudaSuccess without launching for 0 rows or
// 0 elements. Never throws.
cudaError_t dequantize_rows(quant::Type t, const void* src_device, float* dst_device, int64_t n_per_row, int64_t n_rows,
                            cudaStream_t stream);

}  // namespace nextlm::cuda
