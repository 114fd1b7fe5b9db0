// Qwen3-Next hyperparameters, read from GGUF metadata and checked for
// consistency before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"

namespace nextlm::model {

struct Qwen3NextConfig {
  int64_t n_embd = 0, n_layer = 0, n_vocab = 0, n_ctx_train = 0;
  // gated attention
  int n_head = 0, n_head_kv = 0, head_dim = 0, n_rot = 0;
  float rope_freq_base = 10000.0f;
  // Gated DeltaNet
  int conv_kernel = 0, ssm_d_state = 0, ssm_n_group = 0, ssm_dt_rank = 0;
  int64_t ssm_d_inner = 0;
  // MoE
  int n_expert = 0, n_expert_used = 0;
  int64_t n_ff_exp = 0, n_ff_shexp = 0;
  float rms_eps = 1e-6f;
  std::vector<bool> recurrent;  // per layer: Gated DeltaNet (true) or attention

  int64_t conv_dim() const { return 2 * int64_t{ssm_n_group} * ssm_d_state + int64_t{ssm_dt_rank} * ssm_d_state; }
  int64_t value_dim() const { return int64_t{ssm_dt_rank} * ssm_d_state; }

  // Throws nextlm::Error naming the file and the offending key.
  static Qwen3NextConfig from_gguf(const gguf::GgufFile& f);
};

}  // namespace nextlm::model
