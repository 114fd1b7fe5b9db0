// Dequantization of every tensor kind of the zoo model, bit for bit against
// ggml's own output (the fixtures' dequant-rows reference).
#include <catch2/catch.hpp>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "quant/dequant.h"

using namespace nextlm;

TEST_CASE("zoo: dequantized rows match ggml bit for bit", "[fixtures][zoo]") {
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-zoo.gguf"));
  auto index_bytes = test::read_file(test::fixture("refs/tiny-qwen3next-zoo.dequant-rows.json"));
  auto index = nlohmann::json::parse(index_bytes.begin(), index_bytes.end());
  auto ref_bytes = test::read_file(test::fixture("refs/tiny-qwen3next-zoo.dequant-rows.f32"));
  const auto* ref = reinterpret_cast<const uint32_t*>(ref_bytes.data());
  size_t ref_floats = ref_bytes.size() / 4;

  std::set<std::string> types_seen;
  size_t checked = 0;
  for (const auto& e : index["tensors"]) {
    std::string name = e["name"];
    INFO("tensor " << name);
    const gguf::TensorInfo* t = f->find_tensor(name);
    REQUIRE(t);
    REQUIRE(std::string(quant::type_info(t->type).name) == e["type"].get<std::string>());
    int64_t ne0 = e["ne0"], rows = e["rows"];
    size_t off = e["offset_floats"];
    REQUIRE(ne0 == t->ne[0]);
    REQUIRE(off + rows * ne0 <= ref_floats);
    std::vector<float> row(ne0);
    for (int64_t r = 0; r < rows; ++r) {
      quant::dequantize_row(t->type, t->data + r * t->row_bytes(), row.data(), ne0);
      size_t mismatches = 0;
      for (int64_t i = 0; i < ne0; ++i) {
        uint32_t bits;
        std::memcpy(&bits, &row[i], 4);
        // Bit patterns, so that -0.0 vs 0.0 and NaN payloads count too.
        mismatches += bits != ref[off + r * ne0 + i];
      }
      CHECK(mismatches == 0);
      checked += ne0;
    }
    types_seen.insert(e["type"].get<std::string>());
  }
  // The zoo covers every quant type the issue lists.
  for (const char* ty : {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K",
                         "iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq4_nl", "iq4_xs",
                         "mxfp4"}) {
    INFO("type " << ty);
    CHECK(types_seen.count(ty) == 1);
  }
  CHECK(checked == ref_floats);
}
