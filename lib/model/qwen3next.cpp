#include "model/qwen3next.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nextlm/error.h"

namespace nextlm::model {

using runtime::Buffer;

// Activations of one device, allocated when a layer first runs there.
struct Qwen3NextModel::Buffers {
  std::unique_ptr<Buffer> x, h, out, proj, proj2, proj3, a, b, c, beta, g;
};

struct Qwen3NextModel::Scratch {
  int64_t n_tokens = 0;
  std::vector<int64_t> offset;      // first token of each input in the batch
  std::vector<int32_t> positions;   // per token, host
  std::vector<Buffers> device;      // per backend
};

Qwen3NextModel::Qwen3NextModel(const gguf::GgufFile& file, runtime::Backend& backend, runtime::ComputeMode mode,
                               const std::function<bool(float)>& progress)
    : Qwen3NextModel(file, std::vector<runtime::Backend*>{&backend}, {}, mode, progress) {}

Qwen3NextModel::Qwen3NextModel(const gguf::GgufFile& file, std::vector<runtime::Backend*> backends,
                               std::vector<int> layer_device, runtime::ComputeMode mode,
                               const std::function<bool(float)>& progress)
    : backends_(std::move(backends)), layer_device_(std::move(layer_device)), config_(Qwen3NextConfig::from_gguf(file)) {
  const gguf::TensorInfo* emb = file.find_tensor("token_embd.weight");
  if (!emb || emb->n_dims != 2) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: missing or malformed token_embd.weight", file.path()));
  }
  config_.n_vocab = emb->ne[1];
  if (backends_.empty()) throw Error(ErrorCode::kInvalidArgument, "model: no backend");
  if (layer_device_.empty()) layer_device_.assign(static_cast<size_t>(config_.n_layer), 0);
  if (static_cast<int64_t>(layer_device_.size()) != config_.n_layer) {
    throw Error(ErrorCode::kInvalidArgument, "model: layer placement does not cover every layer");
  }
  for (int d : layer_device_) {
    if (d < 0 || d >= static_cast<int>(backends_.size())) throw Error(ErrorCode::kInvalidArgument, "model: bad layer device");
  }
  for (int d : layer_device_) layer_backends_.push_back(backends_[d]);
  weights_ = Qwen3NextWeights::load(file, config_, layer_backends_, mode, progress);
}

std::unique_ptr<SequenceState> Qwen3NextModel::new_sequence(int64_t n_ctx, CacheTypes types) const {
  return std::make_unique<SequenceState>(config_, layer_backends_, n_ctx, types);
}

void Qwen3NextModel::forward(std::span<const SequenceInput> inputs, float* logits, bool prefer_chunked) {
  const Qwen3NextConfig& c = config_;
  Scratch s;
  std::set<const SequenceState*> seen;
  std::vector<int32_t> ids;
  for (const SequenceInput& in : inputs) {
    if (!in.state || !seen.insert(in.state).second) {
      throw Error(ErrorCode::kInvalidArgument, "forward: each input needs its own sequence state");
    }
    if (in.state->n_past() + static_cast<int64_t>(in.tokens.size()) > in.state->n_ctx()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("forward: {} + {} tokens exceed the context of {}", in.state->n_past(),
                              in.tokens.size(), in.state->n_ctx()));
    }
    for (int64_t r : in.logit_rows) {
      if (r < 0 || r >= static_cast<int64_t>(in.tokens.size())) {
        throw Error(ErrorCode::kInvalidArgument, "forward: logit row outside the input");
      }
    }
    for (int32_t id : in.tokens) {
      if (id < 0 || id >= c.n_vocab) throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} out of range", id));
    }
    s.offset.push_back(s.n_tokens);
    for (size_t j = 0; j < in.tokens.size(); ++j) s.positions.push_back(static_cast<int32_t>(in.state->n_past() + j));
    ids.insert(ids.end(), in.tokens.begin(), in.tokens.end());
    s.n_tokens += static_cast<int64_t>(in.tokens.size());
  }
  const int64_t T = s.n_tokens, E = c.n_embd;
  if (T == 0) return;

  // Scratch sized for the widest intermediate of either layer kind, per device.
  const int64_t wide = std::max<int64_t>({c.conv_dim(), 2 * int64_t{c.n_head} * c.head_dim, E, 2 * int64_t{c.ssm_dt_rank}});
  s.device.resize(backends_.size());
  auto buffers = [&](int d) -> Buffers& {
    Buffers& b = s.device[d];
    if (!b.x) {
      runtime::Backend& B = *backends_[d];
      auto buf = [&](int64_t floats) { return B.alloc(static_cast<size_t>(floats) * sizeof(float)); };
      b.x = buf(T * E), b.h = buf(T * E), b.out = buf(T * E);
      b.proj = buf(T * wide), b.proj2 = buf(T * wide), b.proj3 = buf(T * wide);
      b.a = buf(T * wide), b.b = buf(T * wide), b.c = buf(T * wide);
      b.beta = buf(T * c.ssm_dt_rank), b.g = buf(T * c.ssm_dt_rank);
    }
    return b;
  };

  int cur = layer_device_.front();
  backends_[cur]->get_rows(weights_.token_embd, ids.data(), T, buffers(cur).x->f32());
  std::vector<float> handover;
  for (int64_t il = 0; il < c.n_layer; ++il) {
    if (layer_device_[il] != cur) {
      // Layer split: the residual stream moves to the next device through host memory.
      const int next = layer_device_[il];
      handover.resize(static_cast<size_t>(T * E));
      backends_[cur]->to_host(buffers(cur).x->data(), handover.data(), handover.size() * sizeof(float));
      backends_[next]->from_host(handover.data(), buffers(next).x->data(), handover.size() * sizeof(float));
      cur = next;
    }
    runtime::Backend& B = *backends_[cur];
    Buffers& b = buffers(cur);
    const LayerWeights& l = weights_.layers[il];
    B.rms_norm(b.x->f32(), l.attn_norm, T, E, c.rms_eps, b.h->f32());
    if (c.recurrent[il]) {
      deltanet_layer(il, inputs, s, b, prefer_chunked);
    } else {
      attention_layer(il, inputs, s, b);
    }
    B.add(b.x->f32(), b.out->f32(), T * E, b.x->f32());
    B.rms_norm(b.x->f32(), l.post_norm, T, E, c.rms_eps, b.h->f32());
    B.moe(l.moe, b.h->f32(), T, E, b.out->f32());
    B.add(b.x->f32(), b.out->f32(), T * E, b.x->f32());
  }

  // Final norm and LM head (on the last layer's device) only for the rows asked for.
  runtime::Backend& B = *backends_[cur];
  Buffers& b = buffers(cur);
  int64_t R = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (int64_t r : inputs[i].logit_rows) {
      B.copy_columns(b.x->f32() + (s.offset[i] + r) * E, 1, E, 0, E, b.h->f32() + R * E);
      ++R;
    }
  }
  for (const SequenceInput& in : inputs) in.state->advance(static_cast<int64_t>(in.tokens.size()));
  if (R == 0) return;
  B.rms_norm(b.h->f32(), weights_.output_norm, R, E, c.rms_eps, b.h->f32());
  auto out = B.alloc(static_cast<size_t>(R * c.n_vocab) * sizeof(float));
  B.matmul(weights_.output, 0, b.h->f32(), R, out->f32());
  B.to_host(out->data(), logits, static_cast<size_t>(R * c.n_vocab) * sizeof(float));
  B.synchronize();
}

void Qwen3NextModel::deltanet_layer(int64_t il, std::span<const SequenceInput> inputs, Scratch& s, Buffers& b,
                                    bool prefer_chunked) {
  const Qwen3NextConfig& c = config_;
  runtime::Backend& B = dev(il);
  const LayerWeights& l = weights_.layers[il];
  const int64_t T = s.n_tokens, d = c.ssm_d_state, nk = c.ssm_n_group, nv = c.ssm_dt_rank;
  const int64_t conv_dim = c.conv_dim(), vdim = c.value_dim();
  const runtime::DeltaShape shape{c.ssm_n_group, c.ssm_dt_rank, c.ssm_d_state};
  float* qkv = b.proj->f32();
  float* z = b.proj2->f32();
  float* ba = b.proj3->f32();
  B.matmul(l.wqkv, 0, b.h->f32(), T, qkv);
  B.matmul(l.wz, 0, b.h->f32(), T, z);
  B.matmul(l.wba, 0, b.h->f32(), T, ba);
  float* conv = b.c->f32();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t o = s.offset[i], n = static_cast<int64_t>(inputs[i].tokens.size());
    B.conv1d_silu(qkv + o * conv_dim, n, conv_dim, l.conv1d, c.conv_kernel, inputs[i].state->conv_state(il),
                  conv + o * conv_dim);
  }
  float* q = b.a->f32();
  float* k = b.b->f32();
  float* v = qkv;  // the projection is consumed: reuse it for v, then for the output
  B.copy_columns(conv, T, conv_dim, 0, nk * d, q);
  B.copy_columns(conv, T, conv_dim, nk * d, nk * d, k);
  B.copy_columns(conv, T, conv_dim, 2 * nk * d, vdim, v);
  B.l2_norm(q, T * nk, d, c.rms_eps, 1.0f / std::sqrt(static_cast<float>(d)), q);
  B.l2_norm(k, T * nk, d, c.rms_eps, 1.0f, k);
  B.delta_gates(ba, T, shape, l.dt_bias, l.ssm_a, b.beta->f32(), b.g->f32());
  float* o_delta = conv;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t o = s.offset[i], n = static_cast<int64_t>(inputs[i].tokens.size());
    B.gated_delta_rule(q + o * nk * d, k + o * nk * d, v + o * vdim, b.g->f32() + o * nv, b.beta->f32() + o * nv, n,
                       shape, inputs[i].state->delta_state(il), o_delta + o * vdim, prefer_chunked && n > 1);
  }
  B.rms_norm_gated(o_delta, l.ssm_norm, z, T * nv, d, c.rms_eps, o_delta);
  B.matmul(l.wout, 0, o_delta, T, b.out->f32());
}

void Qwen3NextModel::attention_layer(int64_t il, std::span<const SequenceInput> inputs, Scratch& s, Buffers& b) {
  const Qwen3NextConfig& c = config_;
  runtime::Backend& B = dev(il);
  const LayerWeights& l = weights_.layers[il];
  const int64_t T = s.n_tokens, H = c.n_head, Hkv = c.n_head_kv, hd = c.head_dim;
  const runtime::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, 1.0f / std::sqrt(static_cast<float>(hd))};
  float* qg = b.proj->f32();
  float* k = b.proj2->f32();
  float* v = b.proj3->f32();
  B.matmul(l.wq_gate, 0, b.h->f32(), T, qg);
  B.matmul(l.wk, 0, b.h->f32(), T, k);
  B.matmul(l.wv, 0, b.h->f32(), T, v);
  float* q = b.a->f32();
  float* gate = b.b->f32();
  B.copy_columns(qg, T * H, 2 * hd, 0, hd, q);
  B.copy_columns(qg, T * H, 2 * hd, hd, hd, gate);
  B.rms_norm(q, l.q_norm, T * H, hd, c.rms_eps, q);
  B.rms_norm(k, l.k_norm, T * Hkv, hd, c.rms_eps, k);
  B.rope_neox(q, T, c.n_head, c.head_dim, c.n_rot, s.positions.data(), c.rope_freq_base);
  B.rope_neox(k, T, c.n_head_kv, c.head_dim, c.n_rot, s.positions.data(), c.rope_freq_base);
  float* att = b.c->f32();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t o = s.offset[i], n = static_cast<int64_t>(inputs[i].tokens.size());
    runtime::KvLayerView kv = inputs[i].state->kv(il);
    B.kv_store(kv, k + o * Hkv * hd, v + o * Hkv * hd, n, shape, s.positions.data() + o);
    B.attention(kv, q + o * H * hd, n, shape, s.positions.data() + o, att + o * H * hd);
  }
  B.mul_sigmoid(att, gate, T * H * hd, att);
  B.matmul(l.wo, 0, att, T, b.out->f32());
}

}  // namespace nextlm::model
