// The Qwen3-Next forward pass, written once against runtime::Backend. A
// forward call takes new tokens of one or more sequences: the projections and
// MoE run over all tokens together (one pass over the weights), the conv,
// delta rule and attention run per sequence on its own state.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/qwen3next_config.h"
#include "model/qwen3next_state.h"
#include "model/qwen3next_weights.h"
#include "runtime/backend.h"

namespace nextlm::model {

struct SequenceInput {
  SequenceState* state = nullptr;
  std::span<const int32_t> tokens;
  // Indices into `tokens` whose logits are wanted (ascending), e.g. {n - 1}.
  std::span<const int64_t> logit_rows;
};

class Qwen3NextModel {
 public:
  // The file must outlive the model (weights stay in its mapping).
  Qwen3NextModel(const gguf::GgufFile& file, runtime::Backend& backend, runtime::ComputeMode mode,
                 const std::function<bool(float)>& progress = {});
  // Layer split: layer l runs on backends[layer_device[l]]; activations are
  // handed from device to device between layers.
  Qwen3NextModel(const gguf::GgufFile& file, std::vector<runtime::Backend*> backends, std::vector<int> layer_device,
                 runtime::ComputeMode mode, const std::function<bool(float)>& progress = {});

  const Qwen3NextConfig& config() const { return config_; }
  runtime::Backend& backend() { return *backends_.front(); }
  const std::vector<int>& layer_device() const { return layer_device_; }

  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx, CacheTypes types) const;

  // Runs every input's tokens and writes the requested logits rows to
  // `logits` (host memory, [sum of logit_rows][n_vocab], in input order).
  // prefer_chunked picks the chunked delta rule for multi-token inputs.
  void forward(std::span<const SequenceInput> inputs, float* logits, bool prefer_chunked = true);

 private:
  struct Scratch;
  struct Buffers;
  void deltanet_layer(int64_t il, std::span<const SequenceInput> inputs, Scratch& s, Buffers& b, bool prefer_chunked);
  void attention_layer(int64_t il, std::span<const SequenceInput> inputs, Scratch& s, Buffers& b);
  runtime::Backend& dev(int64_t layer) const { return *backends_[layer_device_[layer]]; }

  std::vector<runtime::Backend*> backends_;
  std::vector<int> layer_device_;
  std::vector<runtime::Backend*> layer_backends_;  // backends_[layer_device_[l]]
  Qwen3NextConfig config_;
  Qwen3NextWeights weights_;
};

}  // namespace nextlm::model
