// What a nextlm::Session holds. Internal.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "model/qwen3next_state.h"
#include "nextlm/session.h"

namespace nextlm::detail {

struct ModelImpl;

struct SessionImpl {
  SessionImpl(std::shared_ptr<Model> model, const SessionParams& params);

  PromptResult set_prompt(std::span<const int32_t> prompt, std::span<const int64_t> boundaries);
  int64_t reusable_prefix(std::span<const int32_t> prompt) const;
  // Runs tokens after the current ones, batch by batch, keeping checkpoints at
  // `boundaries` (absolute positions) and every checkpoint_interval tokens.
  void process(std::span<const int32_t> add, std::span<const int64_t> boundaries);
  // Returns to the newest checkpoint at or before target.
  void go_back(int64_t target);
  void take_checkpoint();
  // Bookkeeping after a forward pass that fed `id` (and left its logits in `logits`).
  void fed_one(int32_t id);

  std::shared_ptr<Model> model;
  ModelImpl& m;
  SessionParams params;
  model::CacheTypes types;
  std::unique_ptr<model::SequenceState> seq;
  std::vector<int32_t> tokens;  // what seq holds, in order
  std::vector<float> logits;    // after the last token, when logits_valid
  bool logits_valid = false;
  std::vector<std::unique_ptr<model::RecurrentSnapshot>> checkpoints;  // ascending positions, [0] at 0
  std::atomic<bool> cancel_flag{false};
};

}  // namespace nextlm::detail
