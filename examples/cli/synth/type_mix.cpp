#include "synth/type_mix.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "nextlm/error.h"

namespace nextlm::cli::synth {

using quant::Type;

namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

struct MixPreset {
  const char* name;
  TypeMix::Policy policy;
  Type base;
  uint32_t file_type;  // llama_ftype
};

const MixPreset kPresets[] = {
    {"iq3_m", TypeMix::Policy::kIq3M, Type::IQ3_S, 27},
    {"q4_k_m", TypeMix::Policy::kQ4KM, Type::Q4_K, 15},
    {"q8_0", TypeMix::Policy::kUniform, Type::Q8_0, 7},
    {"bf16", TypeMix::Policy::kUniform, Type::BF16, 32},
    {"f16", TypeMix::Policy::kUniform, Type::F16, 1},
    {"f32", TypeMix::Policy::kUniform, Type::F32, 0},
};

// llama_ftype of a file that is "mostly" t, for general.file_type of a
// uniform mix (k-quants map to their _S variant, the closest uniform one).
uint32_t ftype_of(Type t) {
  switch (t) {
    case Type::F32: return 0;
    case Type::F16: return 1;
    case Type::Q4_0: return 2;
    case Type::Q4_1: return 3;
    case Type::Q8_0: return 7;
    case Type::Q5_0: return 8;
    case Type::Q5_1: return 9;
    case Type::Q2_K: return 10;
    case Type::Q3_K: return 11;
    case Type::Q4_K: return 14;
    case Type::Q5_K: return 16;
    case Type::Q6_K: return 18;
    case Type::IQ2_XXS: return 19;
    case Type::IQ2_XS: return 20;
    case Type::IQ3_XXS: return 23;
    case Type::IQ1_S: return 24;
    case Type::IQ4_NL: return 25;
    case Type::IQ3_S: return 26;
    case Type::IQ2_S: return 28;
    case Type::IQ4_XS: return 30;
    case Type::IQ1_M: return 31;
    case Type::BF16: return 32;
    case Type::TQ1_0: return 36;
    case Type::TQ2_0: return 37;
    case Type::MXFP4: return 38;
    default: return 0;
  }
}

// Types a weight may be stored in (not the integer types, nor q8_1/q8_K which
// exist only as matmul operands).
Type parse_weight_type(const std::string& s) {
  auto t = quant::type_from_name(s);
  if (!t) fail(fmt::format("unknown tensor type '{}'", s));
  switch (*t) {
    case Type::I8:
    case Type::I16:
    case Type::I32:
    case Type::I64:
    case Type::F64:
    case Type::Q8_1:
    case Type::Q8_K: fail(fmt::format("type '{}' cannot hold model weights", s));
    default: return *t;
  }
}

int64_t block_of(Type t) { return quant::type_info(t).block_size; }

}  // namespace

const std::vector<std::string>& mix_preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const MixPreset& p : kPresets) v.emplace_back(p.name);
    return v;
  }();
  return names;
}

const std::vector<std::string>& quantizable_kinds() {
  static const std::vector<std::string> kinds = {
      "token_embd",    "output",         "attn_q",         "attn_k",        "attn_v",
      "attn_output",   "attn_qkv",       "attn_gate",      "ssm_in",        "ssm_ba",
      "ssm_out",       "ffn_gate_exps",  "ffn_up_exps",    "ffn_down_exps", "ffn_gate_shexp",
      "ffn_up_shexp",  "ffn_down_shexp",
  };
  return kinds;
}

TypeMix parse_type_mix(std::string_view spec) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    items.emplace_back(spec.substr(pos, comma - pos));
    pos = comma + 1;
  }
  TypeMix mix;
  size_t first = 0;
  std::string preset = "iq3_m";
  if (!items.empty() && items[0].find('=') == std::string::npos) {
    preset = items[0];
    first = 1;
  }
  const MixPreset* p = nullptr;
  for (const MixPreset& c : kPresets)
    if (preset == c.name) p = &c;
  if (!p) fail(fmt::format("unknown type mix preset '{}' (known: iq3_m, q4_k_m, q8_0, bf16, f16, f32)", preset));
  mix.name = p->name;
  mix.policy = p->policy;
  mix.base = p->base;
  mix.file_type = p->file_type;

  const auto& kinds = quantizable_kinds();
  for (size_t i = first; i < items.size(); ++i) {
    const std::string& item = items[i];
    size_t eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      fail(fmt::format("type mix item '{}' is not KIND=TYPE (a preset may only come first)", item));
    }
    std::string kind = item.substr(0, eq);
    Type t = parse_weight_type(item.substr(eq + 1));
    if (kind == "default") {
      mix.policy = TypeMix::Policy::kUniform;
      mix.base = t;
      mix.file_type = ftype_of(t);
    } else if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
      mix.overrides[kind] = t;
    } else {
      std::string known;
      for (const std::string& k : kinds) known += " " + k;
      fail(fmt::format("unknown tensor kind '{}' in type mix (known: default{})", kind, known));
    }
  }
  return mix;
}

std::string tensor_kind(std::string_view name) {
  if (name.rfind("blk.", 0) == 0) {
    size_t dot = name.find('.', 4);
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  for (std::string_view suffix : {".weight", ".bias"}) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      return std::string(name.substr(0, name.size() - suffix.size()));
    }
  }
  return std::string(name);
}

int tensor_layer(std::string_view name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int layer = -1;
  auto [ptr, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), layer);
  if (ec != std::errc() || ptr == name.data() + name.size() || *ptr != '.') return -1;
  return layer;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

bool is_quantizable(std::string_view kind, size_t n_dims) {
  return n_dims >= 2 && kind != "ffn_gate_inp" && kind != "ssm_conv1d";
}

Type fallback_for_row(Type t, int64_t ne0) {
  if (ne0 % block_of(t) == 0) return t;
  Type r = Type::F16;
  switch (t) {
    case Type::IQ1_S:
    case Type::IQ1_M:
    case Type::IQ2_XXS:
    case Type::IQ2_XS:
    case Type::IQ2_S:
    case Type::IQ3_XXS:
    case Type::IQ3_S:
    case Type::IQ4_XS: r = Type::IQ4_NL; break;
    // Current llama.cpp sends these to q4_0 (older versions used iq4_nl).
    case Type::Q2_K:
    case Type::Q3_K:
    case Type::TQ1_0:
    case Type::TQ2_0: r = Type::Q4_0; break;
    case Type::Q4_K: r = Type::Q5_0; break;
    case Type::Q5_K: r = Type::Q5_1; break;
    case Type::Q6_K: r = Type::Q8_0; break;
    default: break;  // llama.cpp has no fallback here; F16 keeps the file valid
  }
  return ne0 % block_of(r) == 0 ? r : Type::F16;
}

// llama_tensor_get_type_impl for LLAMA_FTYPE_MOSTLY_IQ3_M and _Q4_K_M, as in
// current llama.cpp, where attn_qkv is an "attn_v-like" tensor: it shares the
// attn_v rules and counter (the fixtures confirm this: attn_qkv -> q8_0 with
// 8 experts). Branches for other ftypes or architectures are left out.
Type TypeChooser::rule_type(std::string_view name, std::string_view kind, int64_t ne0) {
  const bool iq3m = mix_.policy == TypeMix::Policy::kIq3M;
  const Type base = mix_.base;
  if (kind == "output") {
    if (ne0 % block_of(base) != 0) return Type::Q8_0;
    return base == Type::Q8_0 ? base : Type::Q6_K;
  }
  if (kind == "token_embd") return base;
  if (kind == "attn_v" || kind == "attn_qkv") {
    Type t = base;
    if (iq3m) t = Type::Q4_K;
    else if (use_more_bits(i_attention_wv_, n_attention_wv_)) t = Type::Q6_K;
    if (n_expert_ == 8) t = Type::Q8_0;  // "bumping this to Q8_0 trades just ~128MB"
    ++i_attention_wv_;
    return t;
  }
  if (kind == "attn_k") return n_expert_ == 8 ? Type::Q8_0 : base;
  if (kind == "ffn_down_exps" || kind == "ffn_down_shexp") {
    const int i = tensor_layer(name);  // both count against block_count
    if (i < 0 || i >= n_layer_) fail(fmt::format("tensor '{}' has no valid layer number", name));
    if (iq3m) {
      return (i < n_layer_ / 8 || (n_expert_ == 8 && use_more_bits(i, n_layer_))) ? Type::Q4_K : base;
    }
    return use_more_bits(i, n_layer_) ? Type::Q6_K : base;
  }
  if (kind == "attn_output") {
    if (n_expert_ == 8) return Type::Q5_K;
    return iq3m ? Type::Q4_K : base;
  }
  return base;  // attn_q, attn_gate, ssm_in, ssm_ba, ssm_out, ffn_gate/up
}

Type TypeChooser::choose(std::string_view name, std::span<const int64_t> ne) {
  const std::string kind = tensor_kind(name);
  if (!is_quantizable(kind, ne.size())) return Type::F32;
  Type t = mix_.base;
  if (auto it = mix_.overrides.find(kind); it != mix_.overrides.end()) {
    t = it->second;  // as llama-quantize --tensor-type: the rules (and their counters) are skipped
  } else if (mix_.policy != TypeMix::Policy::kUniform) {
    t = rule_type(name, kind, ne[0]);
  }
  return fallback_for_row(t, ne[0]);
}

}  // namespace nextlm::cli::synth
