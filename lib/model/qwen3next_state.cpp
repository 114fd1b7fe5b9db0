#include "model/qwen3next_state.h"

#include <fmt/format.h>

#include "nextlm/error.h"
#include "quant/quantize.h"

namespace nextlm::model {

SequenceState::SequenceState(const Qwen3NextConfig& c, runtime::Backend& b, int64_t n_ctx, CacheTypes types)
    : types_(types), n_ctx_(n_ctx) {
  for (quant::Type t : {types.k, types.v}) {
    const quant::TypeInfo& ti = quant::type_info(t);
    if (!quant::can_quantize(t) || c.head_dim % ti.block_size) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("cache type {} cannot hold rows of head_dim {} (use f32, f16, bf16, q8_0 or q4_0)",
                              ti.name, c.head_dim));
    }
  }
  if (n_ctx <= 0) throw Error(ErrorCode::kInvalidArgument, "context size must be positive");
  k_row_bytes_ = quant::row_bytes(types.k, c.head_dim);
  v_row_bytes_ = quant::row_bytes(types.v, c.head_dim);
  layers_.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    Layer& l = layers_[i];
    if (c.recurrent[i]) {
      l.conv = b.alloc((c.conv_kernel - 1) * c.conv_dim() * sizeof(float));
      l.delta = b.alloc(int64_t{c.ssm_dt_rank} * c.ssm_d_state * c.ssm_d_state * sizeof(float));
    } else {
      l.k = b.alloc(n_ctx * c.n_head_kv * k_row_bytes_);
      l.v = b.alloc(n_ctx * c.n_head_kv * v_row_bytes_);
    }
  }
}

void SequenceState::copy_from(const SequenceState& other, runtime::Backend& b) {
  if (other.layers_.size() != layers_.size() || other.n_ctx_ != n_ctx_ || other.types_.k != types_.k ||
      other.types_.v != types_.v) {
    throw Error(ErrorCode::kInvalidArgument, "copy_from: sequence states of different shapes");
  }
  auto copy = [&](const std::unique_ptr<runtime::Buffer>& src, std::unique_ptr<runtime::Buffer>& dst) {
    if (src) b.copy(dst->data(), src->data(), src->size());
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    copy(other.layers_[i].k, layers_[i].k);
    copy(other.layers_[i].v, layers_[i].v);
    copy(other.layers_[i].conv, layers_[i].conv);
    copy(other.layers_[i].delta, layers_[i].delta);
  }
  n_past_ = other.n_past_;
}

runtime::KvLayerView SequenceState::kv(int64_t layer) {
  Layer& l = layers_[layer];
  runtime::KvLayerView v;
  v.k = l.k->data();
  v.v = l.v->data();
  v.k_type = types_.k;
  v.v_type = types_.v;
  v.k_row_bytes = k_row_bytes_;
  v.v_row_bytes = v_row_bytes_;
  v.n_cells = n_ctx_;
  return v;
}

}  // namespace nextlm::model
