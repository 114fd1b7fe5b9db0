// CUDA errors become nextlm errors with the failing call and location; the
// backend never aborts the process. Kernels launched by this backend return
// cudaError_t (flashinfer style); host wrappers turn that into exceptions
// that the C ABI later maps to status codes.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace nextlm::cuda {

// Throws nextlm::Error (kOutOfMemory for allocation failures, else kInternal).
void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

inline void check(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}

}  // namespace nextlm::cuda

#define NLM_CUDA_CHECK(call) ::nextlm::cuda::check((call), #call, __FILE__, __LINE__)
