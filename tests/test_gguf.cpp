#include <catch2/catch.hpp>

#include <cstring>

#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "gguf_corpus.h"
#include "nextlm/error.h"

using namespace nextlm;

namespace {

std::unique_ptr<gguf::GgufFile> parse(const std::vector<uint8_t>& b) {
  return gguf::GgufFile::parse("mem.gguf", b.data(), b.size());
}

}  // namespace

TEST_CASE("gguf: the hand-built file parses with every value type", "[gguf]") {
  auto img = test::make_valid_gguf();
  auto f = parse(img.bytes);
  CHECK(f->version() == 3);
  CHECK(f->alignment() == 32);
  CHECK(f->get_string("general.architecture") == "qwen3next");
  CHECK(f->get_int("k.u8") == 7);
  CHECK(f->get_int("k.i16") == -300);
  CHECK(f->get_float("k.f64") == 2.5);
  CHECK(f->get_bool("k.bool", false));
  const gguf::Value& strs = f->get("k.strs");
  REQUIRE(strs.size() == 3);
  CHECK(strs.string_at(1) == "bc");
  CHECK(strs.string_at(2).empty());
  CHECK(f->get("k.i32s").int_at(3) == -4);
  const gguf::Value& nested = f->get("k.nested");
  REQUIRE(nested.size() == 2);
  CHECK(nested.array_at(1).int_at(1) == 20);
  REQUIRE(f->tensors().size() == 4);
  const gguf::TensorInfo* t = f->find_tensor("w.ac");
  REQUIRE(t);
  CHECK(t->type == quant::Type::Q4_0);
  CHECK(t->n_rows() == 2);
  CHECK(t->n_bytes == 72);
  CHECK(t->data == img.bytes.data() + img.at.at("t2.data"));
  CHECK(f->find_tensor("nope") == nullptr);
  CHECK_THROWS_AS(f->get_int("general.architecture"), Error);
  CHECK_THROWS_AS(f->get("missing"), Error);
  CHECK(f->get_int("missing", 5) == 5);
}

TEST_CASE("gguf: writer output reads back, values copied between files", "[gguf]") {
  gguf::GgufWriter w(64);
  w.add_string("general.architecture", "qwen3next");
  w.add_u32("a.u32", 4000000000u);
  w.add_i32("a.i32", -7);
  w.add_u64("a.u64", uint64_t{1} << 40);
  w.add_f32("a.f32", 0.25f);
  w.add_bool("a.bool", true);
  std::vector<std::string> strs = {"x", "", "héllo"};
  w.add_strings("a.strs", strs);
  std::vector<int32_t> ints = {5, -6};
  w.add_i32s("a.ints", ints);
  std::vector<float> floats = {1.5f};
  w.add_f32s("a.floats", floats);
  const auto src_image = test::make_valid_gguf();  // parsed values view these bytes
  auto src = parse(src_image.bytes);
  w.add_value("copied.nested", src->get("k.nested"));
  w.add_value("copied.strs", src->get("k.strs"));
  w.add_value("copied.f64", src->get("k.f64"));
  int64_t ne[] = {32, 3};
  w.add_tensor("t.q8", quant::Type::Q8_0, ne);
  int64_t ne2[] = {5};
  w.add_tensor("t.f32", quant::Type::F32, ne2);
  gguf::VectorSink sink;
  w.write_header(sink);
  std::vector<uint8_t> q8(w.tensor_bytes(0), 0x11);
  w.write_tensor_data(sink, q8.data(), 10);  // chunks of any size
  w.write_tensor_data(sink, q8.data() + 10, q8.size() - 10);
  float f5[5] = {1, 2, 3, 4, 5};
  w.write_tensor_data(sink, f5, sizeof f5);
  w.finish();

  auto f = parse(sink.bytes);
  CHECK(f->alignment() == 64);
  CHECK(f->get_int("a.u32") == 4000000000ll);
  CHECK(f->get_int("a.i32") == -7);
  CHECK(f->get("a.u64").as_uint() == (uint64_t{1} << 40));
  CHECK(f->get_float("a.f32") == 0.25);
  CHECK(f->get_bool("a.bool", false));
  CHECK(f->get("a.strs").string_at(2) == "héllo");
  CHECK(f->get("a.ints").int_at(1) == -6);
  CHECK(f->get("a.floats").float_at(0) == 1.5);
  CHECK(f->get("copied.nested").array_at(0).int_at(0) == 10);
  CHECK(f->get("copied.strs").string_at(1) == "bc");
  CHECK(f->get_float("copied.f64") == 2.5);
  const gguf::TensorInfo* t = f->find_tensor("t.f32");
  REQUIRE(t);
  CHECK(t->offset % 64 == 0);
  float back[5];
  std::memcpy(back, t->data, sizeof back);
  CHECK(back[4] == 5.0f);
  CHECK(f->find_tensor("t.q8")->data[33] == 0x11);
}

TEST_CASE("gguf: writer refuses misuse", "[gguf]") {
  gguf::GgufWriter w;
  int64_t bad[] = {30};
  CHECK_THROWS_AS(w.add_tensor("x", quant::Type::Q4_0, bad), Error);
  int64_t ok[] = {32};
  w.add_tensor("x", quant::Type::Q4_0, ok);
  gguf::VectorSink sink;
  CHECK_THROWS_AS(w.write_tensor_data(sink, "abc", 3), Error);  // before the header
  w.write_header(sink);
  CHECK_THROWS_AS(w.finish(), Error);  // tensor not written
  std::vector<uint8_t> too_much(19);
  CHECK_THROWS_AS(w.write_tensor_data(sink, too_much.data(), too_much.size()), Error);
}

TEST_CASE("gguf: every corrupted file is rejected with a located error", "[gguf][corrupt]") {
  auto corpus = test::make_corrupt_corpus();
  REQUIRE(corpus.size() > 500);
  for (const auto& c : corpus) {
    INFO("case " << c.name);
    try {
      parse(c.bytes);
      FAIL("accepted a corrupt file");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kCorruptFile);
      CHECK(std::string(e.what()).find("mem.gguf: at byte ") == 0);
    }
  }
}

TEST_CASE("gguf: random damage never crashes", "[gguf][corrupt]") {
  int accepted = 0;
  for (const auto& c : test::make_random_mutations(42, 3000)) {
    try {
      auto f = parse(c.bytes);
      // Whatever parses must be self-consistent: tensors inside the buffer.
      for (const auto& t : f->tensors()) {
        REQUIRE(t.data >= c.bytes.data());
        REQUIRE(t.data + t.n_bytes <= c.bytes.data() + c.bytes.size());
      }
      for (const auto& e : f->metadata()) (void)e.value.to_display();
      ++accepted;
    } catch (const Error&) {
    }
  }
  CHECK(accepted < 3000);  // most damage is detected; the rest must simply be safe
}

TEST_CASE("gguf: every fixture GGUF parses", "[gguf][fixtures]") {
  const char* files[] = {"models/tiny-qwen3next-bf16.gguf",  "models/tiny-qwen3next-iq3_m.gguf",
                         "models/tiny-qwen3next-q4_k_m.gguf", "models/tiny-qwen3next-zoo.gguf",
                         "models/tiny-qwen3next-legacy-q4_k_m.gguf", "tokenizer/qwen3-vocab.gguf",
                         "heldout/models/hidden-qwen3next-f16.gguf", "heldout/models/hidden-qwen3next-iq3_m.gguf",
                         "heldout/models/hidden-qwen3next-q2_k.gguf", "heldout/models/hidden-zoo.gguf"};
  for (const char* rel : files) {
    INFO(rel);
    auto f = gguf::GgufFile::open(test::fixture(rel));
    if (std::string(rel).find("vocab") == std::string::npos) CHECK(f->get_string("general.architecture") == "qwen3next");
    CHECK(f->get("tokenizer.ggml.tokens").size() > 2000);
  }
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-iq3_m.gguf"), {.use_mmap = false});
  CHECK(f->get_int("qwen3next.block_count") == 8);
  CHECK(f->tensors().size() > 100);
  // Read into memory (2 MiB pages where the OS allows), the bytes are the mapped file's.
  auto mapped = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-iq3_m.gguf"));
  REQUIRE(mapped->tensors().size() == f->tensors().size());
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    const auto& a = f->tensors()[i];
    const auto& b = mapped->tensors()[i];
    REQUIRE(a.n_bytes == b.n_bytes);
    CHECK(std::memcmp(a.data, b.data, a.n_bytes) == 0);
  }
}

TEST_CASE("gguf: open reports missing files", "[gguf]") {
  CHECK_THROWS_AS(gguf::GgufFile::open("/nonexistent/x.gguf"), Error);
  CHECK_THROWS_AS(gguf::GgufFile::open("/"), Error);
}
