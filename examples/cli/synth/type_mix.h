// Which GGML type each tensor of a synthesized model gets. The iq3_m and
// q4_k_m presets reproduce llama.cpp's llama_tensor_get_type decisions for
// qwen3next (no imatrix-dependent branches apply to these two), so a
// synthesized file has the same tensor table as a real quantized model.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quant/types.h"

namespace nextlm::cli::synth {

struct TypeMix {
  enum class Policy { kIq3M, kQ4KM, kUniform };
  std::string name;                              // the preset it started from
  Policy policy = Policy::kIq3M;
  quant::Type base = quant::Type::IQ3_S;         // type of tensors no rule singles out
  uint32_t file_type = 27;                       // llama_ftype for general.file_type
  std::map<std::string, quant::Type> overrides;  // tensor kind -> type, applied last
};

// MIX is a preset (iq3_m, q4_k_m, q8_0, bf16, f16, f32), optionally followed
// by KIND=TYPE items (",ffn_up_exps=q8_0"); without a leading preset iq3_m is
// assumed. `default=TYPE` makes the mix uniform in TYPE before the per-kind
// items. Throws nextlm::Error(kInvalidArgument) on anything malformed.
TypeMix parse_type_mix(std::string_view spec);
const std::vector<std::string>& mix_preset_names();
// Tensor kinds that may be quantized (and so named in KIND=TYPE).
const std::vector<std::string>& quantizable_kinds();

// "blk.3.ffn_down_exps.weight" -> "ffn_down_exps", "output.weight" -> "output",
// "blk.0.ssm_a" -> "ssm_a", "blk.0.ssm_dt.bias" -> "ssm_dt".
std::string tensor_kind(std::string_view name);
// Layer number of a "blk.N." name; -1 for global tensors.
int tensor_layer(std::string_view name);
// llama.cpp's rule for spending more bits on some layers.
bool use_more_bits(int i_layer, int n_layers);
// Whether a tensor is stored quantized at all: 2-D+ weights except the MoE
// router and the short convolution (llama.cpp keeps those, and all 1-D
// tensors, in F32).
bool is_quantizable(std::string_view kind, size_t n_dims);
// llama.cpp's replacement when ne0 is not a multiple of t's block size
// (IQ4_NL, Q5_0, Q5_1, Q8_0, ... and F16 as the last resort).
quant::Type fallback_for_row(quant::Type t, int64_t ne0);

// Picks types tensor by tensor, in file order (attn_v's choice depends on how
// many attn_v tensors came before, as in llama.cpp).
class TypeChooser {
 public:
  TypeChooser(const TypeMix& mix, int64_t n_layer, int64_t n_expert, int n_attention_wv)
      : mix_(mix), n_layer_(static_cast<int>(n_layer)), n_expert_(n_expert), n_attention_wv_(n_attention_wv) {}
  quant::Type choose(std::string_view name, std::span<const int64_t> ne);

 private:
  quant::Type rule_type(std::string_view name, std::string_view kind, int64_t ne0);

  const TypeMix& mix_;
  int n_layer_;
  int64_t n_expert_;
  int n_attention_wv_;
  int i_attention_wv_ = 0;
};

}  // namespace nextlm::cli::synth
