// Matrix products with weights in any GGUF type, and the MoE block. A weight
// row is decoded once into a per-thread buffer (int8 codes for the types with
// integer dot kernels, quant/dot.h; else f32) and then dotted with every token
// of the batch, so a prefill reads each row once.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "quant/dequant.h"
#include "quant/dot.h"
#include "runtime/cpu/cpu_backend.h"

namespace nextlm::runtime {

void CpuBackend::matmul(const Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) {
  const auto* base = static_cast<const uint8_t*>(w.data) + mat * w.matrix_bytes;
  const int64_t cols = w.cols, rows = w.rows;
  const quant::DotKernels k = w.type == quant::Type::F32 ? quant::DotKernels{} : quant::dot_kernels(w.type);
  if (k.unpack != nullptr && cols % 32 == 0) {
    // Integer path (native mode): activations to q8 once, each weight row
    // unpacked once to int8 codes and dotted with every token; rows go in
    // tiles so a token's activations stay in L1 across the tile.
    const int64_t nsub = cols / 32;
    std::vector<int8_t> qx(static_cast<size_t>(n_tokens * cols));
    std::vector<float> dx(static_cast<size_t>(n_tokens * nsub)), sx(dx.size());
    pool_.parallel_for(n_tokens, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        quant::quantize_act_q8(x + t * cols, cols, qx.data() + t * cols, dx.data() + t * nsub, sx.data() + t * nsub);
    });
    if (k.vec_dot && n_tokens <= 2) {
      // Decode: an unpacked row would not be reused, so dot straight from the packed row.
      pool_.parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t t = 0; t < n_tokens; ++t)
            y[t * rows + r] = k.vec_dot(base + r * w.row_bytes, qx.data() + t * cols, dx.data() + t * nsub,
                                        sx.data() + t * nsub, cols);
      });
      return;
    }
    std::vector<float> dxe;
    if (k.dot4 && n_tokens >= 4) {
      dxe.resize(static_cast<size_t>(n_tokens * cols / 4));
      for (int64_t t = 0; t < n_tokens; ++t) quant::expand_act_scales(dx.data() + t * nsub, cols, dxe.data() + t * (cols / 4));
    }
    constexpr int64_t kTile = 16;
    pool_.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
      const int64_t tile = std::min<int64_t>(kTile, r1 - r0);
      std::vector<int8_t> q(static_cast<size_t>(tile * cols));
      std::vector<float> ws(static_cast<size_t>(tile * (cols / 16))), m(static_cast<size_t>(tile * nsub));
      for (int64_t rb = r0; rb < r1; rb += tile) {
        const int64_t nr = std::min(tile, r1 - rb);
        for (int64_t i = 0; i < nr; ++i)
          k.unpack(base + (rb + i) * w.row_bytes, cols, q.data() + i * cols, ws.data() + i * (cols / 16),
                   m.data() + i * nsub);
        int64_t t = 0;
        for (; k.dot4 && t + 4 <= 0; t += 4) {
          float out[4];
          for (int64_t i = 0; i < nr; ++i) {
            k.dot4(q.data() + i * cols, ws.data() + i * (cols / 16), m.data() + i * nsub, qx.data() + t * cols,
                   dxe.data() + t * (cols / 4), sx.data() + t * nsub, cols, cols, out);
            for (int j = 0; j < 4; ++j) y[(t + j) * rows + rb + i] = out[j];
          }
        }
        for (; t < n_tokens; ++t) {
          const int8_t* qt = qx.data() + t * cols;
          const float* dt = dx.data() + t * nsub;
          const float* st = sx.data() + t * nsub;
          for (int64_t i = 0; i < nr; ++i)
            y[t * rows + rb + i] =
                k.dot(q.data() + i * cols, ws.data() + i * (cols / 16), m.data() + i * nsub, qt, dt, st, cols);
        }
      }
    });
    return;
  }
  pool_.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp(w.type == quant::Type::F32 ? 0 : cols);
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr;
      if (w.type == quant::Type::F32) {
        wr = reinterpret_cast<const float*>(base + r * w.row_bytes);
      } else {
        quant::dequantize_row(w.type, base + r * w.row_bytes, tmp.data(), cols);
        wr = tmp.data();
      }
      for (int64_t t = 0; t < n_tokens; ++t) y[t * rows + r] = cpu::dot(wr, x + t * cols, cols);
    }
  });
}

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

}  // namespace

void CpuBackend::moe(const MoeWeights& m, const float* x, int64_t n_tokens, int64_t n_embd, float* y) {
  const int E = m.n_expert, K = m.n_expert_used;
  std::vector<float> logits(n_tokens * E);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int e = 0; e < E; ++e) logits[t * E + e] = cpu::dot(m.router + e * n_embd, x + t * n_embd, n_embd);
  }
  std::vector<int> chosen(n_tokens * K);
  std::vector<float> weight(n_tokens * K);
  for (int64_t t = 0; t < n_tokens; ++t) route(&logits[t * E], E, K, &chosen[t * K], &weight[t * K]);

  // Group the (token, slot) pairs by expert so each expert's weights are read once.
  std::vector<std::vector<int64_t>> by_expert(E);
  for (int64_t i = 0; i < n_tokens * K; ++i) by_expert[chosen[i]].push_back(i);

  std::fill(y, y + n_tokens * n_embd, 0.0f);
  std::vector<float> xe, ge, ue, de;
  auto ffn = [&](const Weight& gate, const Weight& up, const Weight& down, int64_t mat, int64_t n) {
    ge.resize(n * gate.rows);
    ue.resize(n * up.rows);
    de.resize(n * n_embd);
    matmul(gate, mat, xe.data(), n, ge.data());
    matmul(up, mat, xe.data(), n, ue.data());
    for (size_t i = 0; i < ge.size(); ++i) ge[i] = cpu::silu(ge[i]) * ue[i];
    matmul(down, mat, ge.data(), n, de.data());
  };
  for (int e = 0; e < E; ++e) {
    const auto& items = by_expert[e];
    if (items.empty()) continue;
    const int64_t n = static_cast<int64_t>(items.size());
    xe.resize(n * n_embd);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t t = items[j] / K;
      std::copy(x + t * n_embd, x + (t + 1) * n_embd, xe.begin() + j * n_embd);
    }
    ffn(m.gate_exps, m.up_exps, m.down_exps, e, n);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t t = items[j] / K;
      const float wgt = weight[items[j]];
      for (int64_t i = 0; i < n_embd; ++i) y[t * n_embd + i] += wgt * de[j * n_embd + i];
    }
  }
  if (m.gate_shexp.rows > 0) {
    xe.assign(x, x + n_tokens * n_embd);
    ffn(m.gate_shexp, m.up_shexp, m.down_shexp, 0, n_tokens);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float g = m.shared_gate_inp ? cpu::sigmoid(cpu::dot(m.shared_gate_inp, x + t * n_embd, n_embd)) : 1.0f;
      for (int64_t i = 0; i < n_embd; ++i) y[t * n_embd + i] += g * de[t * n_embd + i];
    }
  }
}

}  // namespace nextlm::runtime
