// The integer dot kernels of quant/dot.h: every ISA the machine has against
// the scalar kernels, and those against dequantize-then-multiply with the
// q8-rounded activations.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/cpu_features.h"
#include "quant/dequant.h"
#include "quant/dot.h"
#include "quant/dot_bf16.h"
#include "quant/fp16.h"
#include "quant/random_blocks.h"
#include "util/rng.h"

using namespace nextlm;

TEST_CASE("dot kernels: every ISA equals the dequantized reference on random blocks", "[quant][dot]") {
  util::Rng rng(11);
  int checked = 0;
  for (uint32_t id = 0; id < 40; ++id) {
    const quant::TypeInfo* ti = quant::type_info(id);
    if (!ti || !ti->can_dequantize) continue;
    const quant::Type t = ti->type;
    if (!quant::dot_kernels(t, quant::Isa::kScalar).unpack) continue;
    // An odd number of 32-element sub-blocks where the block size allows (kernel tails).
    const int64_t n = ti->block_size == 32 ? 1056 : 1024;
    INFO("type " << ti->name);
    for (int rep = 0; rep < 4; ++rep) {
      std::vector<uint8_t> w(quant::row_bytes(t, n));
      quant::fill_random_row(t, rng, w.data(), n, 0.5f);
      std::vector<float> x(n), wf(n);
      for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
      if (rep == 3) std::fill(x.begin(), x.begin() + 64, 0.0f);  // all-zero activation blocks
      std::vector<int8_t> qx(n);
      std::vector<float> dx(n / 32), sx(n / 32);
      const quant::DotKernels ks = quant::dot_kernels(t, quant::Isa::kScalar);
      ks.quantize(x.data(), n, qx.data(), dx.data(), sx.data());  // per 32, or per 256 (act_k)
      if (ks.act_k)
        for (int64_t i = 0; i < n / 32; ++i) CHECK(dx[i] == dx[i / 8 * 8]);
      quant::dequantize_row(t, w.data(), wf.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double xi = double(dx[i / 32]) * qx[i];
        ref += double(wf[i]) * xi;
        mag += std::fabs(double(wf[i]) * xi);
      }
      // The unpacked codes and scales reproduce the dequantized row.
      const int mu = ks.m_unit;  // elements per offset
      std::vector<int8_t> q(n * ks.q_bytes);
      std::vector<float> ws(n / 16), m(n / mu);
      ks.unpack(w.data(), n, q.data(), ws.data(), m.data());
      for (int64_t i = 0; i < n; ++i) {
        float v;
        if (ks.act_k) {  // lo and hi bytes of code * sc per 64 elements; the mins in ws, d and dmin in m
          const auto* u = reinterpret_cast<const uint8_t*>(q.data()) + 2 * (i / 64) * 64 + i % 64;
          const uint8_t mn = reinterpret_cast<const uint8_t*>(ws.data() + 16 * (i / 256))[(i % 256) / 32];
          const float* dm = m.data() + 8 * (i / 256);  // d, dmin
          v = dm[0] * static_cast<float>(u[0] + 256 * u[64]) - dm[1] * static_cast<float>(mn);
        } else {
          v = ws[i / 16] * q[i] - m[i / mu];
        }
        REQUIRE(std::fabs(v - wf[i]) <= 1e-6f * (1.0f + std::fabs(wf[i])));
      }
      float scalar = 0.0f;
      for (auto isa : {quant::Isa::kScalar, quant::Isa::kAvx2, quant::Isa::kAvx512}) {
        if (!quant::isa_supported(isa)) continue;
        INFO("isa " << quant::isa_name(isa));
        const quant::DotKernels k = quant::dot_kernels(t, isa);
        REQUIRE(k.unpack != nullptr);
        std::vector<int8_t> q2(n * ks.q_bytes);
        CHECK(k.m_unit == mu);
        CHECK(k.act_k == ks.act_k);
        std::vector<float> ws2(n / 16), m2(n / mu);
        k.unpack(w.data(), n, q2.data(), ws2.data(), m2.data());
        CHECK(q2 == q);
        CHECK(ws2 == ws);
        CHECK(m2 == m);
        const float r = k.dot(q2.data(), ws2.data(), m2.data(), qx.data(), dx.data(), sx.data(), n);
        CHECK(std::fabs(r - ref) <= 1e-5 * mag + 1e-6);
        // Four tokens at once, at a stride: x, -x, 2x, -2x (scaled by their dx).
        REQUIRE(k.dot4 != nullptr);
        const float factor[4] = {1.0f, -1.0f, 2.0f, -2.0f};
        std::vector<int8_t> qx4(4 * n);
        std::vector<float> dx4(4 * n / 32), sx4(4 * n / 32);
        for (int j = 0; j < 4; ++j) {
          for (int64_t i = 0; i < n; ++i) qx4[j * n + i] = static_cast<int8_t>(j % 2 ? -qx[i] : qx[i]);
          for (int64_t i = 0; i < n / 32; ++i) {
            dx4[j * n / 32 + i] = dx[i] * std::fabs(factor[j]);
            sx4[j * n / 32 + i] = sx[i] * factor[j];
          }
        }
        float out4[4];
        k.dot4(q2.data(), ws2.data(), m2.data(), qx4.data(), dx4.data(), sx4.data(), n, n, out4);
        for (int j = 0; j < 4; ++j) {
          CHECK(std::fabs(out4[j] - factor[j] * ref) <= 2e-5 * mag + 1e-6);
          // Bit-identical to dot_row: a token's result must not depend on its batch.
          CHECK(out4[j] == k.dot(q2.data(), ws2.data(), m2.data(), qx4.data() + j * n, dx4.data() + j * n / 32,
                                 sx4.data() + j * n / 32, n));
        }
        // The fused form straight from the packed row.
        REQUIRE(k.vec_dot != nullptr);
        std::vector<int8_t> laid = qx;  // in the kernel's own order where it has one
        laid.resize(quant::kActLayoutBytes * n);
        if (k.vec_dot_layout) k.vec_dot_layout(qx.data(), dx.data(), n, laid.data());
        const float f = k.vec_dot(w.data(), laid.data(), dx.data(), sx.data(), n);
        CHECK(f == r);                       // bit-identical to unpack + dot_row
        REQUIRE(k.vec_dot_rows != nullptr);  // the many-row form: the same bits per row
        std::vector<uint8_t> three(3 * w.size());
        for (int j = 0; j < 3; ++j) std::copy(w.begin(), w.end(), three.begin() + j * static_cast<int64_t>(w.size()));
        float rows3[3] = {};
        k.vec_dot_rows(three.data(), w.size(), 3, laid.data(), dx.data(), sx.data(), n, rows3);
        for (float v : rows3) CHECK(v == f);
        // The canonical order (dot.h) makes every ISA agree bit for bit.
        if (isa == quant::Isa::kScalar) scalar = r;
        CHECK(r == scalar);
        ++checked;
      }
    }
  }
  CHECK(checked >= 12 * 4);
}

TEST_CASE("dot kernels: the tile kernel equals dot_row bit for bit", "[quant][dot]") {
  if (quant::tile_dot(16) == nullptr) {
    WARN("no tile kernel on this machine (AMX-INT8 absent or not granted): skipped");
    return;
  }
  util::Rng rng(5);
  for (quant::Type t : {quant::Type::Q4_K, quant::Type::IQ3_S, quant::Type::Q6_K, quant::Type::Q8_0,
                        quant::Type::IQ4_NL, quant::Type::Q3_K}) {
    const quant::DotKernels k = quant::dot_kernels(t);
    REQUIRE(k.unpack != nullptr);
    CHECK(k.act_k == (t == quant::Type::Q4_K));  // the superblock form
    const quant::TileDotFn tile = k.act_k ? nullptr : quant::tile_dot(k.unit);
    const quant::TileDotKFn tile_k = k.act_k ? quant::tile_dot_k() : nullptr;
    REQUIRE((tile != nullptr || tile_k != nullptr));
    CHECK(k.unit == (t == quant::Type::Q6_K || t == quant::Type::Q3_K ? 16 : 32));
    for (const int64_t n :
         {t == quant::Type::Q8_0 || t == quant::Type::IQ4_NL ? int64_t{544} : int64_t{512}, int64_t{256 * 11}}) {
      for (const int n_tiles : {1, 2}) {
        if (n_tiles == 2 && !tile_k) continue;
        const int64_t R = quant::kTileRows, T = quant::kTileTokens;
        const int64_t n_tok = n_tiles == 2 ? 27 : 11;  // a partial token tile
        INFO("type " << quant::type_info(t).name << " n " << n << " tiles " << n_tiles);
        const int64_t qn = n * k.q_bytes;
        std::vector<int8_t> q(R * qn);
        std::vector<float> ws(R * n / 16), m(R * n / 32);
        for (int64_t r = 0; r < R; ++r) {
          std::vector<uint8_t> w(quant::row_bytes(t, n));
          quant::fill_random_row(t, rng, w.data(), n, 0.5f);
          k.unpack(w.data(), n, q.data() + r * qn, ws.data() + r * n / 16, m.data() + r * n / 32);
        }
        std::vector<float> x(n_tok * n);
        for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
        std::fill(x.begin() + 3 * n, x.begin() + 3 * n + 300, -1.9f);  // unit sums far below zero
        std::vector<int8_t> qx(n_tok * n);
        std::vector<float> dx(n_tok * n / 32), sx(dx.size());
        for (int64_t j = 0; j < n_tok; ++j)
          k.quantize(x.data() + j * n, n, qx.data() + j * n, dx.data() + j * n / 32, sx.data() + j * n / 32);
        // Packed as the matmul packs them: tile i at b + i * 16n, dxt and sxt + i * n / 2.
        std::vector<int8_t> b(n * T * n_tiles);
        std::vector<float> dxt(n / 32 * T * n_tiles), sxt(dxt.size() + quant::kTileSumsPad);
        for (int i = 0; i < n_tiles; ++i) {
          const int64_t nt = std::min<int64_t>(T, n_tok - i * T);
          const int64_t a = i * T * n, o = i * n / 2;
          if (k.act_k)
            quant::pack_act_tile_k(qx.data() + a, dx.data() + a / 32, n, nt, b.data() + a, dxt.data() + o,
                                   sxt.data() + o);
          else
            quant::pack_act_tile(qx.data() + a, dx.data() + a / 32, sx.data() + a / 32, n, nt, b.data() + a,
                                 dxt.data() + o, sxt.data() + o);
        }
        std::vector<float> out(R * T * n_tiles);
        // As the matmul calls it: no offsets pointer where every offset is zero.
        const bool mins = !k.act_k && std::any_of(m.begin(), m.end(), [](float v) { return v != 0.0f; });
        CHECK(mins == false);  // Q4_K's are in ws (superblock form); the others have none
        if (tile_k)
          tile_k(q.data(), ws.data(), m.data(), b.data(), dxt.data(), sxt.data(), n, n_tiles, out.data());
        else
          tile(q.data(), ws.data(), mins ? m.data() : nullptr, b.data(), dxt.data(), sxt.data(), n, out.data());
        for (int64_t r = 0; r < R; ++r)
          for (int64_t j = 0; j < n_tok; ++j)  // token-major
            REQUIRE(out[j * R + r] == k.dot(q.data() + r * qn, ws.data() + r * n / 16, m.data() + r * n / 32,
                                            qx.data() + j * n, dx.data() + j * n / 32, sx.data() + j * n / 32, n));
      }
    }
  }
}

TEST_CASE("dot kernels: BF16 rows give VDPBF16PS's bits on every ISA", "[quant][dot]") {
  util::Rng rng(21);
  for (int rep = 0; rep < 20; ++rep) {
    const int64_t n = 32 * 40 + (rep % 3 == 0 ? 0 : 5 + rep);  // a partial last chunk too
    std::vector<float> wf(n), xf(n);
    for (int64_t i = 0; i < n; ++i) {
      wf[i] = rng.uniform(-2.0f, 2.0f);
      xf[i] = rng.uniform(-3.0f, 3.0f);
    }
    if (rep % 2) {  // tiny values: denormal inputs, products and sums must flush as VDPBF16PS does
      for (int64_t i = 0; i < n; i += 3) wf[i] *= 0x1p-70f;
      for (int64_t i = 0; i < n; i += 5) xf[i] *= 0x1p-60f;
      for (int64_t i = 7; i < n; i += 11) wf[i] = 0x1p-130f;  // a denormal weight
    }
    std::vector<uint16_t> w(n), x(n);
    for (int64_t i = 0; i < n; ++i) w[i] = quant::fp32_to_bf16(wf[i]);
    quant::act_to_bf16(xf.data(), n, x.data());
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double p = double(quant::bf16_to_fp32(w[i])) * quant::bf16_to_fp32(x[i]);
      ref += p;
      mag += std::fabs(p);
    }
    const float scalar = quant::bf16_dot(quant::Isa::kScalar)(w.data(), x.data(), n);
    CHECK(std::fabs(scalar - ref) <= 1e-5 * mag + 1e-30);
    for (auto isa : {quant::Isa::kAvx2, quant::Isa::kAvx512}) {
      if (!quant::isa_supported(isa)) continue;
      INFO("isa " << quant::isa_name(isa) << " rep " << rep);
      CHECK(quant::bf16_dot(isa)(w.data(), x.data(), n) == scalar);
    }
  }
}

TEST_CASE("dot kernels: activation quantization gives the same bytes on every ISA", "[quant][dot]") {
  util::Rng rng(3);
  const int64_t n = 32 * 64;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = rng.uniform(-3.0f, 3.0f);
  std::fill(x.begin(), x.begin() + 32, 0.0f);                              // an all-zero block
  for (int i = 32; i < 64; ++i) x[i] = static_cast<float>(i - 48) * 0.5f;  // halves: ties to even
  x[100] = 1e-30f;
  std::vector<int8_t> q0(n), q1(n);
  std::vector<float> d0(n / 32), d1(n / 32), s0(n / 32), s1(n / 32);
  quant::dot_kernels(quant::Type::Q8_0, quant::Isa::kScalar).quantize(x.data(), n, q0.data(), d0.data(), s0.data());
  for (auto isa : {quant::Isa::kAvx2, quant::Isa::kAvx512}) {
    if (!quant::isa_supported(isa)) continue;
    INFO("isa " << quant::isa_name(isa));
    quant::dot_kernels(quant::Type::Q8_0, isa).quantize(x.data(), n, q1.data(), d1.data(), s1.data());
    CHECK(q1 == q0);
    CHECK(d1 == d0);
    CHECK(s1 == s0);
  }
  for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(d0[i / 32] * q0[i] - x[i]) <= 0.5f * d0[i / 32] + 1e-6f);
}

TEST_CASE("dot kernels: feature detection is consistent", "[quant][dot]") {
  const quant::CpuFeatures& f = quant::cpu_features();
  if (f.avx512) CHECK(f.avx2);
  if (f.avx512vnni) CHECK(f.avx512);
  if (f.avx512vbmi) CHECK(f.avx512vnni);
  // IQ3_S decodes with byte permutes (and its own activation order) exactly where VBMI is there,
  // so the kernel tests above cover that form on such machines.
  if (f.avx512vnni) {
    CHECK((quant::dot_kernels(quant::Type::IQ3_S, quant::Isa::kAvx512).vec_dot_layout != nullptr) == f.avx512vbmi);
  }
  CHECK(quant::isa_supported(quant::Isa::kScalar));
  CHECK(quant::isa_supported(quant::active_isa()));
}
