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
  std::vector<int64_t> offset;     // first token of each input in the batch
  std::vector<int32_t> positions;  // per token, host
  std::vector<Buffers> device;     // per backend, then the expert backend
  std::vector<float> host;         // handover staging
};

Qwen3NextModel::Qwen3NextModel(const gguf::GgufFile& file, runtime::Backend& backend, runtime::ComputeMode mode,
                               const std::function<bool(float)>& progress)
    : Qwen3NextModel(file, std::vector<runtime::Backend*>{&backend}, {}, mode, progress) {}

Qwen3NextModel::Qwen3NextModel(const gguf::GgufFile& file, std::vector<runtime::Backend*> backends,
                               std::vector<int> layer_device, runtime::ComputeMode mode,
                               const std::function<bool(float)>& progress)
    : Qwen3NextModel(file, ModelLayout{std::move(backends), std::move(layer_device)}, mode, progress) {}

Qwen3NextModel::Qwen3NextModel(const gguf::GgufFile& file, ModelLayout layout, runtime::ComputeMode mode,
                               const std::function<bool(float)>& progress)
    : layout_(std::move(layout)), config_(Qwen3NextConfig::from_gguf(file)) {
  const gguf::TensorInfo* emb = file.find_tensor("token_embd.weight");
  if (!emb || emb->n_dims != 2) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: missing or malformed token_embd.weight", file.path()));
  }
  config_.n_vocab = emb->ne[1];
  const auto& backends = layout_.backends;
  const int nd = static_cast<int>(backends.size());
  if (backends.empty()) throw Error(ErrorCode::kInvalidArgument, "model: no backend");
  const bool tensor = !layout_.slices.empty();
  if (tensor && (static_cast<int>(layout_.slices.size()) != nd || !layout_.layer_device.empty() ||
                 (nd > 1 && (!layout_.comm || layout_.comm->size() != nd)))) {
    throw Error(ErrorCode::kInvalidArgument, "model: a tensor split needs one slice per device and a communicator");
  }
  if (layout_.cpu_moe_layers > 0 && !layout_.expert_backend) {
    throw Error(ErrorCode::kInvalidArgument, "model: --cpu-moe needs a CPU backend for the experts");
  }
  auto add_shard = [&](std::vector<int> layer_device, const TensorSlice* slice, int index) {
    Shard& sh = shards_.emplace_back();
    sh.layer_device = std::move(layer_device);
    for (int d : sh.layer_device) sh.layer_backends.push_back(backends[d]);
    ShardSpec spec{sh.layer_backends, slice, index == 0, layout_.cpu_moe_layers};
    const int n = tensor ? nd : 1;
    auto part = [&](float f) { return !progress || progress((static_cast<float>(index) + f) / static_cast<float>(n)); };
    sh.weights = Qwen3NextWeights::load(file, config_, spec, mode, progress ? part : std::function<bool(float)>{});
    sh.slice = slice ? *slice : whole_model(config_);
  };
  if (tensor) {
    shards_.reserve(backends.size());
    for (int d = 0; d < nd; ++d)
      add_shard(std::vector<int>(static_cast<size_t>(config_.n_layer), d), &layout_.slices[d], d);
  } else {
    std::vector<int> ld = layout_.layer_device;
    if (ld.empty()) ld.assign(static_cast<size_t>(config_.n_layer), 0);
    if (static_cast<int64_t>(ld.size()) != config_.n_layer) {
      throw Error(ErrorCode::kInvalidArgument, "model: layer placement does not cover every layer");
    }
    for (int d : ld) {
      if (d < 0 || d >= nd) throw Error(ErrorCode::kInvalidArgument, "model: bad layer device");
    }
    add_shard(std::move(ld), nullptr, 0);
  }
  if (layout_.cpu_moe_layers > 0) {
    cpu_experts_ = Qwen3NextWeights::load_experts(file, config_, *layout_.expert_backend, layout_.cpu_moe_layers, mode);
  }
}

std::unique_ptr<SequenceState> Qwen3NextModel::new_sequence(int64_t n_ctx, CacheTypes types) const {
  std::vector<StateShard> parts;
  const int r = config_.ssm_dt_rank / config_.ssm_n_group;
  for (const Shard& sh : shards_) {
    parts.push_back({sh.layer_backends, static_cast<int>(sh.slice.kv_heads.size()),
                     static_cast<int>(sh.slice.k_heads.size()), static_cast<int>(sh.slice.k_heads.size()) * r});
  }
  return std::make_unique<SequenceState>(config_, parts, n_ctx, types);
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
      throw Error(ErrorCode::kInvalidArgument, fmt::format("forward: {} + {} tokens exceed the context of {}",
                                                           in.state->n_past(), in.tokens.size(), in.state->n_ctx()));
    }
    for (int64_t r : in.logit_rows) {
      if (r < 0 || r >= static_cast<int64_t>(in.tokens.size())) {
        throw Error(ErrorCode::kInvalidArgument, "forward: logit row outside the input");
      }
    }
    for (int32_t id : in.tokens) {
      if (id < 0 || id >= c.n_vocab)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} out of range", id));
    }
    s.offset.push_back(s.n_tokens);
    for (size_t j = 0; j < in.tokens.size(); ++j) s.positions.push_back(static_cast<int32_t>(in.state->n_past() + j));
    ids.insert(ids.end(), in.tokens.begin(), in.tokens.end());
    s.n_tokens += static_cast<int64_t>(in.tokens.size());
  }
  const int64_t T = s.n_tokens, E = c.n_embd;
  if (T == 0) return;

  // Scratch sized for the widest intermediate of either layer kind, per device.
  const int64_t wide =
      std::max<int64_t>({c.conv_dim(), 2 * int64_t{c.n_head} * c.head_dim, E, 2 * int64_t{c.ssm_dt_rank}});
  const auto& backends = layout_.backends;
  s.device.resize(backends.size() + 1);
  auto backend_at = [&](int d) -> runtime::Backend& {
    return d < static_cast<int>(backends.size()) ? *backends[d] : *layout_.expert_backend;
  };
  auto buffers = [&](int d) -> Buffers& {
    Buffers& b = s.device[d];
    if (!b.x) {
      runtime::Backend& B = backend_at(d);
      auto buf = [&](int64_t floats) { return B.alloc(static_cast<size_t>(floats) * sizeof(float)); };
      b.x = buf(T * E), b.h = buf(T * E), b.out = buf(T * E);
      b.proj = buf(T * wide), b.proj2 = buf(T * wide), b.proj3 = buf(T * wide);
      b.a = buf(T * wide), b.b = buf(T * wide), b.c = buf(T * wide);
      b.beta = buf(T * c.ssm_dt_rank), b.g = buf(T * c.ssm_dt_rank);
    }
    return b;
  };
  // Device to device through host memory (the residual stream of a layer split, CPU experts' in/out).
  auto hand_over = [&](int from, const void* src, int to, void* dst) {
    s.host.resize(static_cast<size_t>(T * E));
    backend_at(from).to_host(src, s.host.data(), s.host.size() * sizeof(float));
    backend_at(to).from_host(s.host.data(), dst, s.host.size() * sizeof(float));
  };
  const size_t n_shards = shards_.size();
  // Sums the shards' partial block outputs (a tensor split); every device then holds the same sum.
  auto reduce_out = [&](const std::vector<int>& cur) {
    if (n_shards == 1) return;
    std::vector<float*> outs;
    for (int d : cur) outs.push_back(buffers(d).out->f32());
    layout_.comm->all_reduce_sum(outs, static_cast<size_t>(T * E));
  };

  std::vector<int> cur(n_shards);
  for (size_t i = 0; i < n_shards; ++i) cur[i] = shards_[i].layer_device.front();
  backends[cur[0]]->get_rows(shards_[0].weights.token_embd, ids.data(), T, buffers(cur[0]).x->f32());
  if (n_shards > 1) {
    std::vector<void*> xs;
    for (int d : cur) xs.push_back(buffers(d).x->data());
    layout_.comm->broadcast(0, xs, static_cast<size_t>(T * E) * sizeof(float));
  }
  for (int64_t il = 0; il < c.n_layer; ++il) {
    for (size_t i = 0; i < n_shards; ++i) {
      const int next = shards_[i].layer_device[il];
      if (next == cur[i]) continue;
      // Layer split: the residual stream moves to the next device.
      hand_over(cur[i], buffers(cur[i]).x->data(), next, buffers(next).x->data());
      cur[i] = next;
    }
    for (size_t i = 0; i < n_shards; ++i) {
      runtime::Backend& B = *backends[cur[i]];
      Buffers& b = buffers(cur[i]);
      B.rms_norm(b.x->f32(), shards_[i].weights.layers[il].attn_norm, T, E, c.rms_eps, b.h->f32());
      if (c.recurrent[il])
        deltanet_layer(il, shards_[i], static_cast<int>(i), inputs, s, b, prefer_chunked);
      else
        attention_layer(il, shards_[i], static_cast<int>(i), inputs, s, b);
    }
    reduce_out(cur);
    for (size_t i = 0; i < n_shards; ++i) {
      runtime::Backend& B = *backends[cur[i]];
      Buffers& b = buffers(cur[i]);
      const LayerWeights& l = shards_[i].weights.layers[il];
      B.add(b.x->f32(), b.out->f32(), T * E, b.x->f32());
      B.rms_norm(b.x->f32(), l.post_norm, T, E, c.rms_eps, b.h->f32());
      B.moe(l.moe, b.h->f32(), T, E, b.out->f32());
    }
    if (il < static_cast<int64_t>(cpu_experts_.size())) {
      // --cpu-moe: the routed experts run on the CPU; their sum joins the first device's part.
      const int eb = static_cast<int>(backends.size());
      Buffers& b0 = buffers(cur[0]);
      Buffers& e = buffers(eb);
      hand_over(cur[0], b0.h->data(), eb, e.h->data());
      layout_.expert_backend->moe(cpu_experts_[il], e.h->f32(), T, E, e.out->f32());
      hand_over(eb, e.out->data(), cur[0], b0.proj->data());
      backends[cur[0]]->add(b0.out->f32(), b0.proj->f32(), T * E, b0.out->f32());
    }
    reduce_out(cur);
    for (size_t i = 0; i < n_shards; ++i) {
      Buffers& b = buffers(cur[i]);
      backends[cur[i]]->add(b.x->f32(), b.out->f32(), T * E, b.x->f32());
    }
  }

  // Final norm and LM head (each shard's vocabulary rows, on its last device) only for the rows asked for.
  int64_t R = 0;
  for (const SequenceInput& in : inputs) R += static_cast<int64_t>(in.logit_rows.size());
  for (const SequenceInput& in : inputs) in.state->advance(static_cast<int64_t>(in.tokens.size()));
  if (R == 0) return;
  std::vector<float> part;
  for (size_t k = 0; k < n_shards; ++k) {
    runtime::Backend& B = *backends[cur[k]];
    Buffers& b = buffers(cur[k]);
    int64_t row = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (int64_t r : inputs[i].logit_rows) {
        B.copy_columns(b.x->f32() + (s.offset[i] + r) * E, 1, E, 0, E, b.h->f32() + row * E);
        ++row;
      }
    }
    const Range vocab = shards_[k].slice.vocab;
    const int64_t Vk = vocab.size();
    B.rms_norm(b.h->f32(), shards_[k].weights.output_norm, R, E, c.rms_eps, b.h->f32());
    auto out = B.alloc(static_cast<size_t>(R * Vk) * sizeof(float));
    B.matmul(shards_[k].weights.output, 0, b.h->f32(), R, out->f32());
    if (Vk == c.n_vocab) {
      B.to_host(out->data(), logits, static_cast<size_t>(R * Vk) * sizeof(float));
    } else {
      part.resize(static_cast<size_t>(R * Vk));
      B.to_host(out->data(), part.data(), part.size() * sizeof(float));
      for (int64_t r = 0; r < R; ++r) {
        std::copy(part.begin() + r * Vk, part.begin() + (r + 1) * Vk, logits + r * c.n_vocab + vocab.begin);
      }
    }
    B.synchronize();
  }
}

void Qwen3NextModel::deltanet_layer(int64_t il, const Shard& sh, int index, std::span<const SequenceInput> inputs,
                                    Scratch& s, Buffers& b, bool prefer_chunked) {
  const Qwen3NextConfig& c = config_;
  runtime::Backend& B = *sh.layer_backends[il];
  const LayerWeights& l = sh.weights.layers[il];
  // This shard's heads: k-heads with their value heads.
  const int64_t nk = sh.slice.k_heads.size(), nv = nk * (c.ssm_dt_rank / c.ssm_n_group);
  const int64_t T = s.n_tokens, d = c.ssm_d_state;
  const int64_t conv_dim = (2 * nk + nv) * d, vdim = nv * d;
  const runtime::DeltaShape shape{static_cast<int>(nk), static_cast<int>(nv), c.ssm_d_state};
  float* qkv = b.proj->f32();
  float* z = b.proj2->f32();
  float* ba = b.proj3->f32();
  {  // the three projections of h as one job where the backend can
    const runtime::Weight* ws[3] = {&l.wqkv, &l.wz, &l.wba};
    float* ys[3] = {qkv, z, ba};
    B.matmul_many(ws, 3, b.h->f32(), T, ys);
  }
  float* conv = b.c->f32();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t o = s.offset[i], n = static_cast<int64_t>(inputs[i].tokens.size());
    B.conv1d_silu(qkv + o * conv_dim, n, conv_dim, l.conv1d, c.conv_kernel, inputs[i].state->conv_state(il, index),
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
                       shape, inputs[i].state->delta_state(il, index), o_delta + o * vdim, prefer_chunked && n > 1);
  }
  B.rms_norm_gated(o_delta, l.ssm_norm, z, T * nv, d, c.rms_eps, o_delta);
  B.matmul(l.wout, 0, o_delta, T, b.out->f32());
}

void Qwen3NextModel::attention_layer(int64_t il, const Shard& sh, int index, std::span<const SequenceInput> inputs,
                                     Scratch& s, Buffers& b) {
  const Qwen3NextConfig& c = config_;
  runtime::Backend& B = *sh.layer_backends[il];
  const LayerWeights& l = sh.weights.layers[il];
  // This shard's heads: KV heads with the query heads that read them.
  const int64_t Hkv = sh.slice.kv_heads.size(), H = Hkv * (c.n_head / c.n_head_kv);
  const int64_t T = s.n_tokens, hd = c.head_dim;
  const runtime::AttentionShape shape{static_cast<int>(H), static_cast<int>(Hkv), c.head_dim,
                                      1.0f / std::sqrt(static_cast<float>(hd))};
  float* qg = b.proj->f32();
  float* k = b.proj2->f32();
  float* v = b.proj3->f32();
  {
    const runtime::Weight* ws[3] = {&l.wq_gate, &l.wk, &l.wv};
    float* ys[3] = {qg, k, v};
    B.matmul_many(ws, 3, b.h->f32(), T, ys);
  }
  float* q = b.a->f32();
  float* gate = b.b->f32();
  B.copy_columns(qg, T * H, 2 * hd, 0, hd, q);
  B.copy_columns(qg, T * H, 2 * hd, hd, hd, gate);
  B.rms_norm(q, l.q_norm, T * H, hd, c.rms_eps, q);
  B.rms_norm(k, l.k_norm, T * Hkv, hd, c.rms_eps, k);
  B.rope_neox(q, T, shape.n_head, c.head_dim, c.n_rot, s.positions.data(), c.rope_freq_base);
  B.rope_neox(k, T, shape.n_head_kv, c.head_dim, c.n_rot, s.positions.data(), c.rope_freq_base);
  float* att = b.c->f32();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t o = s.offset[i], n = static_cast<int64_t>(inputs[i].tokens.size());
    runtime::KvLayerView kv = inputs[i].state->kv(il, index);
    B.kv_store(kv, k + o * Hkv * hd, v + o * Hkv * hd, n, shape, s.positions.data() + o);
    B.attention(kv, q + o * H * hd, n, shape, s.positions.data() + o, att + o * H * hd);
  }
  B.mul_sigmoid(att, gate, T * H * hd, att);
  B.matmul(l.wo, 0, att, T, b.out->f32());
}

}  // namespace nextlm::model
