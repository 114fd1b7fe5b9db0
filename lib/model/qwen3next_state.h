// What one sequence carries between forward calls: the KV cache of each
// attention layer (typed separately for K and V) and the recurrent state of
// each DeltaNet layer (conv window + delta-rule state).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "model/qwen3next_config.h"
#include "runtime/backend.h"

namespace nextlm::model {

struct CacheTypes {
  quant::Type k = quant::Type::F16;
  quant::Type v = quant::Type::F16;
};

// The recurrent part of a sequence's state at one position (conv windows and
// delta-rule states of every DeltaNet layer). With it, a sequence can go back
// to that position: the KV cache needs no copy, since cells past the position
// are simply overwritten later.
struct RecurrentSnapshot {
  int64_t pos = 0;
  std::vector<std::unique_ptr<runtime::Buffer>> buffers;
  size_t bytes() const;
};

// One device's part of the state under a tensor split (the whole state
// otherwise): layer l on layer_backends[l], with the KV heads and DeltaNet
// k-heads (and their value heads) of that device.
struct StateShard {
  std::vector<runtime::Backend*> layer_backends;
  int n_head_kv = 0;
  int n_k_heads = 0, n_v_heads = 0;
};

class SequenceState {
 public:
  // layer_backends[l] holds layer l's cache or state (a layer split puts
  // layers on different devices). Throws kInvalidArgument for cache types
  // that cannot hold head_dim rows.
  SequenceState(const Qwen3NextConfig& c, std::span<runtime::Backend* const> layer_backends, int64_t n_ctx,
                CacheTypes types);
  // A tensor split: one shard per device.
  SequenceState(const Qwen3NextConfig& c, std::span<const StateShard> shards, int64_t n_ctx, CacheTypes types);

  // Becomes a copy of `other` (same model, context size and cache types).
  void copy_from(const SequenceState& other);

  std::unique_ptr<RecurrentSnapshot> snapshot() const;
  // Returns to snap.pos (<= n_past()), which must come from this sequence's history.
  void restore(const RecurrentSnapshot& snap);
  // Back to an earlier position; only valid when no DeltaNet layer has state
  // to undo (pos == n_past() or a model without recurrent layers).
  void truncate(int64_t pos);

  // Serialized form: the KV rows of cells [0, n_past) and the recurrent state
  // (under a tensor split, each device's part in turn after a tag naming the
  // split, so a state only loads into the same split). load() checks every
  // size against this state's shape.
  void save(std::vector<uint8_t>& out) const;
  void load(const uint8_t* data, size_t size);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  void advance(int64_t n) { n_past_ += n; }

  runtime::KvLayerView kv(int64_t layer, int shard = 0);
  float* conv_state(int64_t layer, int shard = 0) { return layers_[shard * n_layer_ + layer].conv->f32(); }
  float* delta_state(int64_t layer, int shard = 0) { return layers_[shard * n_layer_ + layer].delta->f32(); }

 private:
  struct Layer {
    runtime::Backend* backend = nullptr;
    std::unique_ptr<runtime::Buffer> k, v, conv, delta;
  };
  std::vector<Layer> layers_;  // shard-major: shard s, layer l at s * n_layer_ + l
  std::vector<uint32_t> split_tag_;  // tensor split: shard count and heads, written into saved states
  int64_t n_layer_ = 0;
  CacheTypes types_;
  size_t k_row_bytes_ = 0, v_row_bytes_ = 0;
  int64_t n_ctx_ = 0, n_past_ = 0;
};

}  // namespace nextlm::model
