// The op interface the model is written against. A backend owns device
// memory and runs ops on it (the CPU backend synchronously, the CUDA backend
// on its stream). All pointers given to ops point into memory of that
// backend; activations are f32, row-major, one row per token. Ops are coarse
// (a whole MoE block, a whole delta-rule chunk loop) so that a backend can
// fuse inside them; model code never sees how.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "quant/types.h"

namespace nextlm::runtime {

// How weights are used: kNative keeps them in their file type (dequantized on
// the fly), kExact dequantizes every weight to f32 at load time (for tests).
enum class ComputeMode { kNative, kExact };

// A weight matrix, or a stack of n_mats equally shaped matrices (experts):
// `rows` rows of `cols` elements of `type`, row r of matrix m at
// data + m * matrix_bytes + r * row_bytes.
struct Weight {
  quant::Type type = quant::Type::F32;
  const void* data = nullptr;
  int64_t cols = 0;
  int64_t rows = 0;
  int64_t n_mats = 1;
  size_t row_bytes = 0;
  size_t matrix_bytes = 0;
  // 0: blocks as in the file. Else the backend's own arrangement of them,
  // set by its prepare_weight and read only by that backend (the CPU's:
  // quant::Repack); row_bytes and matrix_bytes are then that layout's.
  int layout = 0;
};

// Memory owned by a backend.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
  float* f32() { return static_cast<float*>(data()); }
};

// The routed experts may be a subset (a tensor split or --cpu-moe divides
// them): routing is over all n_expert, but only experts [expert_first,
// expert_first + local_experts()) are computed here, expert e being matrix
// e - expert_first of the stacks; the others contribute nothing.
struct MoeWeights {
  const float* router = nullptr;  // [n_expert][n_embd] f32 (ffn_gate_inp)
  Weight gate_exps, up_exps, down_exps;
  int expert_first = 0;
  int expert_count = -1;  // -1: all n_expert
  int local_experts() const { return expert_count < 0 ? n_expert : expert_count; }
  const float* shared_gate_inp = nullptr;   // [n_embd] f32, may be null (no shared-expert gate)
  Weight gate_shexp, up_shexp, down_shexp;  // rows == 0 when there is no shared expert
  int n_expert = 0;
  int n_expert_used = 0;
};

// One attention layer's cache for one sequence: cell c of kv-head h holds
// head_dim elements of k_type at k + (c * n_kv_heads + h) * k_row_bytes.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  quant::Type k_type = quant::Type::F32, v_type = quant::Type::F32;
  size_t k_row_bytes = 0, v_row_bytes = 0;
  int64_t n_cells = 0;
};

struct AttentionShape {
  int n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 1.0f;
};

struct DeltaShape {
  int n_k_heads = 0, n_v_heads = 0, head_dim = 0;  // k and v heads share head_dim
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  virtual std::unique_ptr<Buffer> alloc(size_t bytes) = 0;  // zero-filled
  // Makes a weight usable by this backend from the file's bytes (which stay
  // valid for the backend's life): uploads, keeps in place or converts.
  virtual Weight prepare_weight(quant::Type type, const void* file_data, int64_t cols, int64_t rows, int64_t n_mats,
                                ComputeMode mode) = 0;
  // Asks that weights prepared from now on be copied out of the read-only
  // file mapping [mapped, mapped + mapped_len) into memory the backend owns
  // (the CPU: 2 MiB pages, PlanRequest::cpu_huge_pages) and their source
  // pages released; true if this backend does so (devices upload anyway).
  virtual bool copy_mapped_weights(const void* mapped, size_t mapped_len) {
    (void)mapped;
    (void)mapped_len;
    return false;
  }
  // A small f32 vector (norm weights, biases) copied into backend memory.
  virtual const float* prepare_vector(const float* host, size_t n) = 0;
  virtual void to_host(const void* src, void* host_dst, size_t bytes) = 0;
  virtual void from_host(const void* host_src, void* dst, size_t bytes) = 0;
  virtual void synchronize() = 0;
  // Copies between two allocations of this backend.
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;

  // out[t] = dequantized row ids[t] of w.
  virtual void get_rows(const Weight& w, const int32_t* ids, int64_t n, float* out) = 0;
  // y[t][r] = sum_c w[mat][r][c] * x[t][c].
  virtual void matmul(const Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) = 0;
  // matmul of n matrices (mat 0 each) with the same x, ys[i] for ws[i]: a
  // layer's projections, which a backend may run as one job. Results equal
  // n matmuls; the default runs them one by one.
  virtual void matmul_many(const Weight* const* ws, int n, const float* x, int64_t n_tokens, float* const* ys) {
    for (int i = 0; i < n; ++i) matmul(*ws[i], 0, x, n_tokens, ys[i]);
  }
  // y = x / sqrt(mean(x^2) + eps) * w per row of n; y may alias x.
  virtual void rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) = 0;
  // y = rms_norm(x) * w * silu(z) per row of n (the DeltaNet output norm).
  virtual void rms_norm_gated(const float* x, const float* w, const float* z, int64_t rows, int64_t n, float eps,
                              float* y) = 0;
  // y = x / max(|x|, eps) * scale per row of n; y may alias x.
  virtual void l2_norm(const float* x, int64_t rows, int64_t n, float eps, float scale, float* y) = 0;
  virtual void add(const float* a, const float* b, int64_t n, float* y) = 0;
  // Copies columns [col, col + n_cols) of each of `rows` rows of width src_cols.
  virtual void copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col, int64_t n_cols,
                            float* dst) = 0;
  // x[t][h][:] (contiguous, head_dim per head): NEOX rope on the first n_rot dims.
  virtual void rope_neox(float* x, int64_t n_tokens, int n_heads, int head_dim, int n_rot, const int32_t* positions,
                         float freq_base) = 0;

  // The whole MoE FFN with the gated shared expert: y[t] = sum over top-k.
  virtual void moe(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) = 0;

  // Causal depthwise conv over the last `kernel` inputs then SiLU, per channel;
  // state holds the previous kernel-1 inputs [kernel-1][channels] and is updated.
  virtual void conv1d_silu(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel, float* state,
                           float* y) = 0;
  // From ssm_ba output (per k-head g: b of its r v-heads, then a of them):
  // beta = sigmoid(b), g = ssm_a * softplus(a + dt_bias), both [t][v-head].
  virtual void delta_gates(const float* ba, int64_t n_tokens, const DeltaShape& s, const float* dt_bias,
                           const float* ssm_a, float* beta, float* g) = 0;
  // The gated delta rule over n_tokens for one sequence. q, k: [t][k-head][d]
  // (normalised and scaled already), v and out: [t][v-head][d], g/beta:
  // [t][v-head]; state [v-head][d][d] (S[i][j]: value dim i, key dim j) is
  // updated. chunked selects the chunked (UT-transform) form; both agree.
  virtual void gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta,
                                int64_t n_tokens, const DeltaShape& s, float* state, float* out, bool chunked) = 0;

  // Writes k/v rows ([t][kv-head][head_dim]) into cells positions[t].
  virtual void kv_store(const KvLayerView& kv, const float* k, const float* v, int64_t n_tokens,
                        const AttentionShape& s, const int32_t* positions) = 0;
  // Causal softmax attention of q ([t][head][head_dim]) over cells
  // [0, positions[t]]; out [t][head][head_dim]. Query head h reads kv-head
  // h / (n_head / n_head_kv).
  virtual void attention(const KvLayerView& kv, const float* q, int64_t n_tokens, const AttentionShape& s,
                         const int32_t* positions, float* out) = 0;
  // y = x * sigmoid(gate), elementwise over n.
  virtual void mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) = 0;
};

}  // namespace nextlm::runtime
