#include "gguf_corpus.h"

#include <fmt/format.h>

#include <cstring>

#include "util/rng.h"

namespace nextlm::test {

namespace {

class Enc {
 public:
  GgufImage img;
  size_t pos() const { return img.bytes.size(); }
  void mark(const std::string& name) { img.at[name] = pos(); }
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    img.bytes.insert(img.bytes.end(), p, p + sizeof(T));
  }
  void str(const std::string& s, const std::string& mark_as = "") {
    if (!mark_as.empty()) mark(mark_as);
    put<uint64_t>(s.size());
    img.bytes.insert(img.bytes.end(), s.begin(), s.end());
  }
  void pad(size_t a) {
    while (pos() % a) img.bytes.push_back(0);
  }
};

struct T {
  const char* name;
  uint32_t type;
  std::vector<uint64_t> ne;
  uint64_t bytes;
};

// Types: f32=0 f16=1 q4_0=2 (32 el, 18 B) q4_K=12 (256 el, 144 B).
const T kTensors[] = {
    {"w.aa", 0, {8, 2}, 64},
    {"w.ab", 1, {16}, 32},
    {"w.ac", 2, {64, 2}, 4 * 18},
    {"w.ad", 12, {256}, 144},
};

void patch64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
void patch32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

}  // namespace

GgufImage make_valid_gguf() {
  Enc e;
  e.put<uint32_t>(0x46554747);
  e.mark("version");
  e.put<uint32_t>(3);
  e.mark("n_tensors");
  e.put<uint64_t>(std::size(kTensors));
  e.mark("n_kv");
  e.put<uint64_t>(9);
  e.mark("kv");

  e.str("general.architecture", "key0");
  e.mark("key0.type");
  e.put<uint32_t>(8);
  e.str("qwen3next", "str0");

  e.str("general.alignment", "key.alignment");
  e.mark("alignment.type");
  e.put<uint32_t>(4);
  e.mark("alignment.value");
  e.put<uint32_t>(32);

  e.str("k.u8"), e.put<uint32_t>(0), e.put<uint8_t>(7);
  e.str("k.i16"), e.put<uint32_t>(3), e.put<int16_t>(-300);
  e.str("k.f64", "key.f64"), e.put<uint32_t>(12), e.put<double>(2.5);
  e.str("k.bool", "key.bool"), e.put<uint32_t>(7), e.mark("bool.value"), e.put<uint8_t>(1);

  e.str("k.strs"), e.put<uint32_t>(9), e.put<uint32_t>(8);
  e.mark("strs.len");
  e.put<uint64_t>(3);
  e.str("a", "strs.item0"), e.str("bc"), e.str("");

  e.str("k.i32s"), e.put<uint32_t>(9);
  e.mark("i32s.elem_type");
  e.put<uint32_t>(5);
  e.mark("i32s.len");
  e.put<uint64_t>(4);
  for (int32_t v : {1, -2, 3, -4}) e.put(v);

  // Nested: array of 2 arrays of u16.
  e.str("k.nested", "key.nested"), e.put<uint32_t>(9), e.put<uint32_t>(9);
  e.mark("nested.len");
  e.put<uint64_t>(2);
  for (int k = 0; k < 2; ++k) {
    e.put<uint32_t>(2), e.put<uint64_t>(2), e.put<uint16_t>(10), e.put<uint16_t>(20);
  }

  e.mark("tensors");
  uint64_t offset = 0;
  for (size_t i = 0; i < std::size(kTensors); ++i) {
    const T& t = kTensors[i];
    std::string p = fmt::format("t{}", i);
    e.str(t.name, p + ".name");
    e.mark(p + ".n_dims");
    e.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (size_t d = 0; d < t.ne.size(); ++d) {
      e.mark(fmt::format("{}.ne{}", p, d));
      e.put<uint64_t>(t.ne[d]);
    }
    e.mark(p + ".type");
    e.put<uint32_t>(t.type);
    e.mark(p + ".offset");
    e.put<uint64_t>(offset);
    offset += (t.bytes + 31) / 32 * 32;
  }
  e.mark("tensor_infos_end");
  e.pad(32);
  e.mark("data");
  for (size_t i = 0; i < std::size(kTensors); ++i) {
    e.mark(fmt::format("t{}.data", i));
    // Small finite values: f32 1.0f / f16 1.0 patterns, zeros for quant blocks (d = 0 is valid).
    std::vector<uint8_t> d(kTensors[i].bytes, 0);
    if (kTensors[i].type == 0) {
      for (size_t k = 0; k + 4 <= d.size(); k += 4) patch32(d, k, 0x3f800000);
    }
    e.img.bytes.insert(e.img.bytes.end(), d.begin(), d.end());
    e.pad(32);
  }
  e.mark("end");
  return e.img;
}

std::vector<CorruptCase> make_corrupt_corpus() {
  const GgufImage base = make_valid_gguf();
  const auto& at = base.at;
  std::vector<CorruptCase> out;
  auto add = [&](std::string name, auto&& mutate) {
    std::vector<uint8_t> b = base.bytes;
    mutate(b);
    out.push_back({std::move(name), std::move(b)});
  };
  auto set64 = [&](const char* field, uint64_t v) {
    add(fmt::format("{}={}", field, v), [&](auto& b) { patch64(b, at.at(field), v); });
  };
  auto set32 = [&](const char* field, uint32_t v) {
    add(fmt::format("{}={}", field, v), [&](auto& b) { patch32(b, at.at(field), v); });
  };

  // Truncation at every byte of the header and tensor table, and inside each tensor's data.
  for (size_t n = 0; n < at.at("data"); ++n) {
    add(fmt::format("truncated@{}", n), [&](auto& b) { b.resize(n); });
  }
  for (int i = 0; i < 4; ++i) {
    size_t d = at.at(fmt::format("t{}.data", i));
    for (size_t n : {d + 1, d + kTensors[i].bytes - 1}) add(fmt::format("truncated-data@{}", n), [&](auto& b) { b.resize(n); });
  }

  set32("version", 1), set32("version", 4), set32("version", 0x03000000);
  add("bad-magic", [](auto& b) { b[0] = 'X'; });
  const uint64_t huge[] = {uint64_t{1} << 32, uint64_t{1} << 62, ~uint64_t{0}};
  for (uint64_t v : huge) {
    set64("n_tensors", v), set64("n_kv", v), set64("strs.len", v), set64("i32s.len", v), set64("nested.len", v);
    set64("key0", v), set64("str0", v), set64("strs.item0", v), set64("t0.name", v);
    set64("t0.ne0", v), set64("t1.ne0", v);
  }
  set64("n_tensors", 5), set64("n_kv", 10);
  set64("t0.ne0", 0), set64("t0.ne1", 0);
  // ne0 * ne1 overflows int64 while each is valid on its own.
  add("dims-overflow", [&](auto& b) { patch64(b, at.at("t0.ne0"), uint64_t{1} << 40), patch64(b, at.at("t0.ne1"), uint64_t{1} << 40); });
  set64("t2.ne0", 48);  // not a multiple of the q4_0 block size
  set64("t3.ne0", 128); // not a multiple of the q4_K block size
  set32("t0.n_dims", 0), set32("t0.n_dims", 5), set32("t0.n_dims", 0xffffffffu);
  set32("t0.type", 4), set32("t0.type", 31), set32("t0.type", 100), set32("t0.type", 0xffffffffu);
  set32("key0.type", 13), set32("key0.type", 0xffffffffu), set32("i32s.elem_type", 77);
  set32("bool.value", 2);
  set64("t1.offset", 1), set64("t1.offset", 33);            // misaligned
  set64("t3.offset", uint64_t{1} << 40), set64("t3.offset", ~uint64_t{0} & ~uint64_t{31});  // beyond the end
  set64("t1.offset", 0);                                     // overlaps t0
  set32("alignment.value", 0), set32("alignment.value", 3), set32("alignment.value", 48);
  set32("alignment.type", 5);  // alignment stored as i32
  add("dup-tensor-name", [&](auto& b) { b[at.at("t1.name") + 8 + 3] = 'a'; });  // "w.ab" -> "w.aa"
  add("dup-key", [&](auto& b) { std::memcpy(b.data() + at.at("key.f64") + 8, "k.i16", 5); });
  return out;
}

std::vector<CorruptCase> make_random_mutations(uint64_t seed, int count) {
  const GgufImage base = make_valid_gguf();
  util::Rng rng(seed);
  std::vector<CorruptCase> out;
  for (int i = 0; i < count; ++i) {
    std::vector<uint8_t> b = base.bytes;
    int flips = 1 + static_cast<int>(rng.next_u64() % 4);
    for (int f = 0; f < flips; ++f) {
      size_t p = rng.next_u64() % b.size();
      b[p] = static_cast<uint8_t>(rng.next_u64());
    }
    out.push_back({fmt::format("random-{}", i), std::move(b)});
  }
  return out;
}

}  // namespace nextlm::test
