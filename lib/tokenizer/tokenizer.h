// The Qwen2/Qwen3 tokenizer: byte-level BPE loaded from GGUF metadata
// (tokenizer.ggml.model "gpt2", tokenizer.ggml.pre "qwen2").
//
// encode(text):
//  1. Added tokens are cut out of the raw bytes first (special_tokens.h):
//     USER_DEFINED ones always, CONTROL ones only with parse_special;
//     leftmost-longest match.
//  2. Every stretch between them is split into well-formed UTF-8 runs and
//     invalid bytes. Each invalid byte (see unicode.h for what counts) becomes
//     its own piece and is encoded as its byte token; it also ends the run
//     before it, as if the text were split there.
//  3. A UTF-8 run is normalized to NFC (the reference tokenizer's normalizer;
//     EncodeOptions::normalize turns it off), split by the Qwen2 pre-tokenizer
//     (pretokenizer.h), and each piece is byte-level BPE encoded (bpe.h).
// decode(ids) concatenates the tokens' bytes (detokenizer.h); for text that
// is NFC and valid UTF-8, decode(encode(text)) == text.
//
// A Tokenizer is immutable after loading and safe to use from several
// threads (the word cache is internally locked).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_reader.h"
#include "tokenizer/bpe.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/special_tokens.h"

namespace nextlm::tokenizer {

struct EncodeOptions {
  bool parse_special = false;  // match CONTROL tokens (<|im_start|>, ...) in the text
  bool add_bos = false;        // prepend BOS if the vocabulary's add_bos_token says so
  bool normalize = true;       // NFC before pre-tokenization, as the reference does
};

// Bytes [begin, end) of a text to be tokenized as ordinary text only.
struct PlainRange {
  size_t begin = 0, end = 0;
};

class Tokenizer {
 public:
  // Reads and validates the tokenizer.* metadata; the file may be closed
  // afterwards. Throws nextlm::Error: kUnsupported for another tokenizer
  // kind or pre-tokenizer, kCorruptFile for an inconsistent vocabulary.
  static Tokenizer from_gguf(const gguf::GgufFile& file);
  static Tokenizer from_file(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept = default;
  Tokenizer& operator=(Tokenizer&&) noexcept = default;

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& opts = {}) const;
  // Appends to `out`.
  void encode(std::string_view text, const EncodeOptions& opts, std::vector<int32_t>& out) const;
  // Like encode(), except that no added token (CONTROL or USER_DEFINED) is
  // matched where it would overlap one of `plain` (sorted, disjoint): text from
  // untrusted sources inside a prompt cannot become control tokens. Between
  // accepted added tokens, text is BPE-encoded as a whole, so a prompt whose
  // plain ranges hold no added-token text encodes exactly as with encode().
  void encode_guarded(std::string_view text, std::span<const PlainRange> plain, const EncodeOptions& opts,
                      std::vector<int32_t>& out) const;

  // Concatenated bytes of the tokens (CONTROL/UNUSED ones only when
  // render_special). Throws nextlm::Error(kInvalidArgument) for an id out of range.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const;
  std::string_view token_bytes(int32_t id) const;  // what the token decodes to
  std::string_view token_text(int32_t id) const;   // the vocabulary string
  TokenType token_type(int32_t id) const;
  // CONTROL, UNKNOWN and UNUSED tokens: rendered only on request.
  bool is_special(int32_t id) const;
  // Id of a vocabulary string, or -1.
  int32_t find_token(std::string_view text) const;

  // The pre-tokenizer pieces of a text (no added-token matching), for tests and tools.
  std::vector<std::string> pretokenize(std::string_view text, bool normalize = true) const;

  int32_t n_vocab() const { return static_cast<int32_t>(types_.size()); }
  size_t n_merges() const { return bpe_.merges().size(); }
  int32_t bos_id() const { return bos_; }  // -1 when the vocabulary has none
  int32_t eos_id() const { return eos_; }
  int32_t pad_id() const { return pad_; }
  bool add_bos_token() const { return add_bos_; }
  const BpeEncoder& bpe() const { return bpe_; }

 private:
  explicit Tokenizer(BpeEncoder bpe) : bpe_(std::move(bpe)) {}
  void check_id(int32_t id) const;
  void encode_fragment(std::string_view frag, bool normalize, std::vector<int32_t>& out) const;
  template <class F>
  void for_each_piece(std::string_view run, bool normalize, F&& piece) const;

  std::vector<char> text_blob_;  // vocabulary strings, back to back
  std::vector<size_t> text_off_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string_view, int32_t> by_text_;  // views into text_blob_
  BpeEncoder bpe_;
  int32_t byte_token_[256] = {};
  SpecialTokenMatcher specials_;
  TokenBytes bytes_;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  bool add_bos_ = false;
};

// Decodes tokens as they arrive and returns only complete UTF-8 characters: a
// character whose bytes are split over several tokens comes out whole, with
// the token that completes it. Invalid bytes become U+FFFD (see Utf8StreamDecoder).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool render_special = false,
                         Utf8StreamDecoder::Invalid mode = Utf8StreamDecoder::Invalid::kReplace)
      : tok_(&tok), render_special_(render_special), utf8_(mode) {}

  // Text completed by this token (possibly empty).
  std::string push(int32_t id);
  // End of the stream: whatever is held back, as replacement characters.
  std::string finish();

 private:
  const Tokenizer* tok_;
  bool render_special_;
  Utf8StreamDecoder utf8_;
};

}  // namespace nextlm::tokenizer
