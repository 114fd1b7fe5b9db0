// CPU weight repacking (quant/repack.h): repacked IQ3_S rows give the file
// layout's values, unpacked rows and dot products bit for bit, and the CPU
// backend's repacked weights the same matmul and row lookups.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "quant/cpu_features.h"
#include "quant/dequant.h"
#include "quant/dot.h"
#include "quant/random_blocks.h"
#include "quant/repack.h"
#include "runtime/cpu/cpu_backend.h"
#include "util/rng.h"

using namespace nextlm;
using quant::Type;

TEST_CASE("repack: IQ3_S nibble rows equal the file layout bit for bit", "[quant][repack]") {
  const quant::Repack r = quant::Repack::kIq3sNibbles;
  const quant::DotKernels file = quant::dot_kernels(Type::IQ3_S);
  const quant::DotKernels scalar = quant::dot_kernels(Type::IQ3_S, quant::Isa::kScalar);
  const quant::DotKernels rk = quant::repacked_dot_kernels(r);
  // Where the kernels exist (AVX-512 active), they are what the CPU backend uses.
  CHECK((quant::repack_for(Type::IQ3_S, 256) == r) == (rk.vec_dot != nullptr && file.unpack != nullptr));
  CHECK(quant::repack_for(Type::Q4_K, 256) == quant::Repack::kNone);
  CHECK(quant::repack_for(Type::IQ3_S, 128) == quant::Repack::kNone);  // not whole blocks
  util::Rng rng(5);
  for (int64_t n : {256, 512, 2048, 4096}) {
    INFO("n " << n);
    for (int rep = 0; rep < 3; ++rep) {
      std::vector<uint8_t> w(quant::row_bytes(Type::IQ3_S, n));
      quant::fill_random_row(Type::IQ3_S, rng, w.data(), n, 0.5f);
      std::vector<uint8_t> p(quant::repacked_row_bytes(r, n));
      CHECK(p.size() == static_cast<size_t>(n / 256) * 134);
      quant::repack_row(r, w.data(), n, p.data());
      std::vector<float> a(n), b(n);
      quant::dequantize_row(Type::IQ3_S, w.data(), a.data(), n);
      quant::dequantize_repacked_row(r, p.data(), b.data(), n);
      REQUIRE(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      if (rk.vec_dot == nullptr) continue;
      // Unpacked rows: codes, scales and offsets as the file type's unpack.
      std::vector<int8_t> q1(n), q2(n);
      std::vector<float> ws1(n / 16), ws2(n / 16), m1(n / 32), m2(n / 32);
      scalar.unpack(w.data(), n, q1.data(), ws1.data(), m1.data());
      rk.unpack(p.data(), n, q2.data(), ws2.data(), m2.data());
      CHECK(q1 == q2);
      CHECK(ws1 == ws2);
      CHECK(m1 == m2);
      // Decode dots against the file layout's kernel and the scalar one.
      std::vector<float> x(n);
      for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
      if (rep == 2) std::fill(x.begin(), x.begin() + 64, 0.0f);
      std::vector<int8_t> qx(n);
      std::vector<float> dx(n / 32), sx(n / 32);
      quant::quantize_act_q8(x.data(), n, qx.data(), dx.data(), sx.data());
      auto laid = [&](const quant::DotKernels& k) {
        std::vector<int8_t> l = qx;
        l.resize(quant::kActLayoutBytes * n);
        if (k.vec_dot_layout) k.vec_dot_layout(qx.data(), dx.data(), n, l.data());
        return l;
      };
      const std::vector<int8_t> lf = laid(file), ls = laid(scalar), lr = laid(rk);
      const float want = file.vec_dot(w.data(), lf.data(), dx.data(), sx.data(), n);
      CHECK(want == scalar.vec_dot(w.data(), ls.data(), dx.data(), sx.data(), n));
      const float got = rk.vec_dot(p.data(), lr.data(), dx.data(), sx.data(), n);
      CHECK(got == want);
      CHECK(got == rk.dot(q2.data(), ws2.data(), m2.data(), qx.data(), dx.data(), sx.data(), n));
      std::vector<uint8_t> three(3 * p.size());
      for (int j = 0; j < 3; ++j) std::memcpy(three.data() + j * p.size(), p.data(), p.size());
      float rows3[3] = {};
      rk.vec_dot_rows(three.data(), p.size(), 3, lr.data(), dx.data(), sx.data(), n, rows3);
      for (float v : rows3) CHECK(v == want);
    }
  }
}

TEST_CASE("repack: the CPU backend's repacked weights give the same results", "[quant][repack][ops]") {
  if (quant::repack_for(Type::IQ3_S, 512) == quant::Repack::kNone) {
    WARN("no repacked IQ3_S kernel on this machine (needs AVX-512 VNNI)");
    return;
  }
  const int64_t cols = 512, rows = 40, mats = 2;
  util::Rng rng(9);
  std::vector<uint8_t> data(quant::row_bytes(Type::IQ3_S, cols) * rows * mats);
  for (int64_t r = 0; r < rows * mats; ++r)
    quant::fill_random_row(Type::IQ3_S, rng, data.data() + r * quant::row_bytes(Type::IQ3_S, cols), cols, 0.5f);
  runtime::CpuBackend plain(2), copied(2);
  copied.copy_mapped_weights(nullptr, 0);  // weights copied (and repacked) as a loaded model's are
  const runtime::Weight a = plain.prepare_weight(Type::IQ3_S, data.data(), cols, rows, mats, runtime::ComputeMode::kNative);
  const runtime::Weight b = copied.prepare_weight(Type::IQ3_S, data.data(), cols, rows, mats, runtime::ComputeMode::kNative);
  CHECK(a.layout == 0);
  REQUIRE(b.layout == static_cast<int>(quant::Repack::kIq3sNibbles));
  CHECK(b.row_bytes == quant::repacked_row_bytes(quant::Repack::kIq3sNibbles, cols));
  // Decode (1-2 tokens), dot4 and tile prefill sizes, both matrices.
  for (int64_t T : {1, 2, 3, 5, 20}) {
    std::vector<float> x(T * cols);
    for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
    for (int64_t mat = 0; mat < mats; ++mat) {
      INFO(T << " tokens, matrix " << mat);
      std::vector<float> ya(T * rows), yb(T * rows);
      plain.matmul(a, mat, x.data(), T, ya.data());
      copied.matmul(b, mat, x.data(), T, yb.data());
      CHECK(ya == yb);
    }
  }
  const int32_t ids[3] = {0, 17, 39};
  std::vector<float> ga(3 * cols), gb(3 * cols);
  plain.get_rows(a, ids, 3, ga.data());
  copied.get_rows(b, ids, 3, gb.data());
  CHECK(ga == gb);
}
