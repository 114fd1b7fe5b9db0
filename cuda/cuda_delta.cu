// The gated delta rule on the GPU: the recurrent form, all tokens of a call
// in ONE launch.
//
// Row i of a v-head's state S (value dim i, d key dims) evolves on its own:
//   S_i <- exp(g) S_i;  u_i = beta (v_i - S_i . k);  S_i <- S_i + u_i k;
//   o_i = S_i . q
// so a block takes 16 rows of one v-head (grid: v-heads x ceil(d / 16)), a
// warp 4 of them, and each lane keeps its columns j = lane + 32 c of those
// rows in registers for the whole token loop; the state is read and written
// once per call.
//
// The chunked (UT-transform) form that the CPU backend uses for prefill is
// not implemented here yet: `chunked` runs this recurrent kernel token by
// token (both forms agree; the chunked one would use tensor cores).
#include <fmt/format.h>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_status.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

namespace {

constexpr int kRowsPerWarp = 4;
constexpr int kWarps = 4;
constexpr int kRowsPerBlock = kRowsPerWarp * kWarps;

template <int kCols>  // columns per lane: ceil(d / 32)
__global__ void __launch_bounds__(kWarps * 32)
    delta_rule_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                      const float* __restrict__ g, const float* __restrict__ beta, int64_t n_tokens, int n_k_heads,
                      int n_v_heads, int d, float* __restrict__ state, float* __restrict__ out) {
  const int h = blockIdx.x;
  const int kh = h / (n_v_heads / n_k_heads);
  const int lane = threadIdx.x & 31;
  const int row0 = blockIdx.y * kRowsPerBlock + (threadIdx.x >> 5) * kRowsPerWarp;
  float* S = state + static_cast<int64_t>(h) * d * d;
  float s[kRowsPerWarp][kCols];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int i = row0 + r, j = c * 32 + lane;
      s[r][c] = (i < d && j < d) ? S[static_cast<int64_t>(i) * d + j] : 0.0f;
    }
  }
  const int64_t qk_stride = static_cast<int64_t>(n_k_heads) * d, v_stride = static_cast<int64_t>(n_v_heads) * d;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* qt = q + t * qk_stride + static_cast<int64_t>(kh) * d;
    const float* kt = k + t * qk_stride + static_cast<int64_t>(kh) * d;
    const float* vt = v + t * v_stride + static_cast<int64_t>(h) * d;
    const float decay = expf(g[t * n_v_heads + h]);
    const float b = beta[t * n_v_heads + h];
    float kj[kCols], qj[kCols];
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = c * 32 + lane;
      kj[c] = j < d ? kt[j] : 0.0f;
      qj[c] = j < d ? qt[j] : 0.0f;
    }
    float* ot = out + t * v_stride + static_cast<int64_t>(h) * d;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int i = row0 + r;
      if (i >= d) break;  // warp-uniform
      float sk = 0.0f;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        s[r][c] *= decay;
        sk += s[r][c] * kj[c];
      }
      sk = kern::warp_sum(sk);
      const float u = (vt[i] - sk) * b;
      float o = 0.0f;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        s[r][c] += u * kj[c];
        o += s[r][c] * qj[c];
      }
      o = kern::warp_sum(o);
      if (lane == 0) ot[i] = o;
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int i = row0 + r, j = c * 32 + lane;
      if (i < d && j < d) S[static_cast<int64_t>(i) * d + j] = s[r][c];
    }
  }
}

}  // namespace

void CudaBackend::gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta,
                                   int64_t n_tokens, const runtime::DeltaShape& s, float* state, float* out,
                                   bool /*chunked: see the file comment*/) {
  NLM_OP_SCOPE("gated_delta_rule", n_tokens > 1 ? "prefill" : "decode");
  if (n_tokens <= 0 || s.n_v_heads <= 0) return;
  const int d = s.head_dim;
  if (s.n_k_heads <= 0 || s.n_v_heads % s.n_k_heads != 0 || d <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("gated_delta_rule: bad shape ({} k-heads, {} v-heads, d {})", s.n_k_heads, s.n_v_heads, d));
  }
  const dim3 grid(static_cast<unsigned>(s.n_v_heads), static_cast<unsigned>((d + kRowsPerBlock - 1) / kRowsPerBlock));
  const int threads = kWarps * 32;
  cudaStream_t st = stream();
  const int cols = (d + 31) / 32;
  if (cols <= 1) {
    delta_rule_kernel<1><<<grid, threads, 0, st>>>(q, k, v, g, beta, n_tokens, s.n_k_heads, s.n_v_heads, d, state, out);
  } else if (cols <= 2) {
    delta_rule_kernel<2><<<grid, threads, 0, st>>>(q, k, v, g, beta, n_tokens, s.n_k_heads, s.n_v_heads, d, state, out);
  } else if (cols <= 4) {
    delta_rule_kernel<4><<<grid, threads, 0, st>>>(q, k, v, g, beta, n_tokens, s.n_k_heads, s.n_v_heads, d, state, out);
  } else if (cols <= 8) {
    delta_rule_kernel<8><<<grid, threads, 0, st>>>(q, k, v, g, beta, n_tokens, s.n_k_heads, s.n_v_heads, d, state, out);
  } else {
    throw Error(ErrorCode::kUnsupported, fmt::format("gated_delta_rule: head_dim {} > 256 on CUDA", d));
  }
  NLM_CUDA_LAUNCH_CHECK();
}

}  // namespace nextlm::cuda
