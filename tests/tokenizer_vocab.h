// Small synthetic gpt2/qwen2 vocabularies for tokenizer tests (no fixtures
// needed), written as in-memory GGUF files; fields can be broken on purpose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace nextlm::test {

struct SynthVocab {
  std::string model = "gpt2";
  std::optional<std::string> pre = "qwen2";
  std::vector<std::string> tokens;  // vocabulary spelling (byte-level for normal tokens)
  std::vector<int32_t> types;       // empty: no token_type key
  std::vector<std::string> merges;  // "LEFT RIGHT"
  std::optional<uint32_t> bos, eos, pad;
  std::optional<bool> add_bos;

  // The 256 byte tokens, then `n_merges` merges built deterministically from
  // `seed` over the letters a-e, space and the byte 0xC3 (so merged tokens mix
  // ASCII with a UTF-8 lead byte), then the added tokens
  //   <|c|>, <|cc|> (control), <u>, <u><u> (user-defined), [PAD] (unused).
  static SynthVocab make(int n_merges = 200, uint64_t seed = 1);

  std::vector<uint8_t> to_gguf() const;
  tokenizer::Tokenizer load() const;  // through GgufFile::parse
};

}  // namespace nextlm::test
