// Plans and streams a random Qwen3-Next GGUF in the real layout: tensor names,
// shapes, order and metadata as llama.cpp's converter + llama-quantize write
// them, and data generated directly in the target types, chunk by chunk, so
// an 18 GB model needs only a few MiB of memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "quant/types.h"
#include "synth/model_shape.h"
#include "synth/tokenizer_source.h"
#include "synth/type_mix.h"

namespace nextlm::cli::synth {

// How a tensor's values are drawn (all deterministic from the seed).
enum class Init {
  kMatrix,  // uniform in about +-scale, scale ~ 1/sqrt(ne0)
  kNorm,    // 1 +- 0.05 (GGUF norms hold the effective multiplier)
  kSsmA,    // -exp(u), u in [-1, 1): GGUF's ssm_a is -exp(A_log)
  kDtBias,  // small, in [-0.5, 0.5)
  kSmall,   // uniform in +-scale, F32 (conv taps, router, shared-expert gate)
};

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> ne;  // ne[0] first, as in GGUF
  quant::Type type = quant::Type::F32;
  Init init = Init::kMatrix;
  float scale = 0;
};

// The tensor table in file order: output, output_norm, token_embd, then each
// layer's tensors sorted by name (what llama-quantize's output looks like).
std::vector<PlannedTensor> plan_tensors(const ModelShape& shape, int64_t n_vocab, const TypeMix& mix);

// general.* and qwen3next.* keys, with the fixtures' value types.
void add_model_metadata(gguf::GgufWriter& w, const ModelShape& shape, const TypeMix& mix, const std::string& name);

struct SynthOptions {
  ModelShape shape;
  TypeMix mix;
  const TokenizerSource* tokenizer = nullptr;
  std::string name;  // general.name
  uint64_t seed = 1;
  int threads = 0;   // data generators; 0 = hardware concurrency (max 8). Never changes the bytes.
  // Write only the header; the caller extends the file to `bytes` (sparse,
  // all-zero weights: valid blocks, for planning and loader tests of real sizes).
  bool header_only = false;
  // Called now and then with (bytes written, bytes in total).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct SynthResult {
  size_t n_tensors = 0;
  uint64_t bytes = 0;  // whole file
  int64_t n_vocab = 0;
};

// Writes the whole file to `out`. The output depends only on the options'
// shape, mix, tokenizer, name and seed.
SynthResult write_synth_model(const SynthOptions& opts, gguf::ByteSink& out);

}  // namespace nextlm::cli::synth
