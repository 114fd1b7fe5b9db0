#include "synth/model_shape.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <variant>

#include "nextlm/error.h"

namespace nextlm::cli::synth {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

ModelShape tiny() {
  // The shape of the tiny-qwen3next-* fixtures (vocabulary from the tokenizer).
  ModelShape s;
  s.n_embd = 256;
  s.n_layer = 8;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.head_dim = 64;
  s.rope_dims = 16;
  s.n_ff = 1024;
  s.n_expert = 8;
  s.n_expert_used = 4;
  s.n_ff_exp = 256;
  s.n_ff_shexp = 256;
  s.ssm_conv_kernel = 4;
  s.ssm_d_state = 32;
  s.ssm_n_group = 2;
  s.ssm_dt_rank = 4;
  s.full_attention_interval = 4;
  s.context_length = 262144;
  s.rope_freq_base = 1e7;
  s.rms_eps = 1e-6;
  s.n_vocab = 0;
  return s;
}

ModelShape reap_40b() {
  // Qwen3-Coder-Next-REAP-40B-A3B. Figures from Qwen/Qwen3-Coder-Next's
  // config.json on the model hub: hidden_size 2048, num_hidden_layers 48,
  // num_attention_heads 16, num_key_value_heads 2, head_dim 256,
  // partial_rotary_factor 0.25 (-> 64 rope dims), linear_num_key_heads 16,
  // linear_num_value_heads 32, linear_key/value_head_dim 128,
  // linear_conv_kernel_dim 4, moe_intermediate_size 512,
  // shared_expert_intermediate_size 512, intermediate_size 5120,
  // num_experts_per_tok 10, vocab_size 151936, full_attention_interval 4,
  // max_position_embeddings 262144, rope_theta 1e7, rms_norm_eps 1e-6.
  // REAP prunes 512 -> 256 experts per layer (per the pruned model cards),
  // which is what makes ~40B parameters in total.
  ModelShape s = tiny();
  s.n_embd = 2048;
  s.n_layer = 48;
  s.n_head = 16;
  s.n_head_kv = 2;
  s.head_dim = 256;
  s.rope_dims = 64;
  s.n_ff = 5120;
  s.n_expert = 256;
  s.n_expert_used = 10;
  s.n_ff_exp = 512;
  s.n_ff_shexp = 512;
  s.ssm_conv_kernel = 4;
  s.ssm_d_state = 128;
  s.ssm_n_group = 16;
  s.ssm_dt_rank = 32;
  s.full_attention_interval = 4;
  s.n_vocab = 151936;
  return s;
}

ModelShape bench_cpu() {
  // The real model's per-layer shapes, but 8 layers and 64 experts, so a CPU
  // benchmark exercises realistic matrix sizes in a file of a few GB.
  ModelShape s = reap_40b();
  s.n_layer = 8;
  s.n_expert = 64;
  return s;
}

using Field = std::variant<int64_t ModelShape::*, double ModelShape::*, bool ModelShape::*>;

struct FieldDef {
  const char* name;
  Field field;
};

const FieldDef kFields[] = {
    {"n_embd", &ModelShape::n_embd},
    {"n_layer", &ModelShape::n_layer},
    {"n_head", &ModelShape::n_head},
    {"n_head_kv", &ModelShape::n_head_kv},
    {"head_dim", &ModelShape::head_dim},
    {"rope_dims", &ModelShape::rope_dims},
    {"n_ff", &ModelShape::n_ff},
    {"n_expert", &ModelShape::n_expert},
    {"n_expert_used", &ModelShape::n_expert_used},
    {"n_ff_exp", &ModelShape::n_ff_exp},
    {"n_ff_shexp", &ModelShape::n_ff_shexp},
    {"ssm_conv_kernel", &ModelShape::ssm_conv_kernel},
    {"ssm_d_state", &ModelShape::ssm_d_state},
    {"ssm_n_group", &ModelShape::ssm_n_group},
    {"ssm_dt_rank", &ModelShape::ssm_dt_rank},
    {"full_attention_interval", &ModelShape::full_attention_interval},
    {"context_length", &ModelShape::context_length},
    {"rope_freq_base", &ModelShape::rope_freq_base},
    {"rms_eps", &ModelShape::rms_eps},
    {"n_vocab", &ModelShape::n_vocab},
    {"legacy_ssm_in", &ModelShape::legacy_ssm_in},
};

std::string field_names() {
  std::string out;
  for (const FieldDef& f : kFields) out += (out.empty() ? "" : ", ") + std::string(f.name);
  return out;
}

int64_t parse_int(const std::string& key, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || errno || *end) fail(fmt::format("shape key '{}' expects an integer, got '{}'", key, v));
  return x;
}

double parse_double(const std::string& key, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || errno || *end || !std::isfinite(x)) {
    fail(fmt::format("shape key '{}' expects a number, got '{}'", key, v));
  }
  return x;
}

bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  fail(fmt::format("shape key '{}' expects 0/1/true/false, got '{}'", key, v));
}

}  // namespace

const std::vector<std::string>& shape_preset_names() {
  static const std::vector<std::string> names = {"tiny", "bench-cpu", "reap-40b"};
  return names;
}

ModelShape preset_shape(std::string_view name) {
  if (name == "tiny") return tiny();
  if (name == "bench-cpu") return bench_cpu();
  if (name == "reap-40b") return reap_40b();
  fail(fmt::format("unknown preset '{}' (known: tiny, bench-cpu, reap-40b)", name));
}

void apply_shape_overrides(ModelShape& shape, std::string_view spec) {
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string item(spec.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) fail("empty item in --shape (expected KEY=VAL,...)");
    size_t eq = item.find('=');
    if (eq == std::string::npos) fail(fmt::format("shape item '{}' is not KEY=VAL", item));
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    const FieldDef* def = nullptr;
    for (const FieldDef& f : kFields)
      if (key == f.name) def = &f;
    if (!def) fail(fmt::format("unknown shape key '{}' (known: {})", key, field_names()));
    if (auto p = std::get_if<int64_t ModelShape::*>(&def->field)) shape.*(*p) = parse_int(key, value);
    if (auto p = std::get_if<double ModelShape::*>(&def->field)) shape.*(*p) = parse_double(key, value);
    if (auto p = std::get_if<bool ModelShape::*>(&def->field)) shape.*(*p) = parse_bool(key, value);
  }
  validate_shape(shape);
}

void validate_shape(const ModelShape& s) {
  // Generous caps keep every element and byte count far from int64 overflow.
  constexpr int64_t kMaxDim = int64_t{1} << 20;
  for (const FieldDef& f : kFields) {
    auto p = std::get_if<int64_t ModelShape::*>(&f.field);
    if (!p) continue;
    int64_t v = s.*(*p);
    int64_t lo = (std::string_view(f.name) == "n_vocab") ? 0 : 1;
    int64_t hi = (std::string_view(f.name) == "context_length") ? (int64_t{1} << 31) : kMaxDim;
    if (v < lo || v > hi) fail(fmt::format("shape: {} = {} is out of range [{}, {}]", f.name, v, lo, hi));
  }
  if (s.n_layer > 4096) fail("shape: n_layer must be at most 4096");
  if (s.n_head % s.n_head_kv != 0) fail("shape: n_head must be a multiple of n_head_kv");
  if (s.rope_dims > s.head_dim || s.rope_dims % 2 != 0) fail("shape: rope_dims must be even and at most head_dim");
  if (s.n_expert_used > s.n_expert) fail("shape: n_expert_used must be at most n_expert");
  if (s.ssm_dt_rank % s.ssm_n_group != 0) fail("shape: ssm_dt_rank (v-heads) must be a multiple of ssm_n_group (k-heads)");
  if (!(s.rope_freq_base > 0)) fail("shape: rope_freq_base must be positive");
  if (!(s.rms_eps > 0 && s.rms_eps < 1)) fail("shape: rms_eps must be in (0, 1)");
  // The largest tensors: the expert stacks and the embedding matrices.
  const double big = static_cast<double>(s.n_embd) * static_cast<double>(s.n_ff_exp) * static_cast<double>(s.n_expert);
  const double vocab = static_cast<double>(s.n_embd) * static_cast<double>(s.n_vocab);
  if (big > 0x1p40 || vocab > 0x1p40) fail("shape: a tensor would exceed 2^40 elements");
}

}  // namespace nextlm::cli::synth
