#include "device.h"

#include <fmt/format.h>

#include <utility>

#include "cuda_status.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: not an error for the caller
    return 0;
  }
  return n;
}

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> out;
  int n = device_count();
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    NLM_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    NLM_CUDA_CHECK(cudaSetDevice(i));
    NLM_CUDA_CHECK(cudaMemGetInfo(&d.free_bytes, &d.total_bytes));
    out.push_back(std::move(d));
  }
  return out;
}

DeviceBuffer::DeviceBuffer(int device, size_t bytes) : bytes_(bytes), device_(device) {
  if (bytes == 0) return;
  NLM_CUDA_CHECK(cudaSetDevice(device));
  cudaError_t err = cudaMalloc(&ptr_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    ptr_ = nullptr;
    throw Error(ErrorCode::kOutOfMemory,
                fmt::format("cuda:{}: cannot allocate {:.1f} MiB ({}); {:.1f} MiB free of {:.1f} MiB", device,
                            bytes / 1048576.0, cudaGetErrorString(err), free_b / 1048576.0, total_b / 1048576.0));
  }
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    device_ = o.device_;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) {
    cudaSetDevice(device_);
    cudaFree(ptr_);
  }
}

Stream::Stream(int device) : device_(device) {
  NLM_CUDA_CHECK(cudaSetDevice(device));
  NLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  if (stream_) {
    cudaSetDevice(device_);
    cudaStreamDestroy(stream_);
  }
}

void Stream::synchronize() const { NLM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace nextlm::cuda
