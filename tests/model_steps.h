// Model runs shared by the tests that compare a backend or a placement with
// the CPU: logits of a prompt fed in steps, and per-row differences.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "model/qwen3next.h"

namespace nextlm::test {

// Every row's logits for `toks` fed to one new sequence in consecutive steps of
// the given sizes (a long step takes the batched paths, single tokens decode).
inline std::vector<float> logits_in_steps(model::Qwen3NextModel& m, std::span<const int32_t> toks,
                                          std::initializer_list<int64_t> steps, model::CacheTypes cache) {
  const int64_t V = m.config().n_vocab;
  auto seq = m.new_sequence(64, cache);
  std::vector<float> all;
  int64_t b0 = 0;
  for (int64_t n : steps) {
    std::vector<int64_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[i] = i;
    std::vector<float> out(static_cast<size_t>(n * V));
    model::SequenceInput in{seq.get(), toks.subspan(static_cast<size_t>(b0), static_cast<size_t>(n)), rows};
    m.forward(std::span<const model::SequenceInput>(&in, 1), out.data());
    all.insert(all.end(), out.begin(), out.end());
    b0 += n;
  }
  return all;
}

// max |a - b| of each row of V logits, sorted ascending (compare_logits.py's per-row figure).
inline std::vector<double> sorted_row_max_diffs(const std::vector<float>& a, const std::vector<float>& b, int64_t V) {
  const int64_t R = static_cast<int64_t>(a.size()) / V;
  std::vector<double> d(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) {
    double m = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, double(std::fabs(a[r * V + i] - b[r * V + i])));
    d[r] = m;
  }
  std::sort(d.begin(), d.end());
  return d;
}

}  // namespace nextlm::test
