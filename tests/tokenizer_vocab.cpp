#include "tokenizer_vocab.h"

#include <map>
#include <set>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/bpe.h"
#include "util/rng.h"

namespace nextlm::test {

SynthVocab SynthVocab::make(int n_merges, uint64_t seed) {
  SynthVocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(tokenizer::bytes_to_vocab_text(std::string(1, char(b))));
  v.types.assign(256, 1);

  // Merges over a small alphabet; each new token is the concatenation of two
  // existing ones (in vocabulary spelling), as real BPE training produces.
  const std::string alphabet = "abcde \xC3";
  std::vector<std::string> pool;
  for (char c : alphabet) pool.push_back(tokenizer::bytes_to_vocab_text(std::string(1, c)));
  std::set<std::string> known(v.tokens.begin(), v.tokens.end());
  std::set<std::pair<std::string, std::string>> used;
  util::Rng rng(seed);
  for (int tries = 0; static_cast<int>(v.merges.size()) < n_merges && tries < n_merges * 50; ++tries) {
    const std::string& a = pool[rng.below(pool.size())];
    const std::string& b = pool[rng.below(pool.size())];
    std::string ab = a + b;
    if (ab.size() > 24 || used.count({a, b})) continue;
    used.insert({a, b});
    v.merges.push_back(a + " " + b);
    if (known.insert(ab).second) {
      v.tokens.push_back(ab);
      v.types.push_back(1);
      pool.push_back(ab);
    }
  }
  auto add = [&](const std::string& t, int type) {
    v.tokens.push_back(t);
    v.types.push_back(type);
  };
  add("<|c|>", 3);
  add("<|cc|>", 3);
  add("<u>", 4);
  add("<u><u>", 4);
  add("[PAD]", 5);
  v.bos = static_cast<uint32_t>(v.tokens.size() - 5);  // <|c|>
  v.eos = static_cast<uint32_t>(v.tokens.size() - 4);  // <|cc|>
  v.add_bos = false;
  return v;
}

std::vector<uint8_t> SynthVocab::to_gguf() const {
  gguf::GgufWriter w;
  w.add_string("general.architecture", "qwen3next");
  w.add_string("tokenizer.ggml.model", model);
  if (pre) w.add_string("tokenizer.ggml.pre", *pre);
  w.add_strings("tokenizer.ggml.tokens", tokens);
  if (!types.empty()) w.add_i32s("tokenizer.ggml.token_type", types);
  w.add_strings("tokenizer.ggml.merges", merges);
  if (bos) w.add_u32("tokenizer.ggml.bos_token_id", *bos);
  if (eos) w.add_u32("tokenizer.ggml.eos_token_id", *eos);
  if (pad) w.add_u32("tokenizer.ggml.padding_token_id", *pad);
  if (add_bos) w.add_bool("tokenizer.ggml.add_bos_token", *add_bos);
  gguf::VectorSink sink;
  w.write_header(sink);
  w.finish();
  return sink.bytes;
}

tokenizer::Tokenizer SynthVocab::load() const {
  std::vector<uint8_t> bytes = to_gguf();
  auto f = gguf::GgufFile::parse("synthetic-vocab.gguf", bytes.data(), bytes.size());
  return tokenizer::Tokenizer::from_gguf(*f);
}

}  // namespace nextlm::test
