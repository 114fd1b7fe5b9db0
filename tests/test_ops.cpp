// CPU backend ops against plain reference implementations written here.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "nextlm/error.h"
#include "quant/dequant.h"
#include "quant/dot.h"
#include "quant/fp16.h"
#include "quant/quantize.h"
#include "quant/random_blocks.h"
#include "runtime/cpu/cpu_backend.h"
#include "util/rng.h"

using namespace nextlm;
using runtime::CpuBackend;

namespace {

std::vector<float> random_vec(util::Rng& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

void normalize_rows(std::vector<float>& x, int d) {
  for (size_t r = 0; r < x.size() / d; ++r) {
    double s = 0;
    for (int i = 0; i < d; ++i) s += x[r * d + i] * x[r * d + i];
    for (int i = 0; i < d; ++i) x[r * d + i] /= static_cast<float>(std::sqrt(s));
  }
}

// The delta rule exactly as the model card states it, in double precision.
void delta_reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                     const std::vector<float>& g, const std::vector<float>& beta, int T, int nk, int nv, int d,
                     std::vector<double>& S, std::vector<float>& out) {
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < nv; ++h) {
      const int kh = h * nk / nv;
      double* s = &S[static_cast<size_t>(h) * d * d];
      const float* kt = &k[(t * nk + kh) * d];
      const float* qt = &q[(t * nk + kh) * d];
      const float* vt = &v[(t * nv + h) * d];
      const double decay = std::exp(double(g[t * nv + h]));
      for (int i = 0; i < d * d; ++i) s[i] *= decay;
      for (int i = 0; i < d; ++i) {
        double sk = 0;
        for (int j = 0; j < d; ++j) sk += s[i * d + j] * kt[j];
        const double delta = beta[t * nv + h] * (vt[i] - sk);
        for (int j = 0; j < d; ++j) s[i * d + j] += delta * kt[j];
      }
      for (int i = 0; i < d; ++i) {
        double o = 0;
        for (int j = 0; j < d; ++j) o += s[i * d + j] * qt[j];
        out[(t * nv + h) * d + i] = static_cast<float>(o);
      }
    }
  }
}

}  // namespace

TEST_CASE("ops: gated delta rule, chunked and recurrent, match the reference", "[ops]") {
  CpuBackend b(2);
  util::Rng rng(7);
  const int nk = 2, nv = 4, d = 16;
  const runtime::DeltaShape shape{nk, nv, d};
  for (int T : {1, 5, 63, 64, 65, 130}) {
    INFO("T = " << T);
    auto q = random_vec(rng, T * nk * d), k = random_vec(rng, T * nk * d), v = random_vec(rng, T * nv * d);
    normalize_rows(q, d);
    normalize_rows(k, d);
    auto g = random_vec(rng, T * nv, -0.5f, -0.01f), beta = random_vec(rng, T * nv, 0.1f, 0.9f);
    auto s0 = random_vec(rng, nv * d * d, -0.1f, 0.1f);
    std::vector<double> S(s0.begin(), s0.end());
    std::vector<float> ref(T * nv * d);
    delta_reference(q, k, v, g, beta, T, nk, nv, d, S, ref);
    for (bool chunked : {false, true}) {
      std::vector<float> state = s0, out(T * nv * d);
      b.gated_delta_rule(q.data(), k.data(), v.data(), g.data(), beta.data(), T, shape, state.data(), out.data(),
                         chunked);
      CHECK(max_abs_diff(out, ref) < 2e-4f);
      std::vector<float> Sf(S.begin(), S.end());
      CHECK(max_abs_diff(state, Sf) < 2e-4f);
    }
  }
}

TEST_CASE("ops: delta rule state carries across calls", "[ops]") {
  CpuBackend b(1);
  util::Rng rng(3);
  const int nk = 1, nv = 2, d = 8, T = 40;
  const runtime::DeltaShape shape{nk, nv, d};
  auto q = random_vec(rng, T * nk * d), k = random_vec(rng, T * nk * d), v = random_vec(rng, T * nv * d);
  normalize_rows(k, d);
  auto g = random_vec(rng, T * nv, -1.0f, 0.0f), beta = random_vec(rng, T * nv, 0.0f, 1.0f);
  std::vector<float> s_all(nv * d * d), out_all(T * nv * d);
  b.gated_delta_rule(q.data(), k.data(), v.data(), g.data(), beta.data(), T, shape, s_all.data(), out_all.data(), true);
  std::vector<float> s_split(nv * d * d), out_split(T * nv * d);
  const int cut = 17;
  b.gated_delta_rule(q.data(), k.data(), v.data(), g.data(), beta.data(), cut, shape, s_split.data(), out_split.data(),
                     true);
  b.gated_delta_rule(q.data() + cut * nk * d, k.data() + cut * nk * d, v.data() + cut * nv * d, g.data() + cut * nv,
                     beta.data() + cut * nv, T - cut, shape, s_split.data(), out_split.data() + cut * nv * d, false);
  CHECK(max_abs_diff(out_all, out_split) < 1e-4f);
  CHECK(max_abs_diff(s_all, s_split) < 1e-4f);
}

// Causal softmax attention in doubles: token t (position t) over cache rows 0..t
// (kd, vd: the values the cache holds), GQA as the backend groups heads.
static std::vector<float> reference_attention(const std::vector<float>& q, const std::vector<float>& kd,
                                              const std::vector<float>& vd, int T,
                                              const runtime::AttentionShape& shape) {
  const int H = shape.n_head, Hkv = shape.n_head_kv, hd = shape.head_dim;
  std::vector<float> ref(static_cast<size_t>(T) * H * hd);
  for (int ti = 0; ti < T; ++ti) {
    for (int h = 0; h < H; ++h) {
      const int kh = h / (H / Hkv);
      std::vector<double> sc(ti + 1);
      double mx = -1e30, sum = 0;
      for (int c = 0; c <= ti; ++c) {
        double s = 0;
        for (int i = 0; i < hd; ++i) s += double(q[(ti * H + h) * hd + i]) * kd[(c * Hkv + kh) * hd + i];
        sc[c] = s * shape.scale;
        mx = std::max(mx, sc[c]);
      }
      for (double& s : sc) sum += (s = std::exp(s - mx));
      for (int i = 0; i < hd; ++i) {
        double o = 0;
        for (int c = 0; c <= ti; ++c) o += sc[c] * vd[(c * Hkv + kh) * hd + i];
        ref[(ti * H + h) * hd + i] = static_cast<float>(o / sum);
      }
    }
  }
  return ref;
}

TEST_CASE("ops: attention over every cache type matches a direct softmax", "[ops]") {
  CpuBackend b(2);
  util::Rng rng(11);
  const int H = 4, Hkv = 2, hd = 64, T = 9;
  const runtime::AttentionShape shape{H, Hkv, hd, 0.125f};
  for (quant::Type t : {quant::Type::F32, quant::Type::F16, quant::Type::BF16, quant::Type::Q8_0, quant::Type::Q4_0}) {
    INFO("cache type " << quant::type_info(t).name);
    const size_t rb = quant::row_bytes(t, hd);
    std::vector<uint8_t> kc(T * Hkv * rb), vc(T * Hkv * rb);
    runtime::KvLayerView kv{kc.data(), vc.data(), t, t, rb, rb, T};
    auto q = random_vec(rng, T * H * hd), k = random_vec(rng, T * Hkv * hd), v = random_vec(rng, T * Hkv * hd);
    std::vector<int32_t> pos(T);
    std::iota(pos.begin(), pos.end(), 0);
    // Two calls (5 then 4 tokens), as prefill then continuation would.
    std::vector<float> out(T * H * hd);
    b.kv_store(kv, k.data(), v.data(), 5, shape, pos.data());
    b.attention(kv, q.data(), 5, shape, pos.data(), out.data());
    b.kv_store(kv, k.data() + 5 * Hkv * hd, v.data() + 5 * Hkv * hd, 4, shape, pos.data() + 5);
    b.attention(kv, q.data() + 5 * H * hd, 4, shape, pos.data() + 5, out.data() + 5 * H * hd);
    // Reference on the values the cache holds (quantized then dequantized).
    std::vector<float> kd(k.size()), vd(v.size());
    for (size_t r = 0; r < k.size() / hd; ++r) {
      quant::dequantize_row(t, kc.data() + r * rb, kd.data() + r * hd, hd);
      quant::dequantize_row(t, vc.data() + r * rb, vd.data() + r * hd, hd);
    }
    if (t == quant::Type::F32) CHECK(max_abs_diff(kd, k) == 0.0f);
    if (t == quant::Type::Q8_0) CHECK(max_abs_diff(kd, k) < 0.01f);
    CHECK(max_abs_diff(out, reference_attention(q, kd, vd, T, shape)) < 1e-5f);
  }
}

TEST_CASE("ops: attention across key blocks matches a direct softmax, with the same bits in any batch", "[ops]") {
  CpuBackend b(2);
  util::Rng rng(12);
  const int H = 4, Hkv = 2, T = 150;  // keys cross the 64-key blocks; queries the 8-token blocks
  for (int hd : {64, 96}) {           // 96: columns past the 64-wide register blocks
    for (quant::Type t : {quant::Type::F16, quant::Type::Q8_0}) {
      INFO("head_dim " << hd << ", cache type " << quant::type_info(t).name);
      const runtime::AttentionShape shape{H, Hkv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
      const size_t rb = quant::row_bytes(t, hd);
      std::vector<uint8_t> kc(T * Hkv * rb), vc(T * Hkv * rb);
      runtime::KvLayerView kv{kc.data(), vc.data(), t, t, rb, rb, T};
      auto q = random_vec(rng, T * H * hd, -3.0f, 3.0f), k = random_vec(rng, T * Hkv * hd),
           v = random_vec(rng, T * Hkv * hd);
      std::vector<int32_t> pos(T);
      std::iota(pos.begin(), pos.end(), 0);
      b.kv_store(kv, k.data(), v.data(), T, shape, pos.data());
      std::vector<float> batch(T * H * hd), alone(T * H * hd);
      b.attention(kv, q.data(), T, shape, pos.data(), batch.data());
      for (int ti = 0; ti < T; ++ti)  // decode-like: one token at a time (its own position)
        b.attention(kv, q.data() + ti * H * hd, 1, shape, pos.data() + ti, alone.data() + ti * H * hd);
      CHECK(batch == alone);
      std::vector<float> kd(k.size()), vd(v.size());
      for (size_t r = 0; r < k.size() / hd; ++r) {
        quant::dequantize_row(t, kc.data() + r * rb, kd.data() + r * hd, hd);
        quant::dequantize_row(t, vc.data() + r * rb, vd.data() + r * hd, hd);
      }
      CHECK(max_abs_diff(batch, reference_attention(q, kd, vd, T, shape)) < 1e-5f);
    }
  }
}

TEST_CASE("ops: MoE routing picks the top-k, ties to the lower index, renormalised", "[ops]") {
  CpuBackend b(1);
  const int E = 4, K = 2, n_embd = 32, ff = 32;
  // Router rows 0..3: experts 1 and 2 tie on top, expert 3 equals them too -> 1 and 2 chosen.
  std::vector<float> router(E * n_embd, 0.0f);
  for (int e = 1; e < E; ++e) router[e * n_embd] = 1.0f;
  // Expert e: gate = up = identity scaled, down = e+1 times identity: out = (e+1) silu(x) x.
  std::vector<float> gate(E * ff * n_embd, 0.0f), up(E * ff * n_embd, 0.0f), down(E * n_embd * ff, 0.0f);
  for (int e = 0; e < E; ++e) {
    for (int i = 0; i < n_embd; ++i) {
      gate[(e * ff + i) * n_embd + i] = 1.0f;
      up[(e * ff + i) * n_embd + i] = 1.0f;
      down[(e * n_embd + i) * ff + i] = static_cast<float>(e + 1);
    }
  }
  runtime::MoeWeights m;
  m.router = router.data();
  m.n_expert = E;
  m.n_expert_used = K;
  m.gate_exps = b.prepare_weight(quant::Type::F32, gate.data(), n_embd, ff, E, runtime::ComputeMode::kNative);
  m.up_exps = b.prepare_weight(quant::Type::F32, up.data(), n_embd, ff, E, runtime::ComputeMode::kNative);
  m.down_exps = b.prepare_weight(quant::Type::F32, down.data(), ff, n_embd, E, runtime::ComputeMode::kNative);
  std::vector<float> x(n_embd), y(n_embd);
  for (int i = 0; i < n_embd; ++i) x[i] = 0.05f * static_cast<float>(i + 1);
  b.moe(m, x.data(), 1, n_embd, y.data());
  for (int i = 0; i < n_embd; ++i) {
    const float h = x[i] / (1.0f + std::exp(-x[i])) * x[i];  // silu(x) * x
    // Experts 1 and 2 with weight 1/2 each: (2 + 3) / 2 * h.
    CHECK(y[i] == Approx(2.5f * h).epsilon(1e-5));
  }
}

TEST_CASE("ops: matmul_many equals separate matmuls bit for bit", "[ops]") {
  // Decode runs all matrices' rows as one job, prefill groups matrices with the
  // same kernels (one quantization and tile packing): neither may change a bit.
  CpuBackend b(2);
  util::Rng rng(17);
  const int64_t cols = 512;
  const quant::Type types[4] = {quant::Type::Q4_K, quant::Type::Q6_K, quant::Type::Q4_K, quant::Type::IQ3_S};
  const int64_t rows[4] = {40, 24, 17, 33};
  std::vector<std::vector<uint8_t>> data(4);
  std::vector<runtime::Weight> w(4);
  for (int i = 0; i < 4; ++i) {
    const size_t rb = quant::row_bytes(types[i], cols);
    data[i].resize(rb * rows[i]);
    for (int64_t r = 0; r < rows[i]; ++r) quant::fill_random_row(types[i], rng, data[i].data() + r * rb, cols, 0.3f);
    w[i] = b.prepare_weight(types[i], data[i].data(), cols, rows[i], 1, runtime::ComputeMode::kNative);
  }
  const runtime::Weight* ws[4] = {&w[0], &w[1], &w[2], &w[3]};
  for (const int64_t T : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{37}}) {
    INFO("tokens " << T);
    const auto x = random_vec(rng, T * cols);
    std::vector<std::vector<float>> one(4), many(4);
    float* ys[4];
    for (int i = 0; i < 4; ++i) {
      one[i].resize(T * rows[i]);
      many[i].assign(T * rows[i], -1.0f);
      ys[i] = many[i].data();
      b.matmul(w[i], 0, x.data(), T, one[i].data());
    }
    b.matmul_many(ws, 4, x.data(), T, ys);
    for (int i = 0; i < 4; ++i) CHECK(many[i] == one[i]);
  }
}

TEST_CASE("ops: quantized MoE gives every token the same bits alone and in a batch", "[ops]") {
  // Decode (1-2 tokens) takes the fused path, batches the grouped one: they must agree exactly.
  CpuBackend b(2);
  util::Rng rng(21);
  const int E = 8, K = 3, n_embd = 256, ff = 256, T = 7;
  for (quant::Type t : {quant::Type::Q4_K, quant::Type::IQ3_S, quant::Type::Q8_0}) {
    INFO("type " << quant::type_info(t).name);
    auto qmat = [&](int64_t cols, int64_t rows, int64_t mats) {
      std::vector<uint8_t> w(quant::row_bytes(t, cols) * rows * mats);
      for (int64_t r = 0; r < rows * mats; ++r)
        quant::fill_random_row(t, rng, w.data() + r * quant::row_bytes(t, cols), cols, 0.1f);
      return w;
    };
    const auto gate = qmat(n_embd, ff, E), up = qmat(n_embd, ff, E), down = qmat(ff, n_embd, E);
    const auto gs = qmat(n_embd, ff, 1), us = qmat(n_embd, ff, 1), ds = qmat(ff, n_embd, 1);
    const auto router = random_vec(rng, E * n_embd), shared_gate = random_vec(rng, n_embd);
    runtime::MoeWeights m;
    m.router = router.data();
    m.shared_gate_inp = shared_gate.data();
    m.n_expert = E;
    m.n_expert_used = K;
    const auto mode = runtime::ComputeMode::kNative;
    m.gate_exps = b.prepare_weight(t, gate.data(), n_embd, ff, E, mode);
    m.up_exps = b.prepare_weight(t, up.data(), n_embd, ff, E, mode);
    m.down_exps = b.prepare_weight(t, down.data(), ff, n_embd, E, mode);
    m.gate_shexp = b.prepare_weight(t, gs.data(), n_embd, ff, 1, mode);
    m.up_shexp = b.prepare_weight(t, us.data(), n_embd, ff, 1, mode);
    m.down_shexp = b.prepare_weight(t, ds.data(), ff, n_embd, 1, mode);
    const auto x = random_vec(rng, T * n_embd);
    std::vector<float> batch(T * n_embd), alone(n_embd), pair(2 * n_embd);
    b.moe(m, x.data(), T, n_embd, batch.data());
    for (int i = 0; i < T; ++i) {
      b.moe(m, x.data() + i * n_embd, 1, n_embd, alone.data());
      REQUIRE(std::equal(alone.begin(), alone.end(), batch.begin() + i * n_embd));
    }
    b.moe(m, x.data() + 2 * n_embd, 2, n_embd, pair.data());
    REQUIRE(std::equal(pair.begin(), pair.end(), batch.begin() + 2 * n_embd));
  }
}

TEST_CASE("ops: NEOX rope rotates pairs (i, i + n_rot/2) and leaves the rest", "[ops]") {
  CpuBackend b(1);
  const int hd = 8, n_rot = 4;
  std::vector<float> x(2 * hd);
  std::iota(x.begin(), x.end(), 1.0f);
  const std::vector<float> orig = x;
  const int32_t pos[] = {3};
  b.rope_neox(x.data(), 1, 2, hd, n_rot, pos, 10000.0f);
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < n_rot / 2; ++i) {
      const double theta = 3.0 * std::pow(10000.0, -2.0 * i / n_rot);
      const double x0 = orig[h * hd + i], x1 = orig[h * hd + i + n_rot / 2];
      CHECK(x[h * hd + i] == Approx(x0 * std::cos(theta) - x1 * std::sin(theta)).epsilon(1e-5));
      CHECK(x[h * hd + i + n_rot / 2] == Approx(x0 * std::sin(theta) + x1 * std::cos(theta)).epsilon(1e-5));
    }
    for (int i = n_rot; i < hd; ++i) CHECK(x[h * hd + i] == orig[h * hd + i]);
  }
}

TEST_CASE("ops: matmul with every weight type equals dequantize-then-multiply", "[ops]") {
  CpuBackend b(2);
  util::Rng rng(5);
  const int64_t cols = 256, rows = 5, T = 3;
  for (uint32_t id = 0; id < 40; ++id) {
    const quant::TypeInfo* ti = quant::type_info(id);
    if (!ti || !ti->can_dequantize) continue;
    INFO("type " << ti->name);
    const size_t rb = quant::row_bytes(ti->type, cols);
    std::vector<uint8_t> w(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quant::fill_random_row(ti->type, rng, w.data() + r * rb, cols, 0.1f);
    auto x = random_vec(rng, T * cols);
    // Native mode with an integer dot kernel (quant/dot.h) multiplies by the
    // activations rounded to q8 per 32 elements: the reference does the same.
    std::vector<float> xq(x.size());
    {
      std::vector<int8_t> q(x.size());
      std::vector<float> d(x.size() / 32), s(x.size() / 32);
      // In the form this type's kernels take (per 32, or per 256 for the superblock form).
      const quant::QuantizeFn quantize = quant::dot_kernels(ti->type).quantize;
      (quantize ? quantize : quant::quantize_act_q8)(x.data(), static_cast<int64_t>(x.size()), q.data(), d.data(),
                                                     s.data());
      for (size_t i = 0; i < x.size(); ++i) xq[i] = d[i / 32] * q[i];
    }
    // Native BF16 multiplies by the activations rounded to bf16 (quant/dot_bf16.h).
    std::vector<float> xb(x.size());
    for (size_t i = 0; i < x.size(); ++i) xb[i] = quant::bf16_to_fp32(quant::fp32_to_bf16(x[i]));
    for (auto mode : {runtime::ComputeMode::kNative, runtime::ComputeMode::kExact}) {
      runtime::Weight wt = b.prepare_weight(ti->type, w.data(), cols, rows, 1, mode);
      const bool q8 = mode == runtime::ComputeMode::kNative && quant::dot_kernels(ti->type).unpack != nullptr;
      const bool bf = mode == runtime::ComputeMode::kNative && ti->type == quant::Type::BF16;
      const std::vector<float>& xr = q8 ? xq : bf ? xb : x;
      std::vector<float> y(T * rows), ref(T * rows), row(cols);
      b.matmul(wt, 0, x.data(), T, y.data());
      for (int64_t r = 0; r < rows; ++r) {
        quant::dequantize_row(ti->type, w.data() + r * rb, row.data(), cols);
        for (int64_t t = 0; t < T; ++t) {
          double s = 0;
          for (int64_t c = 0; c < cols; ++c) s += double(row[c]) * xr[t * cols + c];
          ref[t * rows + r] = static_cast<float>(s);
        }
      }
      CHECK(max_abs_diff(y, ref) < 1e-3f);
    }
  }
}

TEST_CASE("ops: a token's matmul result has the same bits alone and in any batch", "[ops]") {
  // Decode (packed rows), the tile kernel (AMX where granted) or dot4, and
  // the row kernel all follow quant/dot.h's canonical order.
  CpuBackend b(2);
  util::Rng rng(8);
  const int64_t cols = 512, rows = 37;
  for (quant::Type t : {quant::Type::Q4_K, quant::Type::Q6_K, quant::Type::IQ3_S, quant::Type::Q8_0,
                        quant::Type::IQ4_XS, quant::Type::Q5_K, quant::Type::BF16, quant::Type::Q2_K}) {
    INFO("type " << quant::type_info(t).name);
    const size_t rb = quant::row_bytes(t, cols);
    std::vector<uint8_t> w(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quant::fill_random_row(t, rng, w.data() + r * rb, cols, 0.5f);
    runtime::Weight wt = b.prepare_weight(t, w.data(), cols, rows, 1, runtime::ComputeMode::kNative);
    for (int64_t T : {2, 3, 5, 20}) {
      INFO("tokens " << T);
      auto x = random_vec(rng, T * cols);
      std::vector<float> y(T * rows), one(rows);
      b.matmul(wt, 0, x.data(), T, y.data());
      for (int64_t k = 0; k < T; ++k) {
        b.matmul(wt, 0, x.data() + k * cols, 1, one.data());
        for (int64_t r = 0; r < rows; ++r) REQUIRE(y[k * rows + r] == one[r]);
      }
    }
  }
}

TEST_CASE("ops: thread pool covers every index once and rethrows", "[ops]") {
  runtime::ThreadPool pool(3);
  std::vector<int> hits(1000, 0);
  pool.parallel_for(1000, 7, [&](int64_t a, int64_t z) {
    for (int64_t i = a; i < z; ++i) ++hits[i];
  });
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  CHECK_THROWS_AS(pool.parallel_for(100, 1,
                                    [](int64_t a, int64_t) {
                                      if (a > 0) throw Error(ErrorCode::kInternal, "boom");
                                    }),
                  Error);
}
