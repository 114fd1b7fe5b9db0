// nextlm::Model — a loaded Qwen3-Next GGUF model: weights on a backend, the
// tokenizer, metadata. Thread safety: a Model is immutable after load and may
// be shared by any number of Sessions on any threads; forward passes of
// different sessions are serialized inside the model (one backend pass at a
// time), each session's own calls run on the caller's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm {

namespace detail {
struct ModelImpl;
}

struct ModelParams {
  std::string device = "cpu";  // "cpu", "cuda" or "cuda:N" (builds with the CUDA backend)
  // Several devices (overrides `device`): "cuda:0,cuda:1", "cpu:0,cpu:1" (virtual
  // CPU devices), divided by `tensor_split` ratios ("1,1"; empty: by memory,
  // else equally). split "layer": contiguous layers per device; "tensor": every
  // layer on every device, heads and experts divided, one all-reduce per block
  // (docs/splitting.md). cpu_moe N: the routed experts of the first N layers
  // stay in host memory and run on the CPU.
  std::string devices;
  std::string split = "layer";
  std::string tensor_split;
  int cpu_moe = 0;
  int64_t n_ctx_hint = 4096;  // context the placement is sized for
  int n_threads = 0;           // 0: one per hardware thread
  bool use_mmap = true;        // map the file (weights paged in lazily) or read it into memory
  // Weights the CPU computes with are copied from the mapping into 2 MiB
  // pages (about 1.6x faster CPU decode: fewer TLB misses; their file pages
  // are released as they are copied). On AVX-512 machines IQ3_S rows are
  // repacked on the way into 4-bit codes (same results, ~1.1x faster decode,
  // 22% more memory for them; NEXTLM_REPACK=0 keeps the file layout).
  // false: used in place, shared with other processes through the page cache.
  bool cpu_huge_pages = true;
  bool exact = false;          // dequantize every weight to f32 at load (testing; much more memory)
  // Called with the fraction loaded (0..1); returning false cancels the load,
  // which then throws nextlm::Error(ErrorCode::kCancelled).
  std::function<bool(float)> progress;
};

struct MemoryEstimate {
  uint64_t weights_bytes = 0;    // tensor data (mapped or read)
  uint64_t kv_cache_bytes = 0;   // per session, at the given context and cache types
  uint64_t recurrent_bytes = 0;  // per session: conv windows + delta states
  uint64_t total() const { return weights_bytes + kv_cache_bytes + recurrent_bytes; }
};

class Model {
 public:
  // Throws nextlm::Error (kIo, kCorruptFile, kUnsupported, kCancelled, kOutOfMemory).
  static std::shared_ptr<Model> load(const std::string& path, const ModelParams& params = {});
  // Reads only the file's header: what a model and one session of n_ctx
  // tokens with the given cache types ("f16", "q8_0", ...) would take.
  static MemoryEstimate estimate_memory(const std::string& path, int64_t n_ctx, const std::string& cache_type_k = "f16",
                                        const std::string& cache_type_v = "f16");

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Metadata.
  std::string architecture() const;
  std::string name() const;                                    // general.name, or ""
  std::string metadata(std::string_view key) const;            // any scalar key rendered as text; "" when absent
  std::string chat_template(std::string_view name = {}) const; // tokenizer.chat_template[.NAME], or ""
  int64_t n_vocab() const;
  int64_t n_ctx_train() const;
  int64_t n_layer() const;
  int64_t n_params() const;

  // Tokenizer. parse_special: control tokens in the text become control ids.
  std::vector<int32_t> tokenize(std::string_view text, bool parse_special = false) const;
  std::string detokenize(const std::vector<int32_t>& ids, bool render_special = false) const;
  std::string token_text(int32_t id) const;
  // Control and user-defined tokens (<|im_start|>, <tool_call>, <think>...).
  bool is_special_token(int32_t id) const;
  int32_t eos_token() const;
  bool is_end_of_generation(int32_t id) const;  // eos, <|im_end|>, <|endoftext|>

  detail::ModelImpl& impl() { return *impl_; }
  const detail::ModelImpl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<detail::ModelImpl> impl);
  std::unique_ptr<detail::ModelImpl> impl_;
};

}  // namespace nextlm
