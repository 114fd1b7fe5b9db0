// The sampler chain (see include/nextlm/sampling.h for the order and
// semantics). Deterministic for a given seed and input.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "nextlm/sampling.h"
#include "util/rng.h"

namespace nextlm::session {

class Sampler {
 public:
  // Throws nextlm::Error(kInvalidArgument) for out-of-range parameters.
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // Picks the next token from logits[n_vocab]; `recent` is the token history
  // the penalties look at (its last penalty_last_n entries).
  int32_t sample(const float* logits, std::span<const int32_t> recent);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  int32_t n_vocab_;
  util::Rng rng_;
  std::vector<float> work_;
  std::vector<int32_t> idx_;
};

}  // namespace nextlm::session
