// Row norms, elementwise ops, NEOX rope, the DeltaNet short conv and gates.
// Same formulas and evaluation order as the CPU backend (cpu_backend.cpp,
// cpu_delta.cpp); sums are float tree reductions instead of the CPU's double
// or sequential sums.
#include <fmt/format.h>

#include <cmath>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_status.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

namespace {

constexpr int kThreads = 256;

int norm_threads(int64_t n) {
  int t = 32;
  while (t < kThreads && t < n) t *= 2;
  return t;
}

enum class NormKind { kRms, kRmsGated, kL2 };

// One block per row. y may alias x: every read of x feeds block_sum(), which
// ends with a barrier, before any thread writes.
template <NormKind kKind>
__global__ void norm_kernel(const float* x, const float* w, const float* z, int64_t n, float eps, float scale,
                            float* y) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * n;
  float ss = 0.0f;
  // Unrolled so that several loads are in flight: a decode step's norms are
  // single rows, where each thread's loads in sequence set the time.
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  ss = kern::block_sum(ss);
  float* yr = y + r * n;
  if constexpr (kKind == NormKind::kL2) {
    const float inv = scale / fmaxf(sqrtf(ss), eps);
#pragma unroll 4
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv;
  } else {
    const float s = 1.0f / sqrtf(ss / static_cast<float>(n) + eps);
#pragma unroll 4
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      float v = xr[i] * s * w[i];
      if constexpr (kKind == NormKind::kRmsGated) v *= kern::silu(z[r * n + i]);
      yr[i] = v;
    }
  }
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = a[i] + b[i];
}

__global__ void mul_sigmoid_kernel(const float* x, const float* gate, int64_t n, float* y) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = x[i] * kern::sigmoid(gate[i]);
}

// One thread per (token, head, pair). theta is built by repeated products as
// the CPU does (theta *= theta_scale), so both see the same angles.
__global__ void rope_neox_kernel(float* x, int64_t n_tokens, int n_heads, int head_dim, int half,
                                 const int32_t* positions, float theta_scale) {
  const int64_t total = n_tokens * n_heads * half;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int i = static_cast<int>(idx % half);
    const int64_t th = idx / half;  // t * n_heads + h
    const int64_t t = th / n_heads;
    float theta = static_cast<float>(positions[t]);
    for (int k = 0; k < i; ++k) theta *= theta_scale;
    const float c = cosf(theta), s = sinf(theta);
    float* v = x + th * head_dim;
    const float x0 = v[i], x1 = v[i + half];
    v[i] = x0 * c - x1 * s;
    v[i + half] = x0 * s + x1 * c;
  }
}

// One thread per channel: all tokens in order, then the state update.
__global__ void conv1d_silu_kernel(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel,
                                   float* state, float* y) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const int64_t hist = kernel - 1;
  auto win = [&](int64_t idx) { return idx < hist ? state[idx * channels + c] : x[(idx - hist) * channels + c]; };
  for (int64_t t = 0; t < n_tokens; ++t) {
    float s = 0.0f;
    for (int j = 0; j < kernel; ++j) s += win(t + j) * w[c * kernel + j];
    y[t * channels + c] = kern::silu(s);
  }
  // New state row j is window row n_tokens + j; ascending j only reads rows
  // above the one written.
  for (int64_t j = 0; j < hist; ++j) state[j * channels + c] = win(n_tokens + j);
}

__global__ void delta_gates_kernel(const float* ba, int64_t n_tokens, int n_k_heads, int n_v_heads,
                                   const float* dt_bias, const float* ssm_a, float* beta, float* g) {
  const int r = n_v_heads / n_k_heads;
  const int64_t total = n_tokens * n_v_heads;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int64_t t = idx / n_v_heads;
    const int h = static_cast<int>(idx % n_v_heads);
    const int kh = h / r, j = h % r;
    const float* row = ba + t * 2 * n_v_heads;
    const float b = row[kh * 2 * r + j];
    const float a = row[kh * 2 * r + r + j] + dt_bias[h];
    // softplus as ggml computes it: linear above 20.
    const float sp = a > 20.0f ? a : log1pf(expf(a));
    beta[idx] = kern::sigmoid(b);
    g[idx] = sp * ssm_a[h];
  }
}

void check_rows(const char* op, int64_t rows) {
  if (rows > 0x7FFFFFFF) throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: {} rows", op, rows));
}

}  // namespace

void CudaBackend::rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) {
  NLM_OP_SCOPE("rms_norm");
  if (rows <= 0 || n <= 0) return;
  check_rows("rms_norm", rows);
  norm_kernel<NormKind::kRms>
      <<<static_cast<unsigned>(rows), norm_threads(n), 0, stream()>>>(x, w, nullptr, n, eps, 1.0f, y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::rms_norm_gated(const float* x, const float* w, const float* z, int64_t rows, int64_t n, float eps,
                                 float* y) {
  NLM_OP_SCOPE("rms_norm_gated");
  if (rows <= 0 || n <= 0) return;
  check_rows("rms_norm_gated", rows);
  norm_kernel<NormKind::kRmsGated>
      <<<static_cast<unsigned>(rows), norm_threads(n), 0, stream()>>>(x, w, z, n, eps, 1.0f, y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::l2_norm(const float* x, int64_t rows, int64_t n, float eps, float scale, float* y) {
  NLM_OP_SCOPE("l2_norm");
  if (rows <= 0 || n <= 0) return;
  check_rows("l2_norm", rows);
  norm_kernel<NormKind::kL2>
      <<<static_cast<unsigned>(rows), norm_threads(n), 0, stream()>>>(x, nullptr, nullptr, n, eps, scale, y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::add(const float* a, const float* b, int64_t n, float* y) {
  NLM_OP_SCOPE("add");
  if (n <= 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(a, b, n, y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) {
  NLM_OP_SCOPE("mul_sigmoid");
  if (n <= 0) return;
  mul_sigmoid_kernel<<<grid_for(n, kThreads), kThreads, 0, stream()>>>(x, gate, n, y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::rope_neox(float* x, int64_t n_tokens, int n_heads, int head_dim, int n_rot, const int32_t* positions,
                            float freq_base) {
  NLM_OP_SCOPE("rope_neox");
  const int half = n_rot / 2;
  if (n_tokens <= 0 || n_heads <= 0 || half <= 0) return;
  if (n_rot > head_dim) throw Error(ErrorCode::kInvalidArgument, "rope_neox: n_rot exceeds head_dim");
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));  // as the CPU computes it
  const int32_t* d_pos = upload_i32(positions, n_tokens);
  const int64_t total = n_tokens * n_heads * half;
  rope_neox_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(x, n_tokens, n_heads, head_dim, half, d_pos,
                                                                         theta_scale);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::conv1d_silu(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel,
                              float* state, float* y) {
  NLM_OP_SCOPE("conv1d_silu");
  if (channels <= 0 || kernel <= 0) return;
  conv1d_silu_kernel<<<grid_for(channels, kThreads), kThreads, 0, stream()>>>(x, n_tokens, channels, w, kernel, state,
                                                                              y);
  NLM_CUDA_LAUNCH_CHECK();
}

void CudaBackend::delta_gates(const float* ba, int64_t n_tokens, const runtime::DeltaShape& s, const float* dt_bias,
                              const float* ssm_a, float* beta, float* g) {
  NLM_OP_SCOPE("delta_gates");
  if (n_tokens <= 0 || s.n_v_heads <= 0) return;
  const int64_t total = n_tokens * s.n_v_heads;
  delta_gates_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(ba, n_tokens, s.n_k_heads, s.n_v_heads,
                                                                           dt_bias, ssm_a, beta, g);
  NLM_CUDA_LAUNCH_CHECK();
}

}  // namespace nextlm::cuda
