#include "cuda_status.h"

#include <fmt/format.h>

#include "nextlm/error.h"

namespace nextlm::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  // Clear the sticky "last error" so that later, unrelated calls don't report it again.
  cudaGetLastError();
  ErrorCode code = err == cudaErrorMemoryAllocation ? ErrorCode::kOutOfMemory : ErrorCode::kInternal;
  throw Error(code, fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(err), cudaGetErrorString(err),
                                call, file, line));
}

}  // namespace nextlm::cuda
