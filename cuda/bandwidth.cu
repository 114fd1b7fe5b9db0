#include "bandwidth.h"

#include <fmt/format.h>

#include <algorithm>

#include "backend_factory.h"
#include "cuda_status.h"
#include "device.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

namespace {

constexpr int kThreads = 256;

// Grid-stride over 16-byte words, four independent loads in flight per
// thread per step (enough outstanding bytes to saturate HBM); one atomic per
// warp at the end, negligible next to the reads.
__global__ void __launch_bounds__(kThreads)
read_sum_kernel(const uint4* __restrict__ p, size_t n, unsigned long long* __restrict__ sum) {
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  unsigned long long acc = 0;
  auto add = [&acc](uint4 w) {
    acc += static_cast<unsigned long long>(w.x) + w.y + w.z + w.w;
  };
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = p[i], b = p[i + stride], c = p[i + 2 * stride], d = p[i + 3 * stride];
    add(a);
    add(b);
    add(c);
    add(d);
  }
  for (; i < n; i += stride) add(p[i]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(sum, acc);
}

// Owning CUDA event (timing); the destructor never throws.
struct Event {
  cudaEvent_t e = nullptr;
  Event() { NLM_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() {
    if (e) cudaEventDestroy(e);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

}  // namespace

cudaError_t read_sum_u32(const void* data, size_t bytes, unsigned long long* sum, int blocks, cudaStream_t stream) {
  if (bytes % 16 != 0 || reinterpret_cast<uintptr_t>(data) % 16 != 0 || blocks <= 0 || !sum) {
    return cudaErrorInvalidValue;
  }
  if (bytes == 0) return cudaSuccess;
  if (!data) return cudaErrorInvalidValue;
  const auto* p = static_cast<const uint4*>(data);
  size_t n = bytes / 16;
  void* args[] = {&p, &n, &sum};
  return cudaLaunchKernel(reinterpret_cast<const void*>(read_sum_kernel), dim3(static_cast<unsigned>(blocks)),
                          dim3(kThreads), args, 0, stream);
}

double measure_read_bandwidth_gbs(int device) {
  const int n_dev = device_count();
  if (device < 0 || device >= n_dev) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("no CUDA device {} ({} found)", device, n_dev));
  }
  NLM_CUDA_CHECK(cudaSetDevice(device));
  // Work still queued on the device (a backend's weight uploads) would share
  // the bandwidth being measured.
  NLM_CUDA_CHECK(cudaDeviceSynchronize());
  size_t free_b = 0, total_b = 0;
  NLM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  // 4 GiB (80x an H100's L2) or half the free memory, whole MiB.
  const size_t bytes = std::min<size_t>(size_t{4} << 30, free_b / 2) & ~((size_t{1} << 20) - 1);
  if (bytes < (size_t{256} << 20)) {
    throw Error(ErrorCode::kOutOfMemory,
                fmt::format("cuda:{}: {:.0f} MiB free, too little to measure bandwidth", device, free_b / 1048576.0));
  }
  DeviceBuffer buf(device, bytes);
  DeviceBuffer sum(device, sizeof(unsigned long long));
  Stream stream(device);
  // Every word 0x5A5A5A5A: the expected sum is known (and < 2^62, no wrap).
  constexpr unsigned long long kWord = 0x5A5A5A5Aull;
  NLM_CUDA_CHECK(cudaMemsetAsync(buf.data(), 0x5A, bytes, stream.get()));
  int per_sm = 0, sms = 0;
  NLM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, read_sum_kernel, kThreads, 0));
  NLM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int blocks = std::max(1, per_sm * sms);
  Event start, stop;
  float best_ms = 0.0f;
  // Run 0 warms up (clocks, TLB); the best of the other five counts.
  for (int run = 0; run < 6; ++run) {
    NLM_CUDA_CHECK(cudaMemsetAsync(sum.data(), 0, sizeof(unsigned long long), stream.get()));
    NLM_CUDA_CHECK(cudaEventRecord(start.e, stream.get()));
    NLM_CUDA_CHECK(read_sum_u32(buf.data(), bytes, sum.as<unsigned long long>(), blocks, stream.get()));
    NLM_CUDA_CHECK(cudaEventRecord(stop.e, stream.get()));
    unsigned long long got = 0;
    NLM_CUDA_CHECK(cudaMemcpyAsync(&got, sum.data(), sizeof got, cudaMemcpyDeviceToHost, stream.get()));
    stream.synchronize();
    // A wrong sum means bytes went unread: the timing would be meaningless.
    if (got != kWord * (bytes / 4)) {
      throw Error(ErrorCode::kInternal, fmt::format("cuda:{}: bandwidth kernel read sum {} != {}", device, got,
                                                    kWord * (bytes / 4)));
    }
    float ms = 0.0f;
    NLM_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e, stop.e));
    if (run > 0 && (best_ms == 0.0f || ms < best_ms)) best_ms = ms;
  }
  if (best_ms <= 0.0f) throw Error(ErrorCode::kInternal, fmt::format("cuda:{}: bandwidth kernel took no time", device));
  return double(bytes) / (double(best_ms) * 1e-3) / 1e9;
}

}  // namespace nextlm::cuda
