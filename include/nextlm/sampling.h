// Sampling parameters of nextlm's sampler chain. The chain runs, in order:
// logit bias -> repetition / presence / frequency penalties over the last
// `penalty_last_n` tokens -> top-k -> top-p -> min-p -> temperature -> a draw
// from a generator seeded with `seed`. temperature <= 0 is greedy (argmax
// after bias and penalties), which is what reproducible agents usually want.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace nextlm {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;       // <= 0: off
  float top_p = 0.95f;      // >= 1: off
  float min_p = 0.05f;      // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off; > 1 discourages repeats
  float presence_penalty = 0.0f;  // subtracted once from every token seen
  float frequency_penalty = 0.0f; // subtracted per occurrence
  int32_t penalty_last_n = 64;    // how many recent tokens the penalties look at
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits; -inf bans a token
  uint64_t seed = 0;
};

}  // namespace nextlm
