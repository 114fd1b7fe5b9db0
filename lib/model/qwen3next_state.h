// What one sequence carries between forward calls: the KV cache of each
// attention layer (typed separately for K and V) and the recurrent state of
// each DeltaNet layer (conv window + delta-rule state).
#pragma once

#include <memory>
#include <vector>

#include "model/qwen3next_config.h"
#include "runtime/backend.h"

namespace nextlm::model {

struct CacheTypes {
  quant::Type k = quant::Type::F16;
  quant::Type v = quant::Type::F16;
};

class SequenceState {
 public:
  // Throws kInvalidArgument for cache types that cannot hold head_dim rows.
  SequenceState(const Qwen3NextConfig& c, runtime::Backend& b, int64_t n_ctx, CacheTypes types);

  // Becomes a copy of `other` (same model, context size and cache types).
  void copy_from(const SequenceState& other, runtime::Backend& b);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  void advance(int64_t n) { n_past_ += n; }

  runtime::KvLayerView kv(int64_t layer);
  float* conv_state(int64_t layer) { return layers_[layer].conv->f32(); }
  float* delta_state(int64_t layer) { return layers_[layer].delta->f32(); }

 private:
  struct Layer {
    std::unique_ptr<runtime::Buffer> k, v, conv, delta;
  };
  std::vector<Layer> layers_;
  CacheTypes types_;
  size_t k_row_bytes_ = 0, v_row_bytes_ = 0;
  int64_t n_ctx_ = 0, n_past_ = 0;
};

}  // namespace nextlm::model
