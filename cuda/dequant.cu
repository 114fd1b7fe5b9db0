// GPU dequantization: one thread per 32-element sub-block (block formats) or
// per element (plain types), running the decoders of lib/quant/block_decode.h,
// the same code as the CPU. Kernels read the source bytes one at a time, so
// unaligned rows are fine.
#include "dequant.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "block_decode_device.cuh"

namespace nextlm::cuda {
namespace {

using quant::Type;

constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = int64_t{1} << 20;  // grid-stride beyond this

// Thread t decodes sub-block t (block t / kSubs, part t % kSubs) into shared
// memory, then the thread block writes its kThreads * 32 floats to
// dst[32 t ...] with coalesced stores: 32 consecutive floats per thread
// straight to global memory would make every store instruction touch 32
// different 128-byte lines. Rows of 33 floats keep the decoders' writes free
// of shared-memory bank conflicts.
template <size_t kBlockBytes, int kElems, void (*Decode)(const uint8_t*, int, float*)>
__global__ void __launch_bounds__(kThreads)
    dequant_blocks_kernel(const uint8_t* __restrict__ src, float* __restrict__ dst, int64_t n_subs) {
  constexpr int kSubs = kElems / quant::kSubBlock;
  constexpr int kPitch = quant::kSubBlock + 1;
  __shared__ float tile[kThreads * kPitch];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * kThreads; base < n_subs; base += stride) {
    const int64_t t = base + threadIdx.x;
    if (t < n_subs) Decode(src + (t / kSubs) * kBlockBytes, static_cast<int>(t % kSubs), tile + threadIdx.x * kPitch);
    __syncthreads();
    const int64_t left = n_subs - base;
    const int count = static_cast<int>(left < kThreads ? left : kThreads) * quant::kSubBlock;
    float* out = dst + base * quant::kSubBlock;
    for (int i = threadIdx.x; i < count; i += kThreads) {
      out[i] = tile[(i / quant::kSubBlock) * kPitch + i % quant::kSubBlock];
    }
    __syncthreads();
  }
}

template <size_t kBytes, float (*Decode)(const uint8_t*)>
__global__ void __launch_bounds__(kThreads)
    dequant_plain_kernel(const uint8_t* __restrict__ src, float* __restrict__ dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = Decode(src + i * kBytes);
}

// Launches through cudaLaunchKernel so that the status is this launch's own,
// not a sticky error left by someone else's earlier call.
template <typename Kernel>
cudaError_t launch(Kernel kernel, int64_t n_threads, const uint8_t* src, float* dst, cudaStream_t stream) {
  const int64_t grid = std::min<int64_t>((n_threads + kThreads - 1) / kThreads, kMaxGrid);
  void* args[] = {&src, &dst, &n_threads};
  return cudaLaunchKernel(reinterpret_cast<const void*>(kernel), dim3(static_cast<unsigned>(grid)), dim3(kThreads),
                          args, 0, stream);
}

}  // namespace

cudaError_t dequantize_rows(quant::Type t, const void* src_device, float* dst_device, int64_t n_per_row, int64_t n_rows,
                            cudaStream_t stream) {
  if (n_per_row < 0 || n_rows < 0) return cudaErrorInvalidValue;
  if (n_per_row > 0 && n_rows > std::numeric_limits<int64_t>::max() / n_per_row / 8) return cudaErrorInvalidValue;
  const int64_t n = n_per_row * n_rows;
  const auto* src = static_cast<const uint8_t*>(src_device);
  using namespace quant;
  // Block formats and plain types are generated from block_decode.h's lists.
  // The block size check comes first so that bad sizes are rejected even
  // when there is nothing to do.
#define NLM_CASE_BLOCK(T, B, QK, DECODE)                     \
  case Type::T:                                              \
    if (n_per_row % (QK) != 0) return cudaErrorInvalidValue; \
    if (n == 0) return cudaSuccess;                          \
    if (!src || !dst_device) return cudaErrorInvalidValue;   \
    return launch(dequant_blocks_kernel<sizeof(B), QK, DECODE>, n / kSubBlock, src, dst_device, stream);
#define NLM_CASE_PLAIN(T, BYTES, DECODE)                   \
  case Type::T:                                            \
    if (n == 0) return cudaSuccess;                        \
    if (!src || !dst_device) return cudaErrorInvalidValue; \
    return launch(dequant_plain_kernel<BYTES, DECODE>, n, src, dst_device, stream);
  switch (t) {
    NLM_QUANT_BLOCK_FORMATS(NLM_CASE_BLOCK)
    NLM_QUANT_PLAIN_FORMATS(NLM_CASE_PLAIN)
    default:
      break;
  }
#undef NLM_CASE_BLOCK
#undef NLM_CASE_PLAIN
  return cudaErrorInvalidValue;  // Q8_1 (no dequantizer) or not a known type
}

}  // namespace nextlm::cuda
