// The Qwen3-Next forward pass, written once against runtime::Backend. A
// forward call takes new tokens of one or more sequences: the projections and
// MoE run over all tokens together (one pass over the weights), the conv,
// delta rule and attention run per sequence on its own state. Over several
// devices the same code runs per shard (ModelLayout): layers on different
// devices, or every device holding a slice of every layer (tensor split,
// partial outputs summed by a collective); docs/architecture.md.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/qwen3next_config.h"
#include "model/qwen3next_state.h"
#include "model/qwen3next_weights.h"
#include "model/tensor_split.h"
#include "runtime/backend.h"
#include "runtime/collectives.h"

namespace nextlm::model {

struct SequenceInput {
  SequenceState* state = nullptr;
  std::span<const int32_t> tokens;
  // Indices into `tokens` whose logits are wanted (ascending), e.g. {n - 1}.
  std::span<const int64_t> logit_rows;
};

// Where a model's parts run (model/placement.h fills it from a topology).
struct ModelLayout {
  std::vector<runtime::Backend*> backends;  // the devices
  std::vector<int> layer_device;            // layer split: each layer's device (empty: all on the first)
  // Tensor split: every layer on every device, each holding its slice; the
  // blocks' partial outputs are summed through `comm` (ranks = backends).
  std::vector<TensorSlice> slices;
  runtime::Communicator* comm = nullptr;
  // --cpu-moe: the routed experts of layers [0, cpu_moe_layers) live and run here.
  runtime::Backend* expert_backend = nullptr;
  int cpu_moe_layers = 0;
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
  // Any layout: layer split, tensor split, CPU experts.
  Qwen3NextModel(const gguf::GgufFile& file, ModelLayout layout, runtime::ComputeMode mode,
                 const std::function<bool(float)>& progress = {});

  const Qwen3NextConfig& config() const { return config_; }
  runtime::Backend& backend() { return *layout_.backends.front(); }
  // The first shard's device of each layer (a tensor split: all 0).
  const std::vector<int>& layer_device() const { return shards_.front().layer_device; }
  const ModelLayout& layout() const { return layout_; }

  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx, CacheTypes types) const;

  // Runs every input's tokens and writes the requested logits rows to
  // `logits` (host memory, [sum of logit_rows][n_vocab], in input order).
  // prefer_chunked picks the chunked delta rule for multi-token inputs.
  void forward(std::span<const SequenceInput> inputs, float* logits, bool prefer_chunked = true);

 private:
  struct Scratch;
  struct Buffers;
  // The weights of one device's part under a tensor split; the whole model
  // (over one or more devices by layer) otherwise.
  struct Shard {
    std::vector<int> layer_device;
    std::vector<runtime::Backend*> layer_backends;
    TensorSlice slice;
    Qwen3NextWeights weights;
  };
  void deltanet_layer(int64_t il, const Shard& sh, int index, std::span<const SequenceInput> inputs, Scratch& s,
                      Buffers& b, bool prefer_chunked);
  void attention_layer(int64_t il, const Shard& sh, int index, std::span<const SequenceInput> inputs, Scratch& s,
                       Buffers& b);

  ModelLayout layout_;
  Qwen3NextConfig config_;
  std::vector<Shard> shards_;
  std::vector<runtime::MoeWeights> cpu_experts_;  // --cpu-moe, on layout_.expert_backend
};

}  // namespace nextlm::model
