#include "session/sampler.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "nextlm/error.h"

namespace nextlm::session {

Sampler::Sampler(const SamplingParams& p, int32_t n_vocab) : params_(p), n_vocab_(n_vocab), rng_(p.seed) {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, "sampling: " + what); };
  if (!std::isfinite(p.temperature)) bad("temperature must be finite");
  if (!(p.top_p > 0.0f) || std::isnan(p.top_p)) bad("top_p must be > 0");
  if (p.min_p < 0.0f || p.min_p > 1.0f || std::isnan(p.min_p)) bad("min_p must be in [0, 1]");
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty)) bad("repeat_penalty must be > 0");
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty)) bad("penalties must be finite");
  if (p.penalty_last_n < 0) bad("penalty_last_n must not be negative");
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab) bad(fmt::format("logit_bias names token {} outside the vocabulary", id));
    if (std::isnan(bias)) bad("logit_bias value is NaN");
  }
}

int32_t Sampler::sample(const float* logits, std::span<const int32_t> recent) {
  const SamplingParams& p = params_;
  work_.assign(logits, logits + n_vocab_);
  for (float& v : work_) {
    if (std::isnan(v)) v = -std::numeric_limits<float>::infinity();  // never pick a NaN logit
  }
  for (const auto& [id, bias] : p.logit_bias) work_[id] += bias;

  if (p.penalty_last_n > 0 && (p.repeat_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f)) {
    const size_t n = std::min<size_t>(recent.size(), static_cast<size_t>(p.penalty_last_n));
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : recent.subspan(recent.size() - n)) {
      if (id >= 0 && id < n_vocab_) ++counts[id];
    }
    for (const auto& [id, count] : counts) {
      float& v = work_[id];
      v = v > 0.0f ? v / p.repeat_penalty : v * p.repeat_penalty;
      v -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
    }
  }

  // Candidates sorted by logit (ties: lower id first, so results are stable).
  idx_.resize(n_vocab_);
  for (int32_t i = 0; i < n_vocab_; ++i) idx_[i] = i;
  auto by_logit = [&](int32_t a, int32_t b) { return work_[a] > work_[b] || (work_[a] == work_[b] && a < b); };
  if (p.temperature <= 0.0f) return *std::min_element(idx_.begin(), idx_.end(), by_logit);

  size_t n = idx_.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < n) {
    std::partial_sort(idx_.begin(), idx_.begin() + p.top_k, idx_.end(), by_logit);
    n = static_cast<size_t>(p.top_k);
  } else {
    std::sort(idx_.begin(), idx_.end(), by_logit);
  }
  const float top = work_[idx_[0]];
  if (!std::isfinite(top)) throw Error(ErrorCode::kInvalidArgument, "sampling: every token is banned");
  // Probabilities at temperature 1 for the truncations, as the usual chains do.
  std::vector<double> prob(n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += (prob[i] = std::exp(double(work_[idx_[i]]) - top));
  if (p.top_p < 1.0f) {
    double acc = 0.0;
    for (size_t i = 0; i < n; ++i) {
      acc += prob[i] / sum;
      if (acc >= p.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    size_t keep = 1;
    while (keep < n && prob[keep] >= p.min_p * prob[0]) ++keep;
    n = keep;
  }
  // Temperature, then a draw.
  sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += (prob[i] = std::exp((double(work_[idx_[i]]) - top) / p.temperature));
  double r = rng_.uniform_double() * sum;
  for (size_t i = 0; i < n; ++i) {
    if ((r -= prob[i]) < 0.0) return idx_[i];
  }
  return idx_[n - 1];
}

}  // namespace nextlm::session
