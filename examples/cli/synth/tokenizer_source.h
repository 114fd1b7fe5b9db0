// Where a synthesized model's tokenizer.* metadata comes from: copied from an
// existing GGUF (e.g. the real 151936-token Qwen3 vocabulary), or a small
// built-in byte-level BPE with the Qwen3 special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"

namespace nextlm::cli::synth {

class TokenizerSource {
 public:
  // Every tokenizer.* key of `path` (which must have tokenizer.ggml.tokens).
  static TokenizerSource from_gguf(const std::string& path);
  // gpt2/qwen2 byte-level BPE: 256 byte tokens, a few merges, Qwen3 specials.
  static TokenizerSource builtin();

  // Tokens the source defines (before any padding).
  int64_t n_tokens() const;
  // The vocabulary size the model gets when the shape asks for n_vocab
  // (0 = no preference). A copied vocabulary is used as it is; the built-in
  // one is padded up to n_vocab. Throws nextlm::Error when that is impossible.
  int64_t resolve_vocab(int64_t n_vocab) const;
  // Adds the tokenizer.* keys for a vocabulary of resolve_vocab(n_vocab).
  void write_metadata(gguf::GgufWriter& w, int64_t n_vocab) const;

  bool is_builtin() const { return file_ == nullptr; }
  // The built-in vocabulary (exposed for tests).
  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::vector<int32_t>& token_types() const { return types_; }
  const std::vector<std::string>& merges() const { return merges_; }

 private:
  std::shared_ptr<gguf::GgufFile> file_;  // copied source; null for the built-in one
  std::vector<std::string> tokens_;
  std::vector<int32_t> types_;
  std::vector<std::string> merges_;
  uint32_t bos_ = 0, eos_ = 0, pad_ = 0;
};

// GPT-2's bytes_to_unicode: the printable stand-in (UTF-8) for each byte.
std::string byte_to_unicode(uint8_t b);

}  // namespace nextlm::cli::synth
