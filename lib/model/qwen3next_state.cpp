#include "model/qwen3next_state.h"

#include <fmt/format.h>

#include "nextlm/error.h"
#include "quant/quantize.h"

#include <cstring>

namespace nextlm::model {

namespace {
std::vector<StateShard> one_shard(const Qwen3NextConfig& c, std::span<runtime::Backend* const> layer_backends) {
  return {StateShard{{layer_backends.begin(), layer_backends.end()}, c.n_head_kv, c.ssm_n_group, c.ssm_dt_rank}};
}
}  // namespace

SequenceState::SequenceState(const Qwen3NextConfig& c, std::span<runtime::Backend* const> layer_backends,
                             int64_t n_ctx, CacheTypes types)
    : SequenceState(c, one_shard(c, layer_backends), n_ctx, types) {}

SequenceState::SequenceState(const Qwen3NextConfig& c, std::span<const StateShard> shards, int64_t n_ctx,
                             CacheTypes types)
    : n_layer_(c.n_layer), types_(types), n_ctx_(n_ctx) {
  for (const StateShard& s : shards) {
    if (static_cast<int64_t>(s.layer_backends.size()) != c.n_layer) {
      throw Error(ErrorCode::kInternal, "sequence state: one backend per layer expected");
    }
  }
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
  if (shards.size() > 1) {
    split_tag_ = {0x4c505354u, static_cast<uint32_t>(shards.size())};  // "TSPL"
    for (const StateShard& sh : shards) {
      split_tag_.push_back(static_cast<uint32_t>(sh.n_head_kv));
      split_tag_.push_back(static_cast<uint32_t>(sh.n_k_heads));
    }
  }
  layers_.resize(shards.size() * c.n_layer);
  for (size_t s = 0; s < shards.size(); ++s) {
    const StateShard& sh = shards[s];
    const int64_t conv_dim = (2 * int64_t{sh.n_k_heads} + sh.n_v_heads) * c.ssm_d_state;
    for (int64_t i = 0; i < c.n_layer; ++i) {
      Layer& l = layers_[s * c.n_layer + i];
      l.backend = sh.layer_backends[i];
      runtime::Backend& b = *l.backend;
      if (c.recurrent[i]) {
        l.conv = b.alloc((c.conv_kernel - 1) * conv_dim * sizeof(float));
        l.delta = b.alloc(int64_t{sh.n_v_heads} * c.ssm_d_state * c.ssm_d_state * sizeof(float));
      } else {
        l.k = b.alloc(n_ctx * sh.n_head_kv * k_row_bytes_);
        l.v = b.alloc(n_ctx * sh.n_head_kv * v_row_bytes_);
      }
    }
  }
}

void SequenceState::copy_from(const SequenceState& other) {
  if (other.layers_.size() != layers_.size() || other.n_ctx_ != n_ctx_ || other.types_.k != types_.k ||
      other.types_.v != types_.v) {
    throw Error(ErrorCode::kInvalidArgument, "copy_from: sequence states of different shapes");
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (other.layers_[i].backend != layers_[i].backend) {
      throw Error(ErrorCode::kInvalidArgument, "copy_from: sequence states placed on different devices");
    }
    auto copy = [&](const std::unique_ptr<runtime::Buffer>& src, std::unique_ptr<runtime::Buffer>& dst) {
      if (src) layers_[i].backend->copy(dst->data(), src->data(), src->size());
    };
    copy(other.layers_[i].k, layers_[i].k);
    copy(other.layers_[i].v, layers_[i].v);
    copy(other.layers_[i].conv, layers_[i].conv);
    copy(other.layers_[i].delta, layers_[i].delta);
  }
  n_past_ = other.n_past_;
}

size_t RecurrentSnapshot::bytes() const {
  size_t n = 0;
  for (const auto& b : buffers) n += b->size();
  return n;
}

std::unique_ptr<RecurrentSnapshot> SequenceState::snapshot() const {
  auto snap = std::make_unique<RecurrentSnapshot>();
  snap->pos = n_past_;
  for (const Layer& l : layers_) {
    for (const auto* src : {&l.conv, &l.delta}) {
      if (!*src) continue;
      auto copy = l.backend->alloc((*src)->size());
      l.backend->copy(copy->data(), (*src)->data(), (*src)->size());
      snap->buffers.push_back(std::move(copy));
    }
  }
  return snap;
}

void SequenceState::restore(const RecurrentSnapshot& snap) {
  if (snap.pos > n_past_) throw Error(ErrorCode::kInvalidArgument, "restore: snapshot is ahead of the sequence");
  size_t i = 0;
  for (Layer& l : layers_) {
    for (auto* dst : {&l.conv, &l.delta}) {
      if (!*dst) continue;
      if (i >= snap.buffers.size() || snap.buffers[i]->size() != (*dst)->size()) {
        throw Error(ErrorCode::kInvalidArgument, "restore: snapshot of a different model");
      }
      l.backend->copy((*dst)->data(), snap.buffers[i]->data(), (*dst)->size());
      ++i;
    }
  }
  n_past_ = snap.pos;
}

void SequenceState::truncate(int64_t pos) {
  if (pos == n_past_) return;
  for (const Layer& l : layers_) {
    if (l.conv) throw Error(ErrorCode::kInvalidArgument, "truncate: recurrent state cannot be rewound without a snapshot");
  }
  if (pos < 0 || pos > n_past_) throw Error(ErrorCode::kInvalidArgument, "truncate: position out of range");
  n_past_ = pos;
}

namespace {
void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}
}  // namespace

void SequenceState::save(std::vector<uint8_t>& out) const {
  put_bytes(out, &n_past_, sizeof n_past_);
  put_bytes(out, split_tag_.data(), split_tag_.size() * sizeof(uint32_t));
  std::vector<uint8_t> tmp;
  for (const Layer& l : layers_) {
    auto dump = [&](const std::unique_ptr<runtime::Buffer>& buf, size_t n) {
      tmp.resize(n);
      l.backend->to_host(buf->data(), tmp.data(), n);
      put_bytes(out, tmp.data(), n);
    };
    if (l.k) {
      const size_t cells = static_cast<size_t>(n_past_) * (l.k->size() / static_cast<size_t>(n_ctx_));
      dump(l.k, cells);
      dump(l.v, static_cast<size_t>(n_past_) * (l.v->size() / static_cast<size_t>(n_ctx_)));
    } else {
      dump(l.conv, l.conv->size());
      dump(l.delta, l.delta->size());
    }
  }
}

void SequenceState::load(const uint8_t* data, size_t size) {
  size_t at = 0;
  auto take = [&](size_t n) {
    if (n > size - at) throw Error(ErrorCode::kCorruptFile, "session state: truncated sequence state");
    const uint8_t* p = data + at;
    at += n;
    return p;
  };
  int64_t n_past;
  std::memcpy(&n_past, take(sizeof n_past), sizeof n_past);
  if (n_past < 0 || n_past > n_ctx_) throw Error(ErrorCode::kCorruptFile, "session state: position out of range");
  const size_t tag_bytes = split_tag_.size() * sizeof(uint32_t);
  if (tag_bytes && std::memcmp(take(tag_bytes), split_tag_.data(), tag_bytes) != 0) {
    throw Error(ErrorCode::kInvalidArgument, "session state: saved with another placement (tensor split) of the model");
  }
  for (Layer& l : layers_) {
    runtime::Backend& b = *l.backend;
    if (l.k) {
      const size_t kn = static_cast<size_t>(n_past) * (l.k->size() / static_cast<size_t>(n_ctx_));
      const size_t vn = static_cast<size_t>(n_past) * (l.v->size() / static_cast<size_t>(n_ctx_));
      b.from_host(take(kn), l.k->data(), kn);
      b.from_host(take(vn), l.v->data(), vn);
    } else {
      b.from_host(take(l.conv->size()), l.conv->data(), l.conv->size());
      b.from_host(take(l.delta->size()), l.delta->data(), l.delta->size());
    }
  }
  if (at != size) throw Error(ErrorCode::kCorruptFile, "session state: trailing bytes after the sequence state");
  n_past_ = n_past;
}

runtime::KvLayerView SequenceState::kv(int64_t layer, int shard) {
  Layer& l = layers_[shard * n_layer_ + layer];
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
