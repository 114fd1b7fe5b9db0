// Device helpers shared by the backend's kernel files.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace nextlm::cuda::kern {

constexpr unsigned kFullMask = 0xFFFFFFFFu;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// Sum over the thread block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. Ends with a barrier, so every thread has finished
// the reads before it that fed `v` once this returns (in-place ops rely on it).
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  float s = lane < n_warps ? part[lane] : 0.0f;
  s = warp_sum(s);
  __syncthreads();  // part[] may be reused by a later call
  return s;
}

// Hint: fetch [p, p + bytes) into this SM's L1, the warp's lanes sharing the
// 128-byte lines. Prefetches never fault, so a row end need not be exact.
__device__ __forceinline__ void prefetch_l1(const void* p, size_t bytes, int lane) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = static_cast<size_t>(lane) * 128; off < bytes; off += 32 * 128) {
    asm volatile("prefetch.global.L1 [%0];" ::"l"(c + off));
  }
}

// As the CPU backend computes them (cpu::silu, cpu::sigmoid).
__device__ __forceinline__ float silu(float x) {
  return x / (1.0f + expf(-x));
}
__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

}  // namespace nextlm::cuda::kern

namespace nextlm::cuda {

// Grid size for a grid-stride loop over n items with `threads` per block.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, int64_t{1} << 20));
}

}  // namespace nextlm::cuda
