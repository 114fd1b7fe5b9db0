// Device memory read bandwidth: the denominator of `nextlm bench`'s roofline
// (decode reads every active weight once per token, so tokens/s can be no
// more than bandwidth / bytes per token). The measuring host function is in
// backend_factory.h (plain C++); this header has the kernel for tests.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace nextlm::cuda {

// Adds every 32-bit word of `bytes` bytes at `data` into *sum (mod 2^64),
// with 16-byte loads, so that no load can be optimised away and the caller
// can check that each byte was read. *sum must be zeroed by the caller; data
// 16-byte aligned and bytes a multiple of 16 (else cudaErrorInvalidValue).
// `blocks` thread blocks of 256 threads stride over the buffer. Asynchronous
// on `stream`; returns the launch status. Never throws.
cudaError_t read_sum_u32(const void* data, size_t bytes, unsigned long long* sum, int blocks, cudaStream_t stream);

}  // namespace nextlm::cuda
