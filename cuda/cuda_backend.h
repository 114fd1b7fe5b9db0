// The CUDA backend: runtime::Backend on one device with its own stream.
// Every op runs on the GPU with the CPU backend's semantics (the CPU backend
// is the reference; results agree up to float accumulation order, and the
// weight decoders and KV-cache quantizers are bit-identical).
//
// Ops are asynchronous on the backend's stream; to_host() and synchronize()
// wait. Pointers given to ops point into this backend's memory, except the
// `ids` / `positions` arrays, which are host arrays (as the interface says):
// they are staged through a pinned upload ring.
//
// Files: cuda_backend.cu (memory, weights, transfers, small ops),
// cuda_ops_norm.cu (norms, elementwise, rope, conv, gates), cuda_matmul.cu
// (get_rows, mat-vec for decode, dequantize + cuBLAS for prefill),
// cuda_moe.cu (routing and expert FFNs), cuda_delta.cu (gated delta rule),
// cuda_attention.cu (typed KV store and attention).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "op_profile.h"
#include "runtime/backend.h"

namespace nextlm::cuda {

// State shared by the backend and the buffers it hands out (a buffer may be
// destroyed after the backend object; it frees on this stream).
struct BackendContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  explicit BackendContext(int dev);
  ~BackendContext();
  BackendContext(const BackendContext&) = delete;
  BackendContext& operator=(const BackendContext&) = delete;
};

// Throws nextlm::Error (kInternal) for a failed cuBLAS call.
void check_cublas(cublasStatus_t st, const char* call, const char* file, int line);
#define NLM_CUBLAS_CHECK(call) ::nextlm::cuda::check_cublas((call), #call, __FILE__, __LINE__)

// After a kernel launch: turns a launch failure into nextlm::Error.
#define NLM_CUDA_LAUNCH_CHECK() NLM_CUDA_CHECK(cudaGetLastError())

// First line of an op: times it under the given name parts when the op
// profile is on (op_profile.h).
#define NLM_OP_SCOPE(...) ::nextlm::cuda::OpProfile::Scope nlm_op_scope_(prof_, ctx_->stream, __VA_ARGS__)

class CudaBackend final : public runtime::Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  const char* name() const override { return name_.c_str(); }
  int device() const { return ctx_->device; }
  cudaStream_t stream() const { return ctx_->stream; }

  std::unique_ptr<runtime::Buffer> alloc(size_t bytes) override;
  runtime::Weight prepare_weight(quant::Type type, const void* file_data, int64_t cols, int64_t rows, int64_t n_mats,
                                 runtime::ComputeMode mode) override;
  const float* prepare_vector(const float* host, size_t n) override;
  void to_host(const void* src, void* host_dst, size_t bytes) override;
  void from_host(const void* host_src, void* dst, size_t bytes) override;
  void synchronize() override;
  void copy(void* dst, const void* src, size_t bytes) override;

  void get_rows(const runtime::Weight& w, const int32_t* ids, int64_t n, float* out) override;
  void matmul(const runtime::Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) override;
  void rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) override;
  void rms_norm_gated(const float* x, const float* w, const float* z, int64_t rows, int64_t n, float eps,
                      float* y) override;
  void l2_norm(const float* x, int64_t rows, int64_t n, float eps, float scale, float* y) override;
  void add(const float* a, const float* b, int64_t n, float* y) override;
  void copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col, int64_t n_cols, float* dst) override;
  void rope_neox(float* x, int64_t n_tokens, int n_heads, int head_dim, int n_rot, const int32_t* positions,
                 float freq_base) override;
  void moe(const runtime::MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) override;
  void conv1d_silu(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel, float* state,
                   float* y) override;
  void delta_gates(const float* ba, int64_t n_tokens, const runtime::DeltaShape& s, const float* dt_bias,
                   const float* ssm_a, float* beta, float* g) override;
  void gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta,
                        int64_t n_tokens, const runtime::DeltaShape& s, float* state, float* out,
                        bool chunked) override;
  void kv_store(const runtime::KvLayerView& kv, const float* k, const float* v, int64_t n_tokens,
                const runtime::AttentionShape& s, const int32_t* positions) override;
  void attention(const runtime::KvLayerView& kv, const float* q, int64_t n_tokens, const runtime::AttentionShape& s,
                 const int32_t* positions, float* out) override;
  void mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) override;

  // Token counts up to this use the mat-vec kernels; above it, weights are
  // dequantized to f32 and multiplied with cuBLAS.
  static constexpr int64_t kMatVecMaxTokens = 8;

  // Items grouped by matrix (MoE prefill), device arrays: group g holds the
  // items order[first[g] .. first[g + 1]) (at most max_items <=
  // kMatVecMaxTokens), all of matrix mat[g]. Each group reads its matrix
  // once for all its items.
  struct ItemGroups {
    const int32_t* order = nullptr;
    const int32_t* first = nullptr;
    const int32_t* mat = nullptr;
    int64_t n_groups = 0;
    int max_items = 0;
  };

 private:
  // Scratch memory reused across ops (stream-ordered, grown on demand).
  enum Slot : int {
    kDequant,  // f32 copy of (a chunk of) a weight for cuBLAS
    kMoeLogits,
    kMoeChosen,
    kMoeWeights,
    kMoeSharedGate,
    kMoeGate,
    kMoeUp,
    kMoeDown,
    kMoeX,
    kMoeShared,
    kMoeExpertOut,
    kAttnSplit,  // split-K attention partials
    kSlotCount
  };
  void* scratch(Slot slot, size_t bytes);
  float* scratch_f32(Slot slot, size_t n) { return static_cast<float*>(scratch(slot, n * sizeof(float))); }

  // Copies a host array into device memory ordered before later work on the
  // stream; the pointer stays valid until the ring wraps (which waits for the
  // stream first).
  const void* upload(const void* host, size_t bytes);
  const int32_t* upload_i32(const int32_t* host, int64_t n) {
    return static_cast<const int32_t*>(upload(host, static_cast<size_t>(n) * sizeof(int32_t)));
  }

  // The most items a group (ItemGroups) may hold so that the staged mat-vec
  // kernels keep their activations in shared memory for both cols_a and cols_b.
  static int max_staged_items(int64_t cols_a, int64_t cols_b);
  // y[item][r] (row stride y_stride) = w[mat(item)][r] . x[item / x_div]
  // (row stride x_stride) for n_items items; mat(item) = mat_ids ?
  // mat_ids[item] : mat0 (mat_ids is a device array), or the groups' matrix
  // when `groups` is given (then mat0, mat_ids and n_items are unused).
  // Mat-vec kernels only.
  void matvec(const runtime::Weight& w, int64_t mat0, const int32_t* mat_ids, const float* x, int64_t x_stride,
              int x_div, int64_t n_items, float* y, int64_t y_stride, const ItemGroups* groups = nullptr);
  // As matvec, y = silu(gate . x) * (up . x) in one launch (SwiGLU fused).
  // Returns false, launching nothing, where the fused kernel does not apply
  // (different types or shapes, plain types, activations too large for
  // shared memory); the caller then runs matvec twice.
  bool matvec_glu(const runtime::Weight& gate, const runtime::Weight& up, int64_t mat0, const int32_t* mat_ids,
                  const float* x, int64_t x_stride, int x_div, int64_t n_items, float* y, int64_t y_stride,
                  const ItemGroups* groups = nullptr);
  // y[t][r] = w[mat][r] . x[t] via f32 dequantization + cuBLAS SGEMM.
  void gemm(const runtime::Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y);
  // Expert FFNs: the routed experts of each token, written per (token, slot)
  // to out[t * k + j]; small batches on the device, larger ones grouped by
  // expert on the host.
  void moe_experts(const runtime::MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd,
                   const int32_t* chosen, float* out);
  // The grouped form of moe_experts for the experts with at most
  // kGroupedMaxPerExpert items (see cuda_moe.cu); `order` lists the items by
  // expert, offsets[e] where expert e's begin. False, launching nothing,
  // where it does not apply (then every expert runs on its own).
  bool moe_grouped(const runtime::MoeWeights& m, const float* x, int64_t n_embd, int64_t items,
                   const std::vector<int64_t>& offsets, const std::vector<int32_t>& order, float* out);
  // Above this many items, an expert's prefill FFN is dequantization + cuBLAS.
  static constexpr int64_t kGroupedMaxPerExpert = 64;
  void ffn(const runtime::Weight& gate, const runtime::Weight& up, const runtime::Weight& down, int64_t mat,
           const float* x, int64_t n, float* g_buf, float* u_buf, float* out);

  std::shared_ptr<BackendContext> ctx_;
  OpProfile prof_;  // after ctx_: reports (and frees its events) before the stream goes
  std::string name_;
  std::deque<DeviceBuffer> owned_;  // weights, exact-mode copies, vectors
  std::array<void*, kSlotCount> scratch_{};
  std::array<size_t, kSlotCount> scratch_bytes_{};
  // Upload ring: pinned host staging + device mirror.
  void* ring_host_ = nullptr;
  void* ring_dev_ = nullptr;
  size_t ring_cap_ = 0, ring_off_ = 0;
};

}  // namespace nextlm::cuda
