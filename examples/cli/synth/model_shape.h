// Hyperparameters of a synthesized Qwen3-Next model: named presets plus
// `KEY=VAL,...` overrides, validated before any tensor is planned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::cli::synth {

struct ModelShape {
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;     // attention q-heads
  int64_t n_head_kv = 0;  // attention kv-heads
  int64_t head_dim = 0;   // attention.key_length == attention.value_length
  int64_t rope_dims = 0;  // rope.dimension_count (partial rotary)
  int64_t n_ff = 0;       // feed_forward_length: metadata only (every layer is MoE)
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_ff_shexp = 0;
  int64_t ssm_conv_kernel = 0;
  int64_t ssm_d_state = 0;  // DeltaNet k head dim == v head dim
  int64_t ssm_n_group = 0;  // DeltaNet k-heads
  int64_t ssm_dt_rank = 0;  // DeltaNet v-heads
  int64_t full_attention_interval = 0;
  int64_t context_length = 0;
  double rope_freq_base = 0;
  double rms_eps = 0;
  int64_t n_vocab = 0;         // 0: whatever the tokenizer has
  bool legacy_ssm_in = false;  // one fused ssm_in instead of attn_qkv + attn_gate

  // Layer i is full attention iff (i + 1) % full_attention_interval == 0.
  bool is_full_attention(int64_t layer) const { return (layer + 1) % full_attention_interval == 0; }
  int64_t ssm_inner() const { return ssm_d_state * ssm_dt_rank; }  // ssm.inner_size
  // Rows of the fused q/k/v projection and of the short convolution.
  int64_t ssm_qkv_dim() const { return 2 * ssm_n_group * ssm_d_state + ssm_dt_rank * ssm_d_state; }
};

// The preset names, in the order `nextlm synth` lists them.
const std::vector<std::string>& shape_preset_names();
// Throws nextlm::Error(kInvalidArgument) for an unknown name.
ModelShape preset_shape(std::string_view name);
// Applies "key=value,key=value" (keys are the field names above; bools take
// 0/1/true/false). Throws nextlm::Error(kInvalidArgument) on unknown keys,
// malformed values, and then on a shape that fails validate_shape.
void apply_shape_overrides(ModelShape& shape, std::string_view spec);
// Checks the relations the architecture needs (head counts divide, rope fits
// the head, sizes positive and small enough not to overflow byte counts).
void validate_shape(const ModelShape& shape);

}  // namespace nextlm::cli::synth
