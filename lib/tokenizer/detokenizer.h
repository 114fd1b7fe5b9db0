// Ids to bytes: the bytes every token stands for (precomputed when the
// vocabulary is loaded), and a streaming UTF-8 decoder that lets tokens arrive
// one at a time and only ever emits complete characters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::tokenizer {

// GGUF token types (tokenizer.ggml.token_type), as llama.cpp defines them.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// What each token decodes to:
//  - NORMAL (and UNDEFINED): the vocabulary text read through the byte-level
//    alphabet (each character stands for one byte). A text that is not in
//    that alphabet decodes to itself.
//  - BYTE: "<0xHH>" is that byte; other texts as NORMAL.
//  - USER_DEFINED: its text, always.
//  - CONTROL, UNKNOWN, UNUSED ("special"): its text, only when special tokens
//    are rendered; nothing otherwise.
class TokenBytes {
 public:
  TokenBytes() = default;
  TokenBytes(const std::vector<std::string_view>& texts, const std::vector<TokenType>& types);

  size_t size() const { return special_.size(); }
  std::string_view bytes(size_t id) const {
    return std::string_view(blob_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  bool is_special(size_t id) const { return special_[id] != 0; }
  // Appends what token id renders to; id must be < size().
  void append(size_t id, bool render_special, std::string& out) const {
    if (special_[id] && !render_special) return;
    std::string_view b = bytes(id);
    out.append(b.data(), b.size());
  }

 private:
  std::vector<char> blob_;
  std::vector<size_t> offsets_{0};
  std::vector<uint8_t> special_;
};

// Bytes in, complete UTF-8 characters out. An incomplete sequence at the end of
// the input is held back until more bytes complete it. Bytes that cannot
// become part of a well-formed character are, per `mode`, replaced by U+FFFD
// one by one (the output is then always valid UTF-8) or passed through as they
// are (the concatenated output then equals the concatenated input).
class Utf8StreamDecoder {
 public:
  enum class Invalid { kReplace, kPassThrough };
  explicit Utf8StreamDecoder(Invalid mode = Invalid::kReplace) : mode_(mode) {}

  // Appends to `out` every character completed by `bytes`.
  void push(std::string_view bytes, std::string& out);
  // End of stream: a held-back incomplete sequence is invalid; flush it.
  void finish(std::string& out);
  // Bytes currently held back (0..3).
  size_t pending() const { return pending_.size(); }
  void reset() { pending_.clear(); }

 private:
  void emit_invalid(unsigned char b, std::string& out) const;

  Invalid mode_;
  std::string pending_;
};

}  // namespace nextlm::tokenizer
