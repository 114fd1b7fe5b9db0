// The Qwen3-Next model on the CPU backend: batching of several sequences,
// bad input, malformed files. Accuracy against llama.cpp is checked by the
// cli.logits_* tests with the fixtures' compare_logits.py.
#include <catch2/catch.hpp>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "model/placement.h"
#include "model/qwen3next.h"
#include "nextlm/error.h"
#include "runtime/cpu/cpu_backend.h"

using namespace nextlm;

namespace {

std::vector<int32_t> prompt_tokens() {
  auto bytes = test::read_file(test::fixture("refs/tiny-qwen3next-q4_k_m.p1.exact.json"));
  return nlohmann::json::parse(bytes.begin(), bytes.end()).at("prompt_tokens").get<std::vector<int32_t>>();
}

std::vector<float> run_alone(model::Qwen3NextModel& m, std::span<const int32_t> toks) {
  auto seq = m.new_sequence(256, {quant::Type::F32, quant::Type::F32});
  const int64_t last = static_cast<int64_t>(toks.size()) - 1;
  std::vector<float> out(m.config().n_vocab);
  model::SequenceInput in{seq.get(), toks, std::span<const int64_t>(&last, 1)};
  m.forward(std::span<const model::SequenceInput>(&in, 1), out.data());
  return out;
}

}  // namespace

TEST_CASE("model: sequences decoded together give their single-sequence logits", "[model][fixtures]") {
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-q4_k_m.gguf"));
  runtime::CpuBackend b(2);
  model::Qwen3NextModel m(*f, b, runtime::ComputeMode::kNative);
  const auto toks = prompt_tokens();
  const std::span<const int32_t> a(toks.data(), 40), c(toks.data() + 20, 57), d(toks.data() + 3, 1);
  const auto ra = run_alone(m, a), rc = run_alone(m, c), rd = run_alone(m, d);

  auto sa = m.new_sequence(256, {quant::Type::F32, quant::Type::F32});
  auto sc = m.new_sequence(256, {quant::Type::F32, quant::Type::F32});
  auto sd = m.new_sequence(256, {quant::Type::F32, quant::Type::F32});
  const int64_t la = 39, lc = 56, ld = 0;
  model::SequenceInput ins[] = {{sa.get(), a, std::span<const int64_t>(&la, 1)},
                                {sc.get(), c, std::span<const int64_t>(&lc, 1)},
                                {sd.get(), d, std::span<const int64_t>(&ld, 1)}};
  std::vector<float> out(3 * m.config().n_vocab);
  m.forward(ins, out.data());
  const int64_t V = m.config().n_vocab;
  for (int64_t i = 0; i < V; ++i) {
    REQUIRE(out[i] == Approx(ra[i]).margin(1e-4));
    REQUIRE(out[V + i] == Approx(rc[i]).margin(1e-4));
    REQUIRE(out[2 * V + i] == Approx(rd[i]).margin(1e-4));
  }
  CHECK(sa->n_past() == 40);
  CHECK(sc->n_past() == 57);
}

TEST_CASE("model: bad requests are errors, not crashes", "[model][fixtures]") {
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-iq3_m.gguf"));
  runtime::CpuBackend b(1);
  model::Qwen3NextModel m(*f, b, runtime::ComputeMode::kNative);
  auto seq = m.new_sequence(4, {quant::Type::Q8_0, quant::Type::Q4_0});
  std::vector<float> out(m.config().n_vocab);
  const int32_t bad[] = {static_cast<int32_t>(m.config().n_vocab)};
  model::SequenceInput in{seq.get(), bad, {}};
  CHECK_THROWS_AS(m.forward(std::span<const model::SequenceInput>(&in, 1), out.data()), Error);
  const int32_t five[] = {1, 2, 3, 4, 5};
  in.tokens = five;
  CHECK_THROWS_AS(m.forward(std::span<const model::SequenceInput>(&in, 1), out.data()), Error);  // context of 4
  model::SequenceInput twice[] = {{seq.get(), std::span<const int32_t>(five, 1), {}},
                                  {seq.get(), std::span<const int32_t>(five, 1), {}}};
  CHECK_THROWS_AS(m.forward(twice, out.data()), Error);
  CHECK_THROWS_AS(m.new_sequence(16, {quant::Type::Q4_K, quant::Type::F16}), Error);  // 256-blocks vs head_dim 64
}

TEST_CASE("model: a missing or misshapen tensor is an error naming it", "[model][fixtures]") {
  auto src = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-q4_k_m.gguf"));
  for (const std::string victim : {"blk.2.ssm_ba.weight", "blk.3.attn_k_norm.weight"}) {
    for (bool reshape : {false, true}) {
      gguf::GgufWriter w;
      for (const auto& e : src->metadata()) {
        if (e.key != "general.alignment") w.add_value(e.key, e.value);
      }
      std::vector<const gguf::TensorInfo*> kept;
      for (const auto& t : src->tensors()) {
        if (t.name == victim && !reshape) continue;
        std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
        if (t.name == victim) ne.back() *= 2;
        w.add_tensor(t.name, t.type, ne);
        kept.push_back(&t);
      }
      gguf::VectorSink sink;
      w.write_header(sink);
      for (size_t i = 0; i < kept.size(); ++i) {
        std::vector<uint8_t> data(w.tensor_bytes(i), 0);
        std::memcpy(data.data(), kept[i]->data, std::min<size_t>(data.size(), kept[i]->n_bytes));
        w.write_tensor_data(sink, data.data(), data.size());
      }
      auto f = gguf::GgufFile::parse("edited.gguf", sink.bytes.data(), sink.bytes.size());
      runtime::CpuBackend b(1);
      try {
        model::Qwen3NextModel m(*f, b, runtime::ComputeMode::kNative);
        FAIL("loaded a model with a bad tensor");
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find(victim) != std::string::npos);
      }
    }
  }
}

TEST_CASE("model: a layer split over 2 and 3 virtual CPU devices gives the unsplit logits", "[model][fixtures]") {
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-iq3_m.gguf"));
  const auto toks = prompt_tokens();
  runtime::CpuBackend one(2);
  model::Qwen3NextModel whole(*f, one, runtime::ComputeMode::kNative);
  const auto expect = run_alone(whole, toks);
  for (const char* devices : {"cpu:0,cpu:1", "cpu:0,cpu:1,cpu:2"}) {
    INFO(devices);
    model::PlacedModel placed = model::load_placed(*f, runtime::Topology::parse(devices, "layer", ""), 2,
                                                   runtime::ComputeMode::kNative, {});
    const auto& ld = placed.model->layer_device();
    CHECK(std::set<int>(ld.begin(), ld.end()).size() == placed.backends.size());  // every device holds layers
    CHECK(std::is_sorted(ld.begin(), ld.end()));                                   // contiguous ranges
    const auto got = run_alone(*placed.model, toks);
    for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == expect[i]);  // same ops, same order: identical
  }
  // Tensor split: 3 devices for 2 KV-head groups, and (native) IQ3_M/Q5_K output projections cut inside blocks.
  CHECK_THROWS_AS(model::load_placed(*f, runtime::Topology::parse("cpu:0,cpu:1,cpu:2", "tensor", ""), 2,
                                     runtime::ComputeMode::kNative, {}),
                  Error);
  CHECK_THROWS_AS(model::load_placed(*f, runtime::Topology::parse("cpu:0,cpu:1", "tensor", ""), 2,
                                     runtime::ComputeMode::kNative, {}),
                  Error);
  CHECK_THROWS_AS(model::load_placed(*f, runtime::Topology::parse("cpu:0", "layer", "", "1M"), 2,
                                     runtime::ComputeMode::kNative, {}),
                  Error);  // does not fit: refused before loading
}
