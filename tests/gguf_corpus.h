// A small valid GGUF built byte by byte with the position of every field
// recorded, and a corpus of corrupted variants of it. Shared by the corrupt-
// file test and the fuzzer's seed-corpus generator.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nextlm::test {

struct GgufImage {
  std::vector<uint8_t> bytes;
  std::map<std::string, size_t> at;  // field name -> byte offset
};

// A valid file: every metadata value type (strings, string arrays, nested
// arrays), general.alignment 32, tensors of types f32, f16, q4_0, q4_K.
GgufImage make_valid_gguf();

struct CorruptCase {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Each of these must be rejected with an error.
std::vector<CorruptCase> make_corrupt_corpus();

// Random byte-level damage (may or may not still be valid; must never crash).
std::vector<CorruptCase> make_random_mutations(uint64_t seed, int count);

}  // namespace nextlm::test
