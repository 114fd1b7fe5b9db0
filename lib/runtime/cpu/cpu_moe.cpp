// The MoE block on the CPU: router, top-k, the chosen experts' SwiGLU FFNs
// (grouped by expert, so each expert's weights are read once per batch) and
// the shared expert.
//
// Decode (up to cpu::kDecodeMaxTokens tokens) takes a fused path: the gate and up rows of every
// chosen expert and of the shared expert are one parallel job, the down rows a
// second, instead of three jobs per expert; it uses the same dot kernels in
// the same order, so its results are bit-identical to the general path.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "quant/dot.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu/cpu_math.h"
#include "runtime/cpu/cpu_segments.h"

namespace nextlm::runtime {

using cpu::QRow;
using cpu::Segment;

namespace {

// Softmax over the router logits, top-k (ties go to the lower expert index,
// as a stable descending sort gives), weights renormalised over the k chosen.
void route(const float* logits, int n_expert, int k, int* chosen, float* weights) {
  std::vector<float> p(logits, logits + n_expert);
  const float mx = *std::max_element(p.begin(), p.end());
  float sum = 0.0f;
  for (float& v : p) sum += (v = std::exp(v - mx));
  for (float& v : p) v /= sum;
  std::vector<int> idx(n_expert);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return p[a] > p[b]; });
  float wsum = 0.0f;
  for (int j = 0; j < k; ++j) wsum += p[idx[j]];
  for (int j = 0; j < k; ++j) {
    chosen[j] = idx[j];
    weights[j] = p[idx[j]] / wsum;
  }
}

// The shared expert's weight for one token's input row.
float shared_gate(const MoeWeights& m, const float* xt, int64_t n_embd) {
  return m.shared_gate_inp ? cpu::fast_sigmoid(cpu::dot(m.shared_gate_inp, xt, n_embd)) : 1.0f;
}

}  // namespace

bool CpuBackend::moe_decode(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, const int* chosen,
                            const float* weight, float* y) {
  const int K = m.n_expert_used;
  const bool shared = m.gate_shexp.rows > 0;
  if (n_tokens > cpu::kDecodeMaxTokens || n_embd % 32 != 0) return false;
  for (const Weight* w : {&m.gate_exps, &m.up_exps, &m.down_exps})
    if (!cpu::has_vec_dot(*w)) return false;
  if (shared) {
    for (const Weight* w : {&m.gate_shexp, &m.up_shexp, &m.down_shexp})
      if (!cpu::has_vec_dot(*w)) return false;
  }

  // Items: (token, local expert) pairs in ascending expert order per token, as
  // the general path adds them; then the shared expert per token.
  struct Item {
    int64_t t;
    int expert;  // local index, or -1 for the shared expert
    float weight;
  };
  std::vector<Item> items;
  const int e0 = m.expert_first, n_local = m.local_experts();
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<std::pair<int, float>> picks;
    for (int k = 0; k < K; ++k) {
      const int e = chosen[t * K + k] - e0;
      if (e >= 0 && e < n_local) picks.emplace_back(e, weight[t * K + k]);
    }
    std::sort(picks.begin(), picks.end());
    for (const auto& [e, wgt] : picks) items.push_back({t, e, wgt});
  }
  if (shared) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float g = shared_gate(m, x + t * n_embd, n_embd);
      items.push_back({t, -1, g});
    }
  }

  std::vector<QRow> xq(static_cast<size_t>(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) xq[t].set(x + t * n_embd, n_embd);
  const int64_t ff = m.gate_exps.rows, ff_sh = shared ? m.gate_shexp.rows : 0;
  // Item i's hidden rows start at off[i] in g and u; its output at i * n_embd in d.
  std::vector<int64_t> off(items.size() + 1, 0);
  for (size_t i = 0; i < items.size(); ++i) off[i + 1] = off[i] + (items[i].expert < 0 ? ff_sh : ff);
  std::vector<float> g(static_cast<size_t>(off.back())), u(g.size()), d(items.size() * static_cast<size_t>(n_embd));
  std::vector<Segment> segs;
  for (size_t i = 0; i < items.size(); ++i) {
    const bool sh = items[i].expert < 0;
    const int64_t mat = sh ? 0 : items[i].expert;
    segs.push_back(cpu::segment(sh ? m.gate_shexp : m.gate_exps, mat, xq[items[i].t], g.data() + off[i]));
    segs.push_back(cpu::segment(sh ? m.up_shexp : m.up_exps, mat, xq[items[i].t], u.data() + off[i]));
  }
  cpu::run_segments(pool_, segs);

  cpu::silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), g.data());
  std::vector<QRow> hq(items.size());
  segs.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    hq[i].set(g.data() + off[i], off[i + 1] - off[i]);
    const bool sh = items[i].expert < 0;
    segs.push_back(
        cpu::segment(sh ? m.down_shexp : m.down_exps, sh ? 0 : items[i].expert, hq[i], d.data() + i * n_embd));
  }
  cpu::run_segments(pool_, segs);

  // (y arrives zeroed: moe() clears it in the routing job.) The general path adds expert by expert (ascending) over all
  // tokens, then the shared expert: per token that is the order of `items`.
  for (size_t i = 0; i < items.size(); ++i) {
    float* yt = y + items[i].t * n_embd;
    const float wgt = items[i].weight;
    const float* di = d.data() + i * n_embd;
    for (int64_t c = 0; c < n_embd; ++c) yt[c] += wgt * di[c];
  }
  return true;
}

void CpuBackend::moe(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) {
  const int E = m.n_expert, K = m.n_expert_used;
  std::vector<float> logits(n_tokens * E);
  // (A grain of 16 rows splits even a decode step's router, 64 f32 rows, over the threads.)
  pool_.parallel_for(n_tokens * E, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) logits[i] = cpu::dot(m.router + (i % E) * n_embd, x + (i / E) * n_embd, n_embd);
  });
  std::vector<int> chosen(n_tokens * K);
  std::vector<float> weight(n_tokens * K);
  // Tokens route independently; a prefill batch's routing split over the pool.
  pool_.parallel_for(n_tokens, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) route(&logits[t * E], E, K, &chosen[t * K], &weight[t * K]);
    std::fill(y + t0 * n_embd, y + t1 * n_embd, 0.0f);  // (the output rows the experts add to)
  });
  if (moe_decode(m, x, n_tokens, n_embd, chosen.data(), weight.data(), y)) return;

  // Group the (token, slot) pairs by expert so each expert's weights are read once.
  std::vector<std::vector<int64_t>> by_expert(E);
  for (int64_t i = 0; i < n_tokens * K; ++i) by_expert[chosen[i]].push_back(i);

  std::vector<float> xe, ge, ue, de;
  auto ffn = [&](const Weight& gate, const Weight& up, const Weight& down, int64_t mat, int64_t n) {
    ge.resize(n * gate.rows);
    ue.resize(n * up.rows);
    de.resize(n * n_embd);
    const Weight* gu[2] = {&gate, &up};
    const int64_t mats[2] = {mat, mat};
    float* ys[2] = {ge.data(), ue.data()};
    matmul_group(gu, mats, 2, xe.data(), n, ys);  // one quantization and job for both
    pool_.parallel_for(static_cast<int64_t>(ge.size()), 4096, [&](int64_t i0, int64_t i1) {
      cpu::silu_mul(ge.data() + i0, ue.data() + i0, i1 - i0, ge.data() + i0);
    });
    matmul(down, mat, ge.data(), n, de.data());
  };
  const int e0 = m.expert_first, e1 = m.expert_first + m.local_experts();
  for (int e = std::max(0, e0); e < std::min(E, e1); ++e) {
    const auto& items = by_expert[e];
    if (items.empty()) continue;
    const int64_t n = static_cast<int64_t>(items.size());
    xe.resize(n * n_embd);
    // The gather and the weighted add split by token: an expert's items are
    // distinct tokens, so each y row still takes its experts in ascending order.
    pool_.parallel_for(n, 8, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t t = items[j] / K;
        std::copy(x + t * n_embd, x + (t + 1) * n_embd, xe.begin() + j * n_embd);
      }
    });
    ffn(m.gate_exps, m.up_exps, m.down_exps, e - e0, n);
    pool_.parallel_for(n, 8, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t t = items[j] / K;
        const float wgt = weight[items[j]];
        for (int64_t i = 0; i < n_embd; ++i) y[t * n_embd + i] += wgt * de[j * n_embd + i];
      }
    });
  }
  if (m.gate_shexp.rows > 0) {
    xe.assign(x, x + n_tokens * n_embd);
    ffn(m.gate_shexp, m.up_shexp, m.down_shexp, 0, n_tokens);
    pool_.parallel_for(n_tokens, 8, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const float g = shared_gate(m, x + t * n_embd, n_embd);
        for (int64_t i = 0; i < n_embd; ++i) y[t * n_embd + i] += g * de[t * n_embd + i];
      }
    });
  }
}

}  // namespace nextlm::runtime
