#include "model/qwen3next_weights.h"

#include <fmt/format.h>

#include <cstring>
#include <initializer_list>

#include "nextlm/error.h"

namespace nextlm::model {

namespace {

using quant::Type;

class Loader {
 public:
  Loader(const gguf::GgufFile& f, runtime::Backend& b, runtime::ComputeMode mode) : f_(f), b_(&b), mode_(mode) {}
  // The backend that the next tensors go to (a layer split changes it per layer).
  void use(runtime::Backend& b) { b_ = &b; }

  const gguf::TensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

  const gguf::TensorInfo& require(const std::string& name, std::initializer_list<int64_t> shape) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (!t) throw Error(ErrorCode::kCorruptFile, fmt::format("{}: missing tensor '{}'", f_.path(), name));
    bool ok = t->n_dims == static_cast<int>(shape.size());
    int d = 0;
    for (int64_t want : shape) ok = ok && t->ne[d++] == want;
    if (!ok) {
      std::string want = "[";
      for (int64_t v : shape) want += fmt::format("{}{}", want.size() > 1 ? ", " : "", v);
      throw Error(ErrorCode::kCorruptFile, fmt::format("{}: tensor '{}' has shape {}, expected {}]", f_.path(), name,
                                                       t->shape_string(), want));
    }
    if (!quant::type_info(t->type).can_dequantize) {
      throw Error(ErrorCode::kUnsupported, fmt::format("{}: tensor '{}' has type {}, which cannot be computed with",
                                                       f_.path(), name, quant::type_info(t->type).name));
    }
    return *t;
  }

  // Norms, biases and other small vectors must be f32, as every converter writes them.
  const float* vector(const std::string& name, std::initializer_list<int64_t> shape) {
    const gguf::TensorInfo& t = require(name, shape);
    if (t.type != Type::F32) {
      throw Error(ErrorCode::kCorruptFile,
                  fmt::format("{}: tensor '{}' is {}, expected f32", f_.path(), name, quant::type_info(t.type).name));
    }
    std::vector<float> host(static_cast<size_t>(t.n_elements()));
    std::memcpy(host.data(), t.data, host.size() * 4);  // file data need not be aligned for float access
    return b_->prepare_vector(host.data(), host.size());
  }

  runtime::Weight matrix(const std::string& name, int64_t cols, int64_t rows) {
    const gguf::TensorInfo& t = require(name, {cols, rows});
    return b_->prepare_weight(t.type, t.data, cols, rows, 1, mode_);
  }

  runtime::Weight experts(const std::string& name, int64_t cols, int64_t rows, int64_t n) {
    const gguf::TensorInfo& t = require(name, {cols, rows, n});
    return b_->prepare_weight(t.type, t.data, cols, rows, n, mode_);
  }

  runtime::Weight prepare(Type type, const void* data, int64_t cols, int64_t rows) {
    return b_->prepare_weight(type, data, cols, rows, 1, mode_);
  }

  const std::string& path() const { return f_.path(); }

 private:
  const gguf::GgufFile& f_;
  runtime::Backend* b_;
  runtime::ComputeMode mode_;
};

}  // namespace

Qwen3NextWeights Qwen3NextWeights::load(const gguf::GgufFile& f, const Qwen3NextConfig& c,
                                        std::span<runtime::Backend* const> layer_backends, runtime::ComputeMode mode,
                                        const std::function<bool(float)>& progress) {
  if (static_cast<int64_t>(layer_backends.size()) != c.n_layer) {
    throw Error(ErrorCode::kInternal, "weights: one backend per layer expected");
  }
  Loader L(f, *layer_backends.front(), mode);
  Qwen3NextWeights w;
  const int64_t E = c.n_embd, V = c.n_vocab;
  // The embedding lives with the first layer, the final norm and LM head with the last.
  w.token_embd = L.matrix("token_embd.weight", E, V);
  L.use(*layer_backends.back());
  // Tied LM head when output.weight is absent (shared when on the same device).
  if (L.find("output.weight")) w.output = L.matrix("output.weight", E, V);
  else if (layer_backends.back() == layer_backends.front()) w.output = w.token_embd;
  else w.output = L.matrix("token_embd.weight", E, V);
  w.output_norm = L.vector("output_norm.weight", {E});

  const int64_t d = c.ssm_d_state, nk = c.ssm_n_group, nv = c.ssm_dt_rank, r = nv / nk;
  const int64_t qkv_dim = c.conv_dim(), vdim = c.value_dim();
  const int64_t hd = c.head_dim, H = c.n_head, Hkv = c.n_head_kv;
  w.layers.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    L.use(*layer_backends[i]);
    const std::string p = fmt::format("blk.{}.", i);
    l.attn_norm = L.vector(p + "attn_norm.weight", {E});
    l.post_norm = L.vector(p + "post_attention_norm.weight", {E});
    if (c.recurrent[i]) {
      if (L.find(p + "ssm_in.weight")) {
        // Legacy: per k-head g the rows [q_g, k_g, v of its r v-heads, z of them].
        w.legacy_ssm_in = true;
        const gguf::TensorInfo& t = L.require(p + "ssm_in.weight", {E, qkv_dim + vdim});
        const size_t rb = t.row_bytes();
        const int64_t per = 2 * d + 2 * r * d;
        std::vector<uint8_t>& qkv = w.regrouped_.emplace_back(qkv_dim * rb);
        std::vector<uint8_t>& z = w.regrouped_.emplace_back(vdim * rb);
        auto copy = [&](std::vector<uint8_t>& dst, int64_t dst_row, int64_t src_row, int64_t n) {
          std::memcpy(dst.data() + dst_row * rb, t.data + src_row * rb, n * rb);
        };
        for (int64_t g = 0; g < nk; ++g) {
          copy(qkv, g * d, g * per, d);                               // q
          copy(qkv, nk * d + g * d, g * per + d, d);                  // k
          copy(qkv, 2 * nk * d + g * r * d, g * per + 2 * d, r * d);  // v
          copy(z, g * r * d, g * per + 2 * d + r * d, r * d);         // z
        }
        l.wqkv = L.prepare(t.type, qkv.data(), E, qkv_dim);
        l.wz = L.prepare(t.type, z.data(), E, vdim);
      } else {
        l.wqkv = L.matrix(p + "attn_qkv.weight", E, qkv_dim);
        l.wz = L.matrix(p + "attn_gate.weight", E, vdim);
      }
      l.wba = L.matrix(p + "ssm_ba.weight", E, 2 * nv);
      l.conv1d = L.vector(p + "ssm_conv1d.weight", {c.conv_kernel, qkv_dim});
      l.dt_bias = L.vector(p + "ssm_dt.bias", {nv});
      l.ssm_a = L.vector(p + "ssm_a", {nv});
      l.ssm_norm = L.vector(p + "ssm_norm.weight", {d});
      l.wout = L.matrix(p + "ssm_out.weight", vdim, E);
    } else {
      l.wq_gate = L.matrix(p + "attn_q.weight", E, 2 * H * hd);
      l.wk = L.matrix(p + "attn_k.weight", E, Hkv * hd);
      l.wv = L.matrix(p + "attn_v.weight", E, Hkv * hd);
      l.wo = L.matrix(p + "attn_output.weight", H * hd, E);
      l.q_norm = L.vector(p + "attn_q_norm.weight", {hd});
      l.k_norm = L.vector(p + "attn_k_norm.weight", {hd});
    }
    runtime::MoeWeights& m = l.moe;
    m.n_expert = c.n_expert;
    m.n_expert_used = c.n_expert_used;
    m.router = L.vector(p + "ffn_gate_inp.weight", {E, c.n_expert});
    m.gate_exps = L.experts(p + "ffn_gate_exps.weight", E, c.n_ff_exp, c.n_expert);
    m.up_exps = L.experts(p + "ffn_up_exps.weight", E, c.n_ff_exp, c.n_expert);
    m.down_exps = L.experts(p + "ffn_down_exps.weight", c.n_ff_exp, E, c.n_expert);
    if (c.n_ff_shexp > 0) {
      m.shared_gate_inp = L.find(p + "ffn_gate_inp_shexp.weight") ? L.vector(p + "ffn_gate_inp_shexp.weight", {E})
                                                                  : nullptr;
      m.gate_shexp = L.matrix(p + "ffn_gate_shexp.weight", E, c.n_ff_shexp);
      m.up_shexp = L.matrix(p + "ffn_up_shexp.weight", E, c.n_ff_shexp);
      m.down_shexp = L.matrix(p + "ffn_down_shexp.weight", c.n_ff_shexp, E);
    }
    if (progress && !progress(static_cast<float>(i + 1) / static_cast<float>(c.n_layer))) {
      throw Error(ErrorCode::kCancelled, fmt::format("{}: loading cancelled", f.path()));
    }
  }
  return w;
}

}  // namespace nextlm::model
