#include "synth/synth_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>

#include "nextlm/error.h"
#include "quant/random_blocks.h"
#include "util/rng.h"

namespace nextlm::cli::synth {

using quant::Type;

namespace {

// The generation unit: rows are drawn chunk by chunk, each chunk from its own
// generator (seed, tensor name, chunk index). The chunk size is fixed here, so
// the file's bytes never depend on the thread count or the buffer size.
constexpr size_t kChunkBytes = size_t{1} << 20;

PlannedTensor matrix(std::string name, std::vector<int64_t> ne) {
  // ~1/sqrt(fan-in) keeps activations O(1) through the stack; clamped so tiny
  // and huge rows both stay in a range every quantized type represents well.
  float scale = std::clamp(1.0f / std::sqrt(static_cast<float>(ne[0])), 0.02f, 0.08f);
  return {std::move(name), std::move(ne), Type::F32, Init::kMatrix, scale};
}

PlannedTensor f32(std::string name, std::vector<int64_t> ne, Init init, float scale = 0) {
  return {std::move(name), std::move(ne), Type::F32, init, scale};
}

void plan_layer(const ModelShape& s, int64_t il, std::vector<PlannedTensor>& out) {
  const int64_t E = s.n_embd;
  const std::string p = fmt::format("blk.{}.", il);
  std::vector<PlannedTensor> t;
  t.push_back(f32(p + "attn_norm.weight", {E}, Init::kNorm));
  t.push_back(f32(p + "post_attention_norm.weight", {E}, Init::kNorm));
  t.push_back(f32(p + "ffn_gate_inp.weight", {E, s.n_expert}, Init::kSmall, 0.05f));
  t.push_back(matrix(p + "ffn_gate_exps.weight", {E, s.n_ff_exp, s.n_expert}));
  t.push_back(matrix(p + "ffn_up_exps.weight", {E, s.n_ff_exp, s.n_expert}));
  t.push_back(matrix(p + "ffn_down_exps.weight", {s.n_ff_exp, E, s.n_expert}));
  t.push_back(f32(p + "ffn_gate_inp_shexp.weight", {E}, Init::kSmall, 0.05f));
  t.push_back(matrix(p + "ffn_gate_shexp.weight", {E, s.n_ff_shexp}));
  t.push_back(matrix(p + "ffn_up_shexp.weight", {E, s.n_ff_shexp}));
  t.push_back(matrix(p + "ffn_down_shexp.weight", {s.n_ff_shexp, E}));
  if (s.is_full_attention(il)) {
    const int64_t q = s.n_head * s.head_dim, kv = s.n_head_kv * s.head_dim;
    t.push_back(matrix(p + "attn_q.weight", {E, 2 * q}));  // query and output gate, interleaved per head
    t.push_back(matrix(p + "attn_k.weight", {E, kv}));
    t.push_back(matrix(p + "attn_v.weight", {E, kv}));
    t.push_back(matrix(p + "attn_output.weight", {q, E}));
    t.push_back(f32(p + "attn_q_norm.weight", {s.head_dim}, Init::kNorm));
    t.push_back(f32(p + "attn_k_norm.weight", {s.head_dim}, Init::kNorm));
  } else {
    const int64_t V = s.ssm_dt_rank, d = s.ssm_d_state, K = s.ssm_n_group;
    if (s.legacy_ssm_in) {
      t.push_back(matrix(p + "ssm_in.weight", {E, 2 * K * d + 2 * V * d}));
    } else {
      t.push_back(matrix(p + "attn_qkv.weight", {E, s.ssm_qkv_dim()}));
      t.push_back(matrix(p + "attn_gate.weight", {E, V * d}));
    }
    t.push_back(matrix(p + "ssm_ba.weight", {E, 2 * V}));
    t.push_back(f32(p + "ssm_conv1d.weight", {s.ssm_conv_kernel, s.ssm_qkv_dim()}, Init::kSmall, 0.3f));
    t.push_back(f32(p + "ssm_a", {V}, Init::kSsmA));
    t.push_back(f32(p + "ssm_dt.bias", {V}, Init::kDtBias));
    t.push_back(f32(p + "ssm_norm.weight", {d}, Init::kNorm));
    t.push_back(matrix(p + "ssm_out.weight", {V * d, E}));
  }
  std::sort(t.begin(), t.end(), [](const PlannedTensor& a, const PlannedTensor& b) { return a.name < b.name; });
  for (PlannedTensor& x : t) out.push_back(std::move(x));
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int64_t n_rows(const PlannedTensor& t) {
  int64_t r = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) r *= t.ne[i];
  return r;
}

void put_f32(uint8_t* dst, int64_t i, float v) { std::memcpy(dst + 4 * i, &v, 4); }

// Fills rows [first, first + count) of one chunk.
void fill_chunk(const PlannedTensor& t, uint64_t tensor_seed, int64_t chunk, uint8_t* dst, int64_t count) {
  uint64_t sm = tensor_seed ^ (static_cast<uint64_t>(chunk) * 0xD1B54A32D192ED03ull);
  util::Rng rng(util::splitmix64(sm));
  const int64_t ne0 = t.ne[0];
  const size_t rb = quant::row_bytes(t.type, ne0);
  for (int64_t r = 0; r < count; ++r, dst += rb) {
    switch (t.init) {
      case Init::kMatrix: quant::fill_random_row(t.type, rng, dst, ne0, t.scale); break;
      case Init::kSmall: quant::fill_random_row(Type::F32, rng, dst, ne0, t.scale); break;
      case Init::kNorm:
        for (int64_t i = 0; i < ne0; ++i) put_f32(dst, i, 1.0f + rng.uniform(-0.05f, 0.05f));
        break;
      case Init::kSsmA:
        for (int64_t i = 0; i < ne0; ++i) put_f32(dst, i, -std::exp(rng.uniform(-1.0f, 1.0f)));
        break;
      case Init::kDtBias:
        for (int64_t i = 0; i < ne0; ++i) put_f32(dst, i, rng.uniform(-0.5f, 0.5f));
        break;
    }
  }
}

class CountingSink : public gguf::ByteSink {
 public:
  explicit CountingSink(gguf::ByteSink& inner) : inner_(inner) {}
  void write(const void* data, size_t n) override {
    inner_.write(data, n);
    bytes += n;
  }
  uint64_t bytes = 0;

 private:
  gguf::ByteSink& inner_;
};

}  // namespace

std::vector<PlannedTensor> plan_tensors(const ModelShape& shape, int64_t n_vocab, const TypeMix& mix) {
  validate_shape(shape);
  if (n_vocab < 1) throw Error(ErrorCode::kInvalidArgument, "n_vocab must be positive");
  std::vector<PlannedTensor> plan;
  plan.push_back(matrix("output.weight", {shape.n_embd, n_vocab}));
  plan.push_back(f32("output_norm.weight", {shape.n_embd}, Init::kNorm));
  plan.push_back(matrix("token_embd.weight", {shape.n_embd, n_vocab}));
  for (int64_t il = 0; il < shape.n_layer; ++il) plan_layer(shape, il, plan);

  int n_attention_wv = 0;  // llama.cpp counts attn_v and attn_qkv together
  for (const PlannedTensor& t : plan) {
    std::string kind = tensor_kind(t.name);
    if (kind == "attn_v" || kind == "attn_qkv") ++n_attention_wv;
  }
  TypeChooser chooser(mix, shape.n_layer, shape.n_expert, n_attention_wv);
  for (PlannedTensor& t : plan) t.type = chooser.choose(t.name, t.ne);
  return plan;
}

void add_model_metadata(gguf::GgufWriter& w, const ModelShape& s, const TypeMix& mix, const std::string& name) {
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  w.add_string("general.architecture", "qwen3next");
  w.add_string("general.name", name);
  w.add_u32("general.file_type", mix.file_type);
  w.add_u32("general.quantization_version", 2);
  w.add_u32("qwen3next.context_length", u32(s.context_length));
  w.add_u32("qwen3next.embedding_length", u32(s.n_embd));
  w.add_u32("qwen3next.feed_forward_length", u32(s.n_ff));
  w.add_u32("qwen3next.block_count", u32(s.n_layer));
  w.add_u32("qwen3next.attention.head_count", u32(s.n_head));
  w.add_u32("qwen3next.attention.head_count_kv", u32(s.n_head_kv));
  w.add_u32("qwen3next.attention.key_length", u32(s.head_dim));
  w.add_u32("qwen3next.attention.value_length", u32(s.head_dim));
  w.add_f32("qwen3next.rope.freq_base", static_cast<float>(s.rope_freq_base));
  w.add_u32("qwen3next.rope.dimension_count", u32(s.rope_dims));
  w.add_f32("qwen3next.attention.layer_norm_rms_epsilon", static_cast<float>(s.rms_eps));
  w.add_u32("qwen3next.expert_count", u32(s.n_expert));
  w.add_u32("qwen3next.expert_used_count", u32(s.n_expert_used));
  w.add_u32("qwen3next.expert_feed_forward_length", u32(s.n_ff_exp));
  w.add_u32("qwen3next.expert_shared_feed_forward_length", u32(s.n_ff_shexp));
  w.add_u32("qwen3next.ssm.conv_kernel", u32(s.ssm_conv_kernel));
  w.add_u32("qwen3next.ssm.state_size", u32(s.ssm_d_state));
  w.add_u32("qwen3next.ssm.group_count", u32(s.ssm_n_group));
  w.add_u32("qwen3next.ssm.time_step_rank", u32(s.ssm_dt_rank));
  w.add_u32("qwen3next.ssm.inner_size", u32(s.ssm_inner()));
  w.add_u32("qwen3next.full_attention_interval", u32(s.full_attention_interval));
}

SynthResult write_synth_model(const SynthOptions& opts, gguf::ByteSink& out) {
  if (!opts.tokenizer) throw Error(ErrorCode::kInternal, "write_synth_model: no tokenizer");
  const int64_t n_vocab = opts.tokenizer->resolve_vocab(opts.shape.n_vocab);
  const std::vector<PlannedTensor> plan = plan_tensors(opts.shape, n_vocab, opts.mix);

  gguf::GgufWriter w;
  add_model_metadata(w, opts.shape, opts.mix, opts.name);
  opts.tokenizer->write_metadata(w, n_vocab);
  uint64_t data_bytes = 0;
  for (const PlannedTensor& t : plan) {
    size_t i = w.add_tensor(t.name, t.type, t.ne);
    data_bytes += (w.tensor_bytes(i) + 31) / 32 * 32;  // the writer's default alignment
  }
  CountingSink sink(out);
  w.write_header(sink);
  const uint64_t total = sink.bytes + data_bytes;
  if (opts.header_only) return {plan.size(), total, n_vocab};

  int threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, 8);
  const int batch = threads * 2;  // chunks in flight; each owns one buffer slot
  std::vector<std::vector<uint8_t>> slots(static_cast<size_t>(batch));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(batch));

  for (const PlannedTensor& t : plan) {
    const uint64_t tensor_seed = util::Rng(opts.seed ^ fnv1a(t.name)).next_u64();
    const size_t rb = quant::row_bytes(t.type, t.ne[0]);
    const int64_t rows = n_rows(t);
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / rb));
    const int64_t n_chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += batch) {
      const int64_t n_here = std::min<int64_t>(batch, n_chunks - c0);
      auto chunk_rows = [&](int64_t c) { return std::min(rows_per_chunk, rows - c * rows_per_chunk); };
      auto work = [&](int first) {
        for (int64_t k = first; k < n_here; k += threads) {
          try {
            auto& buf = slots[static_cast<size_t>(k)];
            buf.resize(static_cast<size_t>(chunk_rows(c0 + k)) * rb);
            fill_chunk(t, tensor_seed, c0 + k, buf.data(), chunk_rows(c0 + k));
          } catch (...) {
            errors[static_cast<size_t>(k)] = std::current_exception();
          }
        }
      };
      if (n_here == 1 || threads == 1) {
        for (int k = 0; k < threads; ++k) work(k);
      } else {
        std::vector<std::thread> pool;
        for (int k = 1; k < threads; ++k) pool.emplace_back(work, k);
        work(0);
        for (std::thread& th : pool) th.join();
      }
      for (int64_t k = 0; k < n_here; ++k) {
        if (auto& e = errors[static_cast<size_t>(k)]) std::rethrow_exception(std::exchange(e, nullptr));
        const auto& buf = slots[static_cast<size_t>(k)];
        w.write_tensor_data(sink, buf.data(), buf.size());
      }
      if (opts.progress) opts.progress(sink.bytes, total);
    }
  }
  w.finish();
  return {plan.size(), sink.bytes, n_vocab};
}

}  // namespace nextlm::cli::synth
