// The MoE block: router logits (f32 mat-vec / GEMM), then ONE routing kernel
// (softmax, top-k with ties to the lower expert index, renormalisation over
// the k chosen), then the routed experts' SiLU-gated FFNs, the gated shared
// expert, and a combine kernel.
//
// Expert FFNs touch only the chosen experts' weights:
//  - up to kMatVecMaxTokens tokens (decode): entirely on the device; the
//    mat-vec kernel reads each (token, slot)'s expert index from the routing
//    output, so gate + up + SwiGLU (fused, matvec_glu) and down are one
//    launch each for all slots.
//  - more tokens (prefill): the routing (T x k ints) is copied to the host
//    and the items are grouped by expert. The experts with at most
//    kGroupedMaxPerExpert items run through the same mat-vec kernels over
//    groups of a few items of one expert (one launch for gate + up + SwiGLU,
//    one for down, for all of them): each group reads its expert once. Each
//    expert with more runs gather -> gate/up (dequantize + cuBLAS) ->
//    SwiGLU -> down -> scatter on its rows. The per-expert form cost ~9
//    launches per expert, ~15 ms per layer for a 512-token batch of the
//    256-expert REAP shape on an H100 (launch-bound).
// Per-slot outputs are summed in the combine kernel in slot order (the CPU
// sums in expert order: the results agree up to float rounding).
#include <fmt/format.h>

#include <climits>
#include <vector>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_status.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

namespace {

constexpr int kThreads = 256;

// One warp per token; p[] (E floats of dynamic shared memory) holds the
// probabilities.
__global__ void route_kernel(const float* logits, int n_expert, int k, int32_t* chosen, float* weights) {
  extern __shared__ float p[];
  const int64_t t = blockIdx.x;
  const int lane = threadIdx.x;
  const float* lg = logits + t * n_expert;
  float mx = -INFINITY;
  for (int e = lane; e < n_expert; e += 32) mx = fmaxf(mx, lg[e]);
  mx = kern::warp_max(mx);
  float sum = 0.0f;
  for (int e = lane; e < n_expert; e += 32) {
    const float v = expf(lg[e] - mx);
    p[e] = v;
    sum += v;
  }
  sum = kern::warp_sum(sum);
  for (int e = lane; e < n_expert; e += 32) p[e] /= sum;
  __syncwarp();
  float wsum = 0.0f;
  for (int j = 0; j < k; ++j) {
    // Arg-max, ties to the lower index; taken experts hold -2 (< any probability).
    float bv = -3.0f;
    int bi = INT_MAX;
    for (int e = lane; e < n_expert; e += 32) {
      if (p[e] > bv) {
        bv = p[e];
        bi = e;
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(kern::kFullMask, bv, o);
      const int oi = __shfl_xor_sync(kern::kFullMask, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (bi == INT_MAX) {  // only NaNs left: any valid index keeps later kernels in bounds
      bi = 0;
      bv = 0.0f;
    }
    if (lane == 0) {
      chosen[t * k + j] = bi;
      weights[t * k + j] = bv;
      wsum += bv;
      p[bi] = -2.0f;
    }
    __syncwarp();
  }
  if (lane == 0) {
    for (int j = 0; j < k; ++j) weights[t * k + j] /= wsum;
  }
}

__global__ void swiglu_kernel(float* g, const float* u, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    g[i] = kern::silu(g[i]) * u[i];
}

// out[j] = x[items[j] / x_div], rows of cols.
__global__ void gather_rows_kernel(const float* x, const int32_t* items, int x_div, int64_t n, int64_t cols,
                                   float* out) {
  const int64_t total = n * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t j = i / cols, c = i % cols;
    out[i] = x[static_cast<int64_t>(items[j] / x_div) * cols + c];
  }
}

// dst[items[j]] = src[j], rows of cols.
__global__ void scatter_rows_kernel(const float* src, const int32_t* items, int64_t n, int64_t cols, float* dst) {
  const int64_t total = n * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t j = i / cols, c = i % cols;
    dst[static_cast<int64_t>(items[j]) * cols + c] = src[i];
  }
}

// y[t] = sum_j w[t][j] * expert_out[t * k + j] + gate(t) * shared[t].
__global__ void combine_kernel(const float* expert_out, const float* weights, int k, const float* shared,
                               const float* shared_logit, int64_t n_tokens, int64_t n_embd, float* y) {
  const int64_t total = n_tokens * n_embd;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t t = i / n_embd, c = i % n_embd;
    float acc = 0.0f;
#pragma unroll 4
    for (int j = 0; j < k; ++j) acc += weights[t * k + j] * expert_out[(t * k + j) * n_embd + c];
    if (shared) acc += (shared_logit ? kern::sigmoid(shared_logit[t]) : 1.0f) * shared[i];
    y[i] = acc;
  }
}

// Routing chose among all experts; this backend holds only [first, first + count)
// (a tensor split or --cpu-moe computes the others elsewhere): indices become
// local, and the others get weight 0 and a valid local index, so they add nothing.
__global__ void localize_kernel(int32_t* chosen, float* weights, int64_t n, int first, int count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int e = chosen[i] - first;
  if (e < 0 || e >= count) {
    chosen[i] = 0;
    weights[i] = 0.0f;
  } else {
    chosen[i] = e;
  }
}

runtime::Weight f32_weight(const float* data, int64_t cols, int64_t rows) {
  runtime::Weight w;
  w.type = quant::Type::F32;
  w.data = data;
  w.cols = cols;
  w.rows = rows;
  w.row_bytes = static_cast<size_t>(cols) * sizeof(float);
  w.matrix_bytes = w.row_bytes * static_cast<size_t>(rows);
  return w;
}

}  // namespace

void CudaBackend::ffn(const runtime::Weight& gate, const runtime::Weight& up, const runtime::Weight& down, int64_t mat,
                      const float* x, int64_t n, float* g_buf, float* u_buf, float* out) {
  if (n <= kMatVecMaxTokens && matvec_glu(gate, up, mat, nullptr, x, gate.cols, 1, n, g_buf, gate.rows)) {
    matmul(down, mat, g_buf, n, out);
    return;
  }
  matmul(gate, mat, x, n, g_buf);
  matmul(up, mat, x, n, u_buf);
  const int64_t total = n * gate.rows;
  swiglu_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(g_buf, u_buf, total);
  NLM_CUDA_LAUNCH_CHECK();
  matmul(down, mat, g_buf, n, out);
}

bool CudaBackend::moe_grouped(const runtime::MoeWeights& m, const float* x, int64_t n_embd, int64_t items,
                              const std::vector<int64_t>& offsets, const std::vector<int32_t>& order, float* out) {
  const int K = m.n_expert_used;
  const int64_t n_ff = m.gate_exps.rows;
  const int per = max_staged_items(n_embd, n_ff);
  // The experts with at most kGroupedMaxPerExpert items: their items, in
  // expert order, cut into groups of at most `per`.
  std::vector<int32_t> light, first, mat;
  for (size_t e = 0; e + 1 < offsets.size(); ++e) {
    const int64_t b = offsets[e], n = offsets[e + 1] - b;
    if (n == 0 || n > kGroupedMaxPerExpert) continue;
    for (int64_t i = 0; i < n; i += per) {
      first.push_back(static_cast<int32_t>(light.size() + i));
      mat.push_back(static_cast<int32_t>(e));
    }
    light.insert(light.end(), order.begin() + b, order.begin() + b + n);
  }
  if (first.empty() || first.size() > 65535) return false;
  first.push_back(static_cast<int32_t>(light.size()));
  ItemGroups groups;
  groups.order = upload_i32(light.data(), static_cast<int64_t>(light.size()));
  groups.n_groups = static_cast<int64_t>(mat.size());
  groups.first = upload_i32(first.data(), static_cast<int64_t>(first.size()));
  groups.mat = upload_i32(mat.data(), groups.n_groups);
  groups.max_items = per;
  // Per item, as in the decode path: g[item] and out[item].
  float* g = scratch_f32(kMoeGate, static_cast<size_t>(items * n_ff));
  if (!matvec_glu(m.gate_exps, m.up_exps, 0, nullptr, x, n_embd, K, items, g, n_ff, &groups)) {
    float* u = scratch_f32(kMoeUp, static_cast<size_t>(items * n_ff));
    matvec(m.gate_exps, 0, nullptr, x, n_embd, K, items, g, n_ff, &groups);
    matvec(m.up_exps, 0, nullptr, x, n_embd, K, items, u, n_ff, &groups);
    swiglu_kernel<<<grid_for(items * n_ff, kThreads), kThreads, 0, stream()>>>(g, u, items * n_ff);
    NLM_CUDA_LAUNCH_CHECK();
  }
  matvec(m.down_exps, 0, nullptr, g, n_ff, 1, items, out, n_embd, &groups);
  return true;
}

void CudaBackend::moe_experts(const runtime::MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd,
                              const int32_t* chosen, float* out) {
  const int K = m.n_expert_used;
  const int64_t n_ff = m.gate_exps.rows, items = n_tokens * K;
  if (n_tokens <= kMatVecMaxTokens) {
    float* g = scratch_f32(kMoeGate, static_cast<size_t>(items * n_ff));
    if (matvec_glu(m.gate_exps, m.up_exps, 0, chosen, x, n_embd, K, items, g, n_ff)) {
      matvec(m.down_exps, 0, chosen, g, n_ff, 1, items, out, n_embd);
      return;
    }
    float* u = scratch_f32(kMoeUp, static_cast<size_t>(items * n_ff));
    matvec(m.gate_exps, 0, chosen, x, n_embd, K, items, g, n_ff);
    matvec(m.up_exps, 0, chosen, x, n_embd, K, items, u, n_ff);
    swiglu_kernel<<<grid_for(items * n_ff, kThreads), kThreads, 0, stream()>>>(g, u, items * n_ff);
    NLM_CUDA_LAUNCH_CHECK();
    matvec(m.down_exps, 0, chosen, g, n_ff, 1, items, out, n_embd);
    return;
  }
  // Group (token, slot) items by expert on the host.
  std::vector<int32_t> host_chosen(static_cast<size_t>(items));
  to_host(chosen, host_chosen.data(), host_chosen.size() * sizeof(int32_t));
  const int E = m.n_expert;
  std::vector<int64_t> count(E + 1, 0);
  for (int32_t e : host_chosen) ++count[e + 1];
  for (int e = 0; e < E; ++e) count[e + 1] += count[e];  // now offsets
  std::vector<int32_t> order(static_cast<size_t>(items));
  std::vector<int64_t> fill(count.begin(), count.end() - 1);
  int64_t max_n = 0;
  for (int64_t i = 0; i < items; ++i) order[fill[host_chosen[i]]++] = static_cast<int32_t>(i);
  for (int e = 0; e < E; ++e) max_n = std::max(max_n, count[e + 1] - count[e]);
  // Experts with few items run grouped, the rest one by one (below).
  const bool grouped = moe_grouped(m, x, n_embd, items, count, order, out);
  const int64_t solo_min = grouped ? kGroupedMaxPerExpert + 1 : 1;
  if (max_n < solo_min) return;
  const int32_t* d_order = upload_i32(order.data(), items);
  float* xe = scratch_f32(kMoeX, static_cast<size_t>(max_n * n_embd));
  float* g = scratch_f32(kMoeGate, static_cast<size_t>(max_n * n_ff));
  float* u = scratch_f32(kMoeUp, static_cast<size_t>(max_n * n_ff));
  float* eo = scratch_f32(kMoeExpertOut, static_cast<size_t>(max_n * n_embd));
  for (int e = 0; e < E; ++e) {
    const int64_t n = count[e + 1] - count[e];
    if (n < solo_min) continue;
    const int32_t* idx = d_order + count[e];
    gather_rows_kernel<<<grid_for(n * n_embd, kThreads), kThreads, 0, stream()>>>(x, idx, K, n, n_embd, xe);
    NLM_CUDA_LAUNCH_CHECK();
    ffn(m.gate_exps, m.up_exps, m.down_exps, e, xe, n, g, u, eo);
    scatter_rows_kernel<<<grid_for(n * n_embd, kThreads), kThreads, 0, stream()>>>(eo, idx, n, n_embd, out);
    NLM_CUDA_LAUNCH_CHECK();
  }
}

void CudaBackend::moe(const runtime::MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) {
  NLM_OP_SCOPE("moe", n_tokens > kMatVecMaxTokens ? "prefill" : "decode");
  if (n_tokens <= 0) return;
  const int E = m.n_expert, K = m.n_expert_used;
  if (E <= 0 || K <= 0 || K > E || n_tokens * K > INT_MAX) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("moe: {} of {} experts for {} tokens", K, E, n_tokens));
  }
  if (n_tokens > 0x7FFFFFFF) throw Error(ErrorCode::kInvalidArgument, "moe: too many tokens");
  float* logits = scratch_f32(kMoeLogits, static_cast<size_t>(n_tokens * E));
  matmul(f32_weight(m.router, n_embd, E), 0, x, n_tokens, logits);
  auto* chosen = static_cast<int32_t*>(scratch(kMoeChosen, static_cast<size_t>(n_tokens * K) * sizeof(int32_t)));
  float* weights = scratch_f32(kMoeWeights, static_cast<size_t>(n_tokens * K));
  route_kernel<<<static_cast<unsigned>(n_tokens), 32, static_cast<size_t>(E) * sizeof(float), stream()>>>(
      logits, E, K, chosen, weights);
  NLM_CUDA_LAUNCH_CHECK();
  float* expert_out = scratch_f32(kMoeDown, static_cast<size_t>(n_tokens * K * n_embd));
  const int local = m.local_experts();
  if (local > 0) {
    if (m.expert_first != 0 || local != E) {
      localize_kernel<<<grid_for(n_tokens * K, kThreads), kThreads, 0, stream()>>>(chosen, weights, n_tokens * K,
                                                                                   m.expert_first, local);
      NLM_CUDA_LAUNCH_CHECK();
    }
    moe_experts(m, x, n_tokens, n_embd, chosen, expert_out);
  }

  const float* shared = nullptr;
  const float* shared_logit = nullptr;
  if (m.gate_shexp.rows > 0) {
    float* ds = scratch_f32(kMoeShared, static_cast<size_t>(n_tokens * n_embd));
    float* g = scratch_f32(kMoeGate, static_cast<size_t>(n_tokens * m.gate_shexp.rows));
    float* u = scratch_f32(kMoeUp, static_cast<size_t>(n_tokens * m.up_shexp.rows));
    ffn(m.gate_shexp, m.up_shexp, m.down_shexp, 0, x, n_tokens, g, u, ds);
    shared = ds;
    if (m.shared_gate_inp) {
      float* sl = scratch_f32(kMoeSharedGate, static_cast<size_t>(n_tokens));
      matmul(f32_weight(m.shared_gate_inp, n_embd, 1), 0, x, n_tokens, sl);
      shared_logit = sl;
    }
  }
  // No local experts: only the shared expert (k = 0 reads no expert output).
  combine_kernel<<<grid_for(n_tokens * n_embd, kThreads), kThreads, 0, stream()>>>(
      expert_out, weights, local > 0 ? K : 0, shared, shared_logit, n_tokens, n_embd, y);
  NLM_CUDA_LAUNCH_CHECK();
}

}  // namespace nextlm::cuda
