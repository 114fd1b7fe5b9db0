// nextlm::Session — one conversation's context over a shared Model: its
// tokens, KV cache and recurrent state, generation with a sampler chain and
// streaming, state save/load, fork and rewind, and prefix reuse.
//
// Thread safety: a Session is used by one thread at a time; cancel() alone
// may be called from any thread at any time. Different Sessions of one Model
// may run on different threads concurrently.
//
// Prefix reuse: Qwen3-Next's DeltaNet state cannot be truncated the way a KV
// cache can, so the session keeps snapshots ("checkpoints") of the recurrent
// state at chosen positions: at boundaries the caller names (chat turns), at
// the end of every prompt and generation, and every `checkpoint_interval`
// tokens. set_prompt() resumes from the longest checkpointed prefix that the
// new prompt shares with the session's tokens and processes only the rest.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nextlm/model.h"
#include "nextlm/sampling.h"

namespace nextlm {

namespace detail {
struct SessionImpl;
struct GenerationImpl;
}

struct SessionParams {
  int64_t n_ctx = 4096;
  std::string cache_type_k = "f16";  // f32, f16, bf16, q8_0, q4_0
  std::string cache_type_v = "f16";
  int64_t checkpoint_interval = 1024;  // tokens between automatic checkpoints; 0: none
  int max_checkpoints = 32;            // oldest are dropped first (position 0 is always kept)
  int64_t n_batch = 512;               // prompt tokens per forward pass
};

enum class StopReason { kMaxTokens, kEndOfGeneration, kStopString, kStopToken, kCancelled, kContextFull };

struct GenerateOptions {
  int32_t max_tokens = 256;
  std::vector<std::string> stop;     // stop strings, matched across token boundaries, not returned
  std::vector<int32_t> stop_tokens;  // besides the model's end-of-generation tokens
  bool ignore_eos = false;
  SamplingParams sampling;
  // Receives each piece of new text, always whole UTF-8 sequences and never a
  // part of a stop string; returning false stops generation (kCancelled).
  std::function<bool(std::string_view)> on_text;
};

struct GenerateResult {
  std::string text;
  std::vector<int32_t> tokens;  // generated tokens (a stopping token included, stop-string text excluded from `text`)
  StopReason stop_reason = StopReason::kMaxTokens;
  int64_t generated_tokens = 0;
  double seconds = 0.0;
};

struct PromptResult {
  int64_t prompt_tokens = 0;     // tokens of the prompt
  int64_t cached_tokens = 0;     // of which reused from the session's state
  int64_t processed_tokens = 0;  // of which run through the model
  double seconds = 0.0;
};

class Session {
 public:
  explicit Session(std::shared_ptr<Model> model, const SessionParams& params = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Makes the context equal to `tokens`, reusing what is cached. `boundaries`
  // are positions (e.g. ends of chat turns) where checkpoints are kept.
  PromptResult set_prompt(std::span<const int32_t> tokens, std::span<const int64_t> boundaries = {});
  // How many tokens of `tokens` set_prompt() would reuse (the longest
  // checkpointed shared prefix), without changing anything: lets a caller
  // with several sessions send a prompt to the one that has most of it.
  int64_t reusable_prefix(std::span<const int32_t> tokens) const;
  // Appends to the context.
  PromptResult append(std::span<const int32_t> tokens);
  PromptResult append_text(std::string_view text, bool parse_special = false);

  GenerateResult generate(const GenerateOptions& options);
  void cancel();  // any thread

  // Keeps the first n tokens (restores a checkpoint and replays as needed).
  void rewind(int64_t n);
  std::unique_ptr<Session> fork() const;

  // Versioned, checksummed snapshot of the context (tokens, KV cache, recurrent state).
  std::vector<uint8_t> save_state() const;
  void load_state(std::span<const uint8_t> bytes);  // kCorruptFile for damaged or foreign data
  void save_file(const std::string& path) const;
  void load_file(const std::string& path);

  const std::vector<int32_t>& tokens() const;
  int64_t n_ctx() const;
  int n_checkpoints() const;
  const Model& model() const;

 private:
  friend class Generation;
  std::unique_ptr<detail::SessionImpl> impl_;
};

// Session::generate one token at a time, so that a caller (a server) can
// advance several sessions with one forward pass: decode_together(). Same
// stops, callbacks and result as generate(); the session must not be used
// otherwise until done(). The constructor throws like generate() would.
class Generation {
 public:
  Generation(Session& session, const GenerateOptions& options);
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  bool done() const;
  // The next step feeds `id` instead of sampling one (constrained decoding,
  // scripted replies in tests). Throws kInvalidArgument for ids out of range.
  void force_next(int32_t id);
  const GenerateResult& result() const;  // complete once done()
  Session& session();

 private:
  friend size_t decode_together(std::span<Generation* const> generations);
  std::unique_ptr<detail::GenerationImpl> impl_;
};

// Advances every unfinished generation by one token: each samples its next
// token (or ends: stop, max_tokens, cancel), then all new tokens run through
// the model in one batched forward pass. The generations' sessions must be
// distinct and share one Model. Returns how many are still unfinished.
size_t decode_together(std::span<Generation* const> generations);

}  // namespace nextlm
