#include "model/qwen3next_config.h"

#include <fmt/format.h>

#include "nextlm/error.h"

namespace nextlm::model {

namespace {

int64_t positive(const gguf::GgufFile& f, const std::string& key, int64_t max = int64_t{1} << 40) {
  const int64_t v = f.get_int(key);
  if (v <= 0 || v > max) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: {} = {} is out of range (1..{})", f.path(), key, v, max));
  }
  return v;
}

}  // namespace

Qwen3NextConfig Qwen3NextConfig::from_gguf(const gguf::GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "qwen3next") {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: architecture '{}' is not supported (expected qwen3next)", f.path(), arch));
  }
  const std::string p = "qwen3next.";
  Qwen3NextConfig c;
  c.n_embd = positive(f, p + "embedding_length", 1 << 20);
  c.n_layer = positive(f, p + "block_count", 4096);
  c.n_ctx_train = positive(f, p + "context_length", int64_t{1} << 32);
  c.n_head = static_cast<int>(positive(f, p + "attention.head_count", 4096));
  c.n_head_kv = static_cast<int>(positive(f, p + "attention.head_count_kv", 4096));
  c.head_dim = static_cast<int>(positive(f, p + "attention.key_length", 8192));
  const int64_t v_len = f.get_int(p + "attention.value_length", c.head_dim);
  c.n_rot = static_cast<int>(f.get_int(p + "rope.dimension_count", c.head_dim));
  c.rope_freq_base = static_cast<float>(f.get_float(p + "rope.freq_base", 10000.0));
  c.rms_eps = static_cast<float>(f.get_float(p + "attention.layer_norm_rms_epsilon", 1e-6));
  c.conv_kernel = static_cast<int>(positive(f, p + "ssm.conv_kernel", 64));
  c.ssm_d_state = static_cast<int>(positive(f, p + "ssm.state_size", 4096));
  c.ssm_n_group = static_cast<int>(positive(f, p + "ssm.group_count", 4096));
  c.ssm_dt_rank = static_cast<int>(positive(f, p + "ssm.time_step_rank", 4096));
  c.ssm_d_inner = positive(f, p + "ssm.inner_size", 1 << 24);
  c.n_expert = static_cast<int>(positive(f, p + "expert_count", 1 << 16));
  c.n_expert_used = static_cast<int>(positive(f, p + "expert_used_count", 1 << 16));
  c.n_ff_exp = positive(f, p + "expert_feed_forward_length", 1 << 20);
  c.n_ff_shexp = f.get_int(p + "expert_shared_feed_forward_length", 0);
  const int64_t interval = positive(f, p + "full_attention_interval", 4096);

  auto bad = [&](const std::string& what) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: inconsistent qwen3next hyperparameters: {}", f.path(), what));
  };
  if (v_len != c.head_dim) bad("attention.value_length differs from key_length");
  if (c.n_head % c.n_head_kv) bad("head_count is not a multiple of head_count_kv");
  if (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2) bad("rope.dimension_count must be even and <= key_length");
  if (c.ssm_dt_rank % c.ssm_n_group) bad("ssm.time_step_rank (v-heads) is not a multiple of ssm.group_count");
  if (c.ssm_d_inner != int64_t{c.ssm_dt_rank} * c.ssm_d_state) bad("ssm.inner_size != time_step_rank * state_size");
  if (c.n_expert_used > c.n_expert) bad("expert_used_count exceeds expert_count");
  if (c.n_ff_shexp < 0) bad("negative expert_shared_feed_forward_length");
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f)) bad("layer_norm_rms_epsilon out of range");
  if (!(c.rope_freq_base > 0.0f)) bad("rope.freq_base must be positive");
  c.recurrent.resize(c.n_layer);
  for (int64_t i = 0; i < c.n_layer; ++i) c.recurrent[i] = (i + 1) % interval != 0;
  return c;
}

}  // namespace nextlm::model
