// The sampler chain: seeded draws checked statistically, truncations,
// penalties, bias, greedy.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "nextlm/error.h"
#include "session/sampler.h"

using namespace nextlm;

namespace {

std::map<int32_t, int> draw(SamplingParams p, const std::vector<float>& logits, int n,
                            const std::vector<int32_t>& recent = {}) {
  session::Sampler s(p, static_cast<int32_t>(logits.size()));
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits.data(), recent)];
  return counts;
}

// Pearson's chi-square statistic of observed counts against probabilities.
double chi2(const std::map<int32_t, int>& counts, const std::vector<double>& prob, int n) {
  double x = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    const double e = prob[i] * n;
    const double o = counts.count(static_cast<int32_t>(i)) ? counts.at(static_cast<int32_t>(i)) : 0;
    x += (o - e) * (o - e) / e;
  }
  return x;
}

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 1234;
  return p;
}

}  // namespace

TEST_CASE("sampler: draws follow softmax(logits / T)", "[sampler]") {
  const std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f), std::log(4.f)};
  const int n = 40000;
  // 3 degrees of freedom: chi2 < 16.3 at p = 0.001.
  CHECK(chi2(draw(plain(1.0f), logits, n), {0.1, 0.2, 0.3, 0.4}, n) < 16.3);
  // T = 0.5 squares the odds: 1:4:9:16.
  CHECK(chi2(draw(plain(0.5f), logits, n), {1 / 30., 4 / 30., 9 / 30., 16 / 30.}, n) < 16.3);
  // Same seed, same draws; another seed, other draws.
  CHECK(draw(plain(1.0f), logits, 200) == draw(plain(1.0f), logits, 200));
  auto other = plain(1.0f);
  other.seed = 99;
  CHECK(draw(other, logits, 200) != draw(plain(1.0f), logits, 200));
}

TEST_CASE("sampler: top-k, top-p and min-p truncate before the draw", "[sampler]") {
  const std::vector<float> logits = {std::log(1.f), std::log(2.f), std::log(3.f), std::log(4.f)};
  auto k2 = plain(1.0f);
  k2.top_k = 2;
  auto c = draw(k2, logits, 20000);
  REQUIRE(c.size() == 2);  // only ids 2 and 3, renormalised to 3:4
  const double e2 = 20000 * 3 / 7., e3 = 20000 * 4 / 7.;
  CHECK((c[2] - e2) * (c[2] - e2) / e2 + (c[3] - e3) * (c[3] - e3) / e3 < 10.8);  // 1 dof, p = 0.001
  auto p = plain(1.0f);
  p.top_p = 0.65f;  // 0.4 + 0.3 reaches it
  CHECK(draw(p, logits, 5000).size() == 2);
  auto m = plain(1.0f);
  m.min_p = 0.45f;  // keeps p >= 0.18: ids 1..3
  auto cm = draw(m, logits, 5000);
  CHECK(cm.size() == 3);
  CHECK(cm.count(0) == 0);
}

TEST_CASE("sampler: greedy, bias and penalties", "[sampler]") {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  CHECK(draw(plain(0.0f), logits, 5) == std::map<int32_t, int>{{1, 5}});  // tie -> lower id
  auto bias = plain(0.0f);
  bias.logit_bias = {{1, -INFINITY}};
  CHECK(draw(bias, logits, 3) == std::map<int32_t, int>{{3, 3}});
  auto rep = plain(0.0f);
  rep.repeat_penalty = 2.0f;  // 3 -> 1.5 for a repeated token
  CHECK(draw(rep, logits, 1, {1, 3}) == std::map<int32_t, int>{{2, 1}});
  auto freq = plain(0.0f);
  freq.frequency_penalty = 1.2f;  // id 1 seen twice: 3 - 2.4; id 3 once: 3 - 1.2; id 2 stays 2
  CHECK(draw(freq, logits, 1, {1, 1, 3}) == std::map<int32_t, int>{{2, 1}});
  auto pres = plain(0.0f);
  pres.presence_penalty = 0.5f;
  CHECK(draw(pres, logits, 1, {1}) == std::map<int32_t, int>{{3, 1}});
  auto window = pres;
  window.penalty_last_n = 1;  // only the last token counts
  CHECK(draw(window, logits, 1, {1, 3}) == std::map<int32_t, int>{{1, 1}});
  const std::vector<float> with_nan = {NAN, 0.5f, 0.1f};
  CHECK(draw(plain(0.0f), with_nan, 1) == std::map<int32_t, int>{{1, 1}});
}

TEST_CASE("sampler: invalid parameters are errors", "[sampler]") {
  auto p = plain(1.0f);
  p.top_p = 0.0f;
  CHECK_THROWS_AS(session::Sampler(p, 10), Error);
  p = plain(NAN);
  CHECK_THROWS_AS(session::Sampler(p, 10), Error);
  p = plain(1.0f);
  p.logit_bias = {{10, 1.0f}};
  CHECK_THROWS_AS(session::Sampler(p, 10), Error);
  p = plain(1.0f);
  p.logit_bias = {{0, -INFINITY}, {1, -INFINITY}};
  session::Sampler s(p, 2);
  const float l[] = {0.0f, 0.0f};
  CHECK_THROWS_AS(s.sample(l, {}), Error);
}
