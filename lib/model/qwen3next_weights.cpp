#include "model/qwen3next_weights.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "nextlm/error.h"
#include "quant/dequant.h"

namespace nextlm::model {

namespace {

using quant::Type;

class Loader {
 public:
  Loader(const gguf::GgufFile& f, runtime::Backend& b, runtime::ComputeMode mode,
         std::deque<std::vector<uint8_t>>& host)
      : f_(f), b_(&b), mode_(mode), host_(host) {}
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

  runtime::Weight prepare(Type type, const void* data, int64_t cols, int64_t rows) {
    return b_->prepare_weight(type, data, cols, rows, 1, mode_);
  }

  // The rows of `ranges` (in order) of a matrix given by its bytes: one range
  // stays in place, several are gathered into a host copy.
  runtime::Weight rows_of(Type type, const uint8_t* data, int64_t cols, std::initializer_list<Range> ranges) {
    const size_t rb = quant::row_bytes(type, cols);
    int64_t n = 0;
    for (const Range& r : ranges) n += r.size();
    if (ranges.size() == 1) return prepare(type, data + ranges.begin()->begin * rb, cols, n);
    const std::vector<uint8_t>& copy = host_.emplace_back(gather_rows(data, rb, {ranges.begin(), ranges.end()}));
    return prepare(type, copy.data(), cols, n);
  }
  runtime::Weight matrix_rows(const std::string& name, int64_t cols, int64_t rows,
                              std::initializer_list<Range> ranges) {
    const gguf::TensorInfo& t = require(name, {cols, rows});
    return rows_of(t.type, t.data, cols, ranges);
  }

  // Columns `part` of every row (an output projection's input columns). Exact
  // mode computes on f32 anyway, so it cuts a dequantized copy anywhere; the
  // native mode cuts quantized rows between blocks only.
  runtime::Weight matrix_columns(const std::string& name, int64_t cols, int64_t rows, Range part) {
    const gguf::TensorInfo& t = require(name, {cols, rows});
    if (part.begin == 0 && part.end == cols) return b_->prepare_weight(t.type, t.data, cols, rows, 1, mode_);
    Type type = t.type;
    const void* data = t.data;
    if (mode_ == runtime::ComputeMode::kExact && type != Type::F32) {
      std::vector<uint8_t>& f = host_.emplace_back(static_cast<size_t>(cols * rows) * sizeof(float));
      const size_t rb = t.row_bytes();
      for (int64_t r = 0; r < rows; ++r) {
        quant::dequantize_row(type, t.data + r * rb, reinterpret_cast<float*>(f.data()) + r * cols, cols);
      }
      type = Type::F32;
      data = f.data();
    }
    const std::vector<uint8_t>& cut = host_.emplace_back(slice_columns(type, data, cols, rows, part, name));
    return b_->prepare_weight(type, cut.data(), part.size(), rows, 1, mode_);
  }

  // Experts `part` of a stack (whole matrices: stays in place).
  runtime::Weight experts(const std::string& name, int64_t cols, int64_t rows, int64_t n, Range part) {
    const gguf::TensorInfo& t = require(name, {cols, rows, n});
    const size_t mb = t.row_bytes() * static_cast<size_t>(rows);
    return b_->prepare_weight(t.type, t.data + part.begin * mb, cols, rows, part.size(), mode_);
  }

  // Elements of an f32 vector (or rows of `width` floats) in `ranges`.
  const float* vector_rows(const std::string& name, std::initializer_list<int64_t> shape, int64_t width,
                           std::initializer_list<Range> ranges) {
    const gguf::TensorInfo& t = require(name, shape);
    if (t.type != Type::F32) {
      throw Error(ErrorCode::kCorruptFile,
                  fmt::format("{}: tensor '{}' is {}, expected f32", f_.path(), name, quant::type_info(t.type).name));
    }
    const std::vector<uint8_t> bytes = gather_rows(t.data, static_cast<size_t>(width) * 4, {ranges.begin(), ranges.end()});
    std::vector<float> host(bytes.size() / 4);
    std::memcpy(host.data(), bytes.data(), bytes.size());
    return b_->prepare_vector(host.data(), host.size());
  }

  const std::string& path() const { return f_.path(); }

 private:
  const gguf::GgufFile& f_;
  runtime::Backend* b_;
  runtime::ComputeMode mode_;
  std::deque<std::vector<uint8_t>>& host_;  // host copies that prepared weights may point into
};

// The router and routed experts `part` of layer `p`.
void load_routed(Loader& L, const Qwen3NextConfig& c, const std::string& p, Range part, runtime::MoeWeights& m) {
  const int64_t E = c.n_embd;
  m.n_expert = c.n_expert;
  m.n_expert_used = c.n_expert_used;
  m.router = L.vector(p + "ffn_gate_inp.weight", {E, c.n_expert});
  m.expert_first = static_cast<int>(part.begin);
  m.expert_count = static_cast<int>(part.size());
  if (part.size() == 0) return;
  m.gate_exps = L.experts(p + "ffn_gate_exps.weight", E, c.n_ff_exp, c.n_expert, part);
  m.up_exps = L.experts(p + "ffn_up_exps.weight", E, c.n_ff_exp, c.n_expert, part);
  m.down_exps = L.experts(p + "ffn_down_exps.weight", c.n_ff_exp, E, c.n_expert, part);
}

}  // namespace

Qwen3NextWeights Qwen3NextWeights::load(const gguf::GgufFile& f, const Qwen3NextConfig& c, const ShardSpec& shard,
                                        runtime::ComputeMode mode, const std::function<bool(float)>& progress) {
  const auto& layer_backends = shard.layer_backends;
  if (static_cast<int64_t>(layer_backends.size()) != c.n_layer) {
    throw Error(ErrorCode::kInternal, "weights: one backend per layer expected");
  }
  const TensorSlice S = shard.slice ? *shard.slice : whole_model(c);
  Qwen3NextWeights w;
  Loader L(f, *layer_backends.front(), mode, w.regrouped_);
  const int64_t E = c.n_embd, V = c.n_vocab;
  const bool whole_vocab = S.vocab.size() == V;
  // The embedding lives with the first layer, the final norm and LM head with the last.
  if (shard.embedding) w.token_embd = L.matrix("token_embd.weight", E, V);
  L.use(*layer_backends.back());
  // Tied LM head when output.weight is absent (shared when on the same device).
  const char* head = L.find("output.weight") ? "output.weight" : "token_embd.weight";
  if (!L.find("output.weight") && whole_vocab && shard.embedding && layer_backends.back() == layer_backends.front()) {
    w.output = w.token_embd;
  } else {
    w.output = L.matrix_rows(head, E, V, {S.vocab});
  }
  w.output_norm = L.vector("output_norm.weight", {E});

  const int64_t d = c.ssm_d_state, nk = c.ssm_n_group, nv = c.ssm_dt_rank, r = nv / nk;
  const int64_t qkv_dim = c.conv_dim(), vdim = c.value_dim();
  const int64_t hd = c.head_dim, H = c.n_head, Hkv = c.n_head_kv, grp = H / Hkv;
  // This device's DeltaNet channels: its k-heads' q and k, its v-heads' v (and z).
  const Range kq{S.k_heads.begin * d, S.k_heads.end * d};
  const Range kk{nk * d + kq.begin, nk * d + kq.end};
  const Range kv{2 * nk * d + S.k_heads.begin * r * d, 2 * nk * d + S.k_heads.end * r * d};
  const Range vz{S.k_heads.begin * r * d, S.k_heads.end * r * d};
  const Range vh{S.k_heads.begin * r, S.k_heads.end * r};
  const Range qh{S.kv_heads.begin * grp, S.kv_heads.end * grp};
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
        l.wqkv = L.rows_of(t.type, qkv.data(), E, {kq, kk, kv});
        l.wz = L.rows_of(t.type, z.data(), E, {vz});
      } else {
        l.wqkv = L.matrix_rows(p + "attn_qkv.weight", E, qkv_dim, {kq, kk, kv});
        l.wz = L.matrix_rows(p + "attn_gate.weight", E, vdim, {vz});
      }
      // ssm_ba rows per k-head g: b of its r v-heads, then a of them.
      l.wba = L.matrix_rows(p + "ssm_ba.weight", E, 2 * nv, {{S.k_heads.begin * 2 * r, S.k_heads.end * 2 * r}});
      l.conv1d = L.vector_rows(p + "ssm_conv1d.weight", {c.conv_kernel, qkv_dim}, c.conv_kernel, {kq, kk, kv});
      l.dt_bias = L.vector_rows(p + "ssm_dt.bias", {nv}, 1, {vh});
      l.ssm_a = L.vector_rows(p + "ssm_a", {nv}, 1, {vh});
      l.ssm_norm = L.vector(p + "ssm_norm.weight", {d});
      l.wout = L.matrix_columns(p + "ssm_out.weight", vdim, E, vz);
    } else {
      // attn_q rows per query head: [q (head_dim), gate (head_dim)].
      l.wq_gate = L.matrix_rows(p + "attn_q.weight", E, 2 * H * hd, {{qh.begin * 2 * hd, qh.end * 2 * hd}});
      l.wk = L.matrix_rows(p + "attn_k.weight", E, Hkv * hd, {{S.kv_heads.begin * hd, S.kv_heads.end * hd}});
      l.wv = L.matrix_rows(p + "attn_v.weight", E, Hkv * hd, {{S.kv_heads.begin * hd, S.kv_heads.end * hd}});
      l.wo = L.matrix_columns(p + "attn_output.weight", H * hd, E, {qh.begin * hd, qh.end * hd});
      l.q_norm = L.vector(p + "attn_q_norm.weight", {hd});
      l.k_norm = L.vector(p + "attn_k_norm.weight", {hd});
    }
    runtime::MoeWeights& m = l.moe;
    load_routed(L, c, p, i < shard.cpu_moe_layers ? Range{} : S.experts, m);
    if (c.n_ff_shexp > 0 && S.shexp.size() > 0) {
      m.shared_gate_inp = L.find(p + "ffn_gate_inp_shexp.weight") ? L.vector(p + "ffn_gate_inp_shexp.weight", {E})
                                                                  : nullptr;
      m.gate_shexp = L.matrix_rows(p + "ffn_gate_shexp.weight", E, c.n_ff_shexp, {S.shexp});
      m.up_shexp = L.matrix_rows(p + "ffn_up_shexp.weight", E, c.n_ff_shexp, {S.shexp});
      m.down_shexp = L.matrix_columns(p + "ffn_down_shexp.weight", c.n_ff_shexp, E, S.shexp);
    }
    if (progress && !progress(static_cast<float>(i + 1) / static_cast<float>(c.n_layer))) {
      throw Error(ErrorCode::kCancelled, fmt::format("{}: loading cancelled", f.path()));
    }
  }
  return w;
}

std::vector<runtime::MoeWeights> Qwen3NextWeights::load_experts(const gguf::GgufFile& f, const Qwen3NextConfig& c,
                                                                runtime::Backend& backend, int n,
                                                                runtime::ComputeMode mode) {
  std::deque<std::vector<uint8_t>> unused;  // whole expert stacks stay in place
  Loader L(f, backend, mode, unused);
  std::vector<runtime::MoeWeights> out(static_cast<size_t>(std::min<int64_t>(n, c.n_layer)));
  for (size_t i = 0; i < out.size(); ++i) load_routed(L, c, fmt::format("blk.{}.", i), {0, c.n_expert}, out[i]);
  return out;
}

}  // namespace nextlm::model
