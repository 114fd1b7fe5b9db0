// The CPU backend: host memory, a persistent thread pool, and plain C++ ops
// (the reference every other backend is tested against).
#pragma once

#include <cmath>
#include <deque>
#include <memory>
#include <vector>

#include "quant/dot.h"
#include "runtime/backend.h"
#include "runtime/thread_pool.h"

namespace nextlm::runtime {

namespace cpu {
// One matrix of a tile matmul: `rows` rows row_bytes apart from base; results
// to y (token-major, tokens x rows).
struct TileTarget {
  const uint8_t* base;
  int64_t row_bytes, rows;
  float* y;
};
}  // namespace cpu

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads);
  ~CpuBackend() override;
  // From now on prepare_weight copies weights into memory on 2 MiB pages it
  // owns instead of using them in place. Sources inside the mapping have
  // their pages released once copied, so the weights are not resident twice.
  bool copy_mapped_weights(const void* mapped, size_t mapped_len) override {
    huge_page_weights_ = true;
    mapped_ = static_cast<const uint8_t*>(mapped);
    mapped_len_ = mapped_len;
    return true;
  }
  const char* name() const override { return "cpu"; }
  int n_threads() const { return pool_.size(); }

  std::unique_ptr<Buffer> alloc(size_t bytes) override;
  Weight prepare_weight(quant::Type type, const void* file_data, int64_t cols, int64_t rows, int64_t n_mats,
                        ComputeMode mode) override;
  const float* prepare_vector(const float* host, size_t n) override;
  void to_host(const void* src, void* host_dst, size_t bytes) override;
  void from_host(const void* host_src, void* dst, size_t bytes) override;
  void synchronize() override {}
  void copy(void* dst, const void* src, size_t bytes) override;

  void get_rows(const Weight& w, const int32_t* ids, int64_t n, float* out) override;
  void matmul(const Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) override;
  // Decode: all rows in one parallel job; prefill: matrices with the same
  // kernels share one quantization, packing and job (cpu_matmul.cpp).
  void matmul_many(const Weight* const* ws, int n, const float* x, int64_t n_tokens, float* const* ys) override;
  void rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) override;
  void rms_norm_gated(const float* x, const float* w, const float* z, int64_t rows, int64_t n, float eps,
                      float* y) override;
  void l2_norm(const float* x, int64_t rows, int64_t n, float eps, float scale, float* y) override;
  void add(const float* a, const float* b, int64_t n, float* y) override;
  void copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col, int64_t n_cols, float* dst) override;
  void rope_neox(float* x, int64_t n_tokens, int n_heads, int head_dim, int n_rot, const int32_t* positions,
                 float freq_base) override;
  void moe(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) override;
  void conv1d_silu(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel, float* state,
                   float* y) override;
  void delta_gates(const float* ba, int64_t n_tokens, const DeltaShape& s, const float* dt_bias, const float* ssm_a,
                   float* beta, float* g) override;
  void gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta,
                        int64_t n_tokens, const DeltaShape& s, float* state, float* out, bool chunked) override;
  void kv_store(const KvLayerView& kv, const float* k, const float* v, int64_t n_tokens, const AttentionShape& s,
                const int32_t* positions) override;
  void attention(const KvLayerView& kv, const float* q, int64_t n_tokens, const AttentionShape& s,
                 const int32_t* positions, float* out) override;
  void mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) override;

  ThreadPool& pool() { return pool_; }

 private:
  // The MoE block for up to cpu::kDecodeMaxTokens tokens in two parallel jobs (cpu_moe.cpp);
  // false when the weights' types have no fused dot kernels.
  bool moe_decode(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, const int* chosen,
                  const float* weight, float* y);

  // Prefill matmuls through the tile kernel, one or two matrices with the same
  // input (cpu_matmul.cpp).
  void matmul_tiles(const quant::DotKernels& k, quant::TileDotFn tile, quant::TileDotKFn tile_k,
                    const cpu::TileTarget* targets, int n_targets, int64_t cols, const int8_t* qx, const float* dx,
                    const float* sx, int64_t n_tokens);
  // Activations to q8 in k's form into this thread's matmul scratch.
  void quantize_rows(const quant::DotKernels& k, const float* x, int64_t n_tokens, int64_t cols);
  // matmul_many with a matrix index per weight (the MoE block's gate and up of one expert).
  void matmul_group(const Weight* const* ws, const int64_t* mats, int n, const float* x, int64_t n_tokens,
                    float* const* ys);
  // The tile kernels for k (one of them, or neither) where a matmul of n_tokens takes them.
  static bool tile_kernels(const quant::DotKernels& k, int64_t n_tokens, quant::TileDotFn& tile,
                           quant::TileDotKFn& tile_k);

  ThreadPool pool_;
  std::deque<std::vector<float>> owned_;  // exact-mode weights, legacy reorders, vectors
  // Copies on 2 MiB pages: chunks handed out front to back (take_huge_pages),
  // filled with a copy or a repack of the rows; release_source then drops
  // the source's file pages.
  uint8_t* take_huge_pages(size_t bytes);
  void release_source(const void* src, size_t bytes);
  const void* copy_to_huge_pages(const void* src, size_t bytes);
  struct HugeChunk {
    uint8_t* data;
    size_t len, used;
  };
  std::vector<HugeChunk> huge_;
  bool huge_page_weights_ = false;
  const uint8_t* mapped_ = nullptr;
  size_t mapped_len_ = 0;
};

// The f32 loops of the CPU ops (dots, the delta rule, attention) are built for
// x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and baseline, chosen once at load by
// the dynamic linker; each machine always runs the same clone, so results
// stay reproducible on it.
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define NLM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NLM_CPU_CLONES
#endif

namespace cpu {
// Up to this many tokens a matmul (and the MoE block) dots straight from the
// packed weight rows; above it, unpacked rows are reused across tokens.
constexpr int64_t kDecodeMaxTokens = 2;
// From this many tokens a matmul uses the tile kernel where there is one
// (measured, prefill in 3-, 4- and 6-token batches: 12-32% faster than dot4).
constexpr int64_t kTileMinTokens = 3;
// Shared helpers of the CPU op files.
// cpu_math.h's dot_f32, built per ISA (NLM_CPU_CLONES). Out of line on
// purpose: inlined into the delta rule's loops over rows, the compiler
// vectorizes the outer loop with gathers.
float dot(const float* a, const float* b, int64_t n);
// The integer kernels for w's layout (none for f32 or where the type has none).
quant::DotKernels weight_kernels(const Weight& w);
// One row of w (in w's layout) as f32 floats.
void weight_row_f32(const Weight& w, const uint8_t* row, float* out);
}  // namespace cpu

}  // namespace nextlm::runtime
