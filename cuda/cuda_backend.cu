// CudaBackend: device memory, weights, transfers, the upload ring and the
// scratch slots. The ops live in the other cuda_*.cu files.
#include "cuda_backend.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "backend_factory.h"
#include "cuda_status.h"
#include "dequant.h"
#include "nextlm/error.h"
#include "quant/types.h"

namespace nextlm::cuda {

namespace {

bool pools_supported(int device) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return v != 0;
}

[[noreturn]] void throw_oom(int device, size_t bytes, cudaError_t err) {
  cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  cudaMemGetInfo(&free_b, &total_b);
  cudaGetLastError();
  throw Error(ErrorCode::kOutOfMemory,
              fmt::format("cuda:{}: cannot allocate {:.1f} MiB ({}); {:.1f} MiB free of {:.1f} MiB", device,
                          bytes / 1048576.0, cudaGetErrorString(err), free_b / 1048576.0, total_b / 1048576.0));
}

// Stream-ordered allocation (the model allocates its scratch per forward
// call; the pool makes that cheap and free of device-wide syncs).
void* stream_alloc(const BackendContext& ctx, size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, bytes, ctx.stream);
  if (err != cudaSuccess) throw_oom(ctx.device, bytes, err);
  return p;
}

void stream_free(const BackendContext& ctx, void* p) {
  if (!p) return;
  cudaSetDevice(ctx.device);
  cudaFreeAsync(p, ctx.stream);
}

class CudaBuffer final : public runtime::Buffer {
 public:
  CudaBuffer(std::shared_ptr<BackendContext> ctx, size_t bytes) : ctx_(std::move(ctx)), bytes_(bytes) {
    ptr_ = stream_alloc(*ctx_, bytes);
    if (ptr_) NLM_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, bytes, ctx_->stream));
  }
  ~CudaBuffer() override { stream_free(*ctx_, ptr_); }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() override { return ptr_; }
  size_t size() const override { return bytes_; }

 private:
  std::shared_ptr<BackendContext> ctx_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace

void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  throw Error(st == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::kOutOfMemory : ErrorCode::kInternal,
              fmt::format("cuBLAS error {} ({}) in {} at {}:{}", static_cast<int>(st), cublasGetStatusString(st), call,
                          file, line));
}

BackendContext::BackendContext(int dev) : device(dev) {
  NLM_CUDA_CHECK(cudaSetDevice(dev));
  if (!pools_supported(dev)) {
    throw Error(ErrorCode::kUnsupported, fmt::format("cuda:{}: the device has no stream-ordered memory pools", dev));
  }
  // Keep freed pool memory cached instead of returning it at every sync.
  cudaMemPool_t pool = nullptr;
  NLM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t keep = std::numeric_limits<uint64_t>::max();
  NLM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  NLM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cublasStatus_t st = cublasCreate(&cublas);
  if (st != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(stream);
    check_cublas(st, "cublasCreate", __FILE__, __LINE__);
  }
  NLM_CUBLAS_CHECK(cublasSetStream(cublas, stream));
  // Plain f32 arithmetic (no TF32): the exact mode must match the CPU closely.
  NLM_CUBLAS_CHECK(cublasSetMathMode(cublas, CUBLAS_DEFAULT_MATH));
}

BackendContext::~BackendContext() {
  cudaSetDevice(device);
  if (stream) cudaStreamSynchronize(stream);
  if (cublas) cublasDestroy(cublas);
  if (stream) cudaStreamDestroy(stream);
}

CudaBackend::CudaBackend(int device)
    : ctx_(std::make_shared<BackendContext>(device)), prof_(device), name_(fmt::format("cuda:{}", device)) {}

CudaBackend::~CudaBackend() {
  cudaSetDevice(ctx_->device);
  cudaStreamSynchronize(ctx_->stream);
  for (int i = 0; i < kSlotCount; ++i) stream_free(*ctx_, scratch_[i]);
  if (ring_dev_) stream_free(*ctx_, ring_dev_);
  cudaStreamSynchronize(ctx_->stream);
  if (ring_host_) cudaFreeHost(ring_host_);
  cudaGetLastError();
}

std::unique_ptr<runtime::Buffer> CudaBackend::alloc(size_t bytes) {
  NLM_CUDA_CHECK(cudaSetDevice(ctx_->device));
  return std::make_unique<CudaBuffer>(ctx_, bytes);
}

runtime::Weight CudaBackend::prepare_weight(quant::Type type, const void* file_data, int64_t cols, int64_t rows,
                                            int64_t n_mats, runtime::ComputeMode mode) {
  const quant::TypeInfo& ti = quant::type_info(type);
  if (!ti.can_dequantize) {
    throw Error(ErrorCode::kUnsupported, fmt::format("{}: cannot compute with weights of type {}", name_, ti.name));
  }
  if (cols <= 0 || rows <= 0 || n_mats <= 0 || cols % ti.block_size != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: bad weight shape {} x {} x {} for {}", name_, cols, rows, n_mats, ti.name));
  }
  NLM_CUDA_CHECK(cudaSetDevice(ctx_->device));
  runtime::Weight w;
  w.cols = cols;
  w.rows = rows;
  w.n_mats = n_mats;
  const size_t src_row = quant::row_bytes(type, cols);
  const size_t total = src_row * static_cast<size_t>(rows * n_mats);
  DeviceBuffer raw(ctx_->device, total);
  // On the backend's (non-blocking) stream, so that later kernels on it are
  // ordered after the copy; from pageable memory this returns once the bytes
  // are staged, so file_data need not stay valid for the copy.
  NLM_CUDA_CHECK(cudaMemcpyAsync(raw.data(), file_data, total, cudaMemcpyHostToDevice, ctx_->stream));
  if (mode == runtime::ComputeMode::kExact && type != quant::Type::F32) {
    // Dequantize once on the device: the exact path then computes in f32.
    DeviceBuffer f(ctx_->device, static_cast<size_t>(cols * rows * n_mats) * sizeof(float));
    NLM_CUDA_CHECK(dequantize_rows(type, raw.data(), f.as<float>(), cols, rows * n_mats, ctx_->stream));
    NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
    w.type = quant::Type::F32;
    w.data = owned_.emplace_back(std::move(f)).data();
  } else {
    w.type = type;
    w.data = owned_.emplace_back(std::move(raw)).data();
  }
  w.row_bytes = quant::row_bytes(w.type, cols);
  w.matrix_bytes = w.row_bytes * static_cast<size_t>(rows);
  return w;
}

const float* CudaBackend::prepare_vector(const float* host, size_t n) {
  DeviceBuffer& b = owned_.emplace_back(ctx_->device, n * sizeof(float));
  if (n) NLM_CUDA_CHECK(cudaMemcpyAsync(b.data(), host, n * sizeof(float), cudaMemcpyHostToDevice, ctx_->stream));
  return b.as<float>();
}

void CudaBackend::to_host(const void* src, void* host_dst, size_t bytes) {
  NLM_OP_SCOPE("to_host");
  if (bytes == 0) return;
  NLM_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, ctx_->stream));
  NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
}

void CudaBackend::from_host(const void* host_src, void* dst, size_t bytes) {
  NLM_OP_SCOPE("from_host");
  if (bytes == 0) return;
  NLM_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, ctx_->stream));
  // The caller may reuse host_src at once (even if it is pinned).
  NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
}

void CudaBackend::synchronize() {
  NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
}

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  NLM_OP_SCOPE("copy");
  if (bytes == 0) return;
  NLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx_->stream));
}

void CudaBackend::copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col, int64_t n_cols,
                               float* dst) {
  NLM_OP_SCOPE("copy_columns");
  if (rows <= 0 || n_cols <= 0) return;
  NLM_CUDA_CHECK(cudaMemcpy2DAsync(dst, n_cols * sizeof(float), src + col, src_cols * sizeof(float),
                                   n_cols * sizeof(float), rows, cudaMemcpyDeviceToDevice, ctx_->stream));
}

void* CudaBackend::scratch(Slot slot, size_t bytes) {
  if (bytes > scratch_bytes_[slot]) {
    const size_t want = std::max(bytes, scratch_bytes_[slot] + scratch_bytes_[slot] / 2);
    stream_free(*ctx_, scratch_[slot]);  // ordered after the work that used it
    scratch_[slot] = nullptr;
    scratch_bytes_[slot] = 0;
    scratch_[slot] = stream_alloc(*ctx_, want);
    scratch_bytes_[slot] = want;
  }
  return scratch_[slot];
}

const void* CudaBackend::upload(const void* host, size_t bytes) {
  constexpr size_t kAlign = 256;
  const size_t need = (bytes + kAlign - 1) / kAlign * kAlign;
  if (need == 0) return ring_dev_;
  if (need > ring_cap_) {
    NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
    if (ring_host_) NLM_CUDA_CHECK(cudaFreeHost(ring_host_));
    ring_host_ = nullptr;
    stream_free(*ctx_, ring_dev_);
    ring_dev_ = nullptr;
    ring_cap_ = 0;
    const size_t cap = std::max<size_t>(need, size_t{4} << 20);
    cudaError_t err = cudaMallocHost(&ring_host_, cap);
    if (err != cudaSuccess) {
      ring_host_ = nullptr;
      throw_oom(ctx_->device, cap, err);
    }
    ring_dev_ = stream_alloc(*ctx_, cap);
    ring_cap_ = cap;
    ring_off_ = 0;
  }
  if (ring_off_ + need > ring_cap_) {
    // Wrapping: earlier copies and the kernels reading them must be done.
    NLM_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream));
    ring_off_ = 0;
  }
  auto* h = static_cast<uint8_t*>(ring_host_) + ring_off_;
  auto* d = static_cast<uint8_t*>(ring_dev_) + ring_off_;
  std::memcpy(h, host, bytes);
  NLM_CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, ctx_->stream));
  ring_off_ += need;
  return d;
}

int backend_device_count() {
  return device_count();
}

std::unique_ptr<runtime::Backend> make_cuda_backend(int device) {
  const int n = device_count();
  if (device < 0 || device >= n) {
    throw Error(ErrorCode::kInvalidArgument, n == 0
                                                 ? fmt::format("no CUDA device available (asked for cuda:{})", device)
                                                 : fmt::format("no CUDA device {} ({} found)", device, n));
  }
  return std::make_unique<CudaBackend>(device);
}

}  // namespace nextlm::cuda
