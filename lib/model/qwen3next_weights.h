// Qwen3-Next weights: every tensor found by name, its shape and type checked
// against the hyperparameters (a mismatch names the tensor), then handed to
// the backend. Both published DeltaNet layouts load: `attn_qkv` + `attn_gate`,
// or the older fused `ssm_in`, whose rows are regrouped here into the same
// two matrices so that the forward pass has one shape.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/qwen3next_config.h"
#include "model/tensor_split.h"
#include "runtime/backend.h"

namespace nextlm::model {

struct LayerWeights {
  const float* attn_norm = nullptr;
  const float* post_norm = nullptr;
  // gated attention (full-attention layers)
  runtime::Weight wq_gate, wk, wv, wo;  // wq_gate rows: per head [q (head_dim), gate (head_dim)]
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  // Gated DeltaNet
  runtime::Weight wqkv, wz, wba, wout;
  const float* conv1d = nullptr;  // [conv_dim][kernel]
  const float* dt_bias = nullptr;
  const float* ssm_a = nullptr;
  const float* ssm_norm = nullptr;
  runtime::MoeWeights moe;
};

// Which weights one set holds: the layers' backends, and for a tensor split
// the device's part of every layer.
struct ShardSpec {
  std::span<runtime::Backend* const> layer_backends;  // one per layer
  const TensorSlice* slice = nullptr;                  // null: whole tensors
  bool embedding = true;                               // holds token_embd (a tensor split: the first device)
  int cpu_moe_layers = 0;  // routed experts of layers [0, N) are loaded elsewhere (load_experts)
};

struct Qwen3NextWeights {
  runtime::Weight token_embd, output;
  const float* output_norm = nullptr;
  std::vector<LayerWeights> layers;
  bool legacy_ssm_in = false;

  // progress(fraction) is called after each layer; returning false cancels
  // the load with nextlm::Error(kCancelled).
  // layer_backends[l] receives layer l's weights; the embedding goes with
  // layer 0, the output norm and LM head with the last layer.
  // For a tensor split, the slice selects the device's heads, experts, shared-expert
  // rows and vocabulary rows (quantized matrices are cut between blocks only).
  static Qwen3NextWeights load(const gguf::GgufFile& f, const Qwen3NextConfig& c, const ShardSpec& shard,
                               runtime::ComputeMode mode, const std::function<bool(float)>& progress = {});
  // --cpu-moe: the router and routed experts of layers [0, n) on `backend`, no
  // shared expert (that stays with the layer).
  static std::vector<runtime::MoeWeights> load_experts(const gguf::GgufFile& f, const Qwen3NextConfig& c,
                                                       runtime::Backend& backend, int n, runtime::ComputeMode mode);

 private:
  std::deque<std::vector<uint8_t>> regrouped_;  // host copies of regrouped legacy rows
};

}  // namespace nextlm::model
