// Tokenizer robustness: thousands of generated inputs (random bytes, invalid
// UTF-8, added-token fragments, huge repeats) must encode and decode without
// error, keep every id in range and round-trip; long inputs without any
// pre-tokenizer split must not take quadratic time. Uses the real Qwen3
// vocabulary when the fixtures are present, a synthetic one otherwise, so it
// also runs in the sanitizer build without fixtures.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "fixtures.h"
#include "tokenizer/normalize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_vocab.h"
#include "util/rng.h"

using namespace nextlm::tokenizer;

namespace {

Tokenizer load_vocab(bool* real = nullptr) {
  std::string path = nextlm::test::fixture("tokenizer/qwen3-vocab.gguf");
  bool have = std::filesystem::is_regular_file(path);
  if (real) *real = have;
  if (have) return Tokenizer::from_file(path);
  return nextlm::test::SynthVocab::make(300).load();
}

// Code points that exercise every branch of the pre-tokenizer and NFC.
const uint32_t kInteresting[] = {
    'a',    'Z',    's',     'S',      't',    'r',    'e',    'v',    'l',    'm',     'd',     '\'',   ' ',
    ' ',    ' ',    '\t',    '\n',     '\r',   0x0B,   0x0C,   '0',    '7',    '!',     '.',     '<',    '>',
    '|',    '_',    0x1C,    0x85,     0xA0,   0xBD,   0xC5,   0x17F,  0x300,  0x301,   0x323,   0x338,  0x4E2D,
    0x3000, 0x2028, 0x1680,  0x1100,   0x1161, 0x11A8, 0xAC00, 0x0958, 0x212B, 0x1F680, 0x1F600, 0x200D, 0xFE0F,
    0x0378, 0xE000, 0x31350, 0x10FFFF, 0x0663, 0x2163, 0x0915, 0x093C, 0x0B47, 0x0B3E};

const char* const kFragments[] = {"<|im_start|>", "<|im_end|>", "<think>",     "</think>", "<|endoftext|>",
                                  "<|",           "|>",         "<tool_call>", "<|c|>",    "<|cc|>",
                                  "<u>",          "<u><u>",     "[PAD151900]", "[PAD]",    "\n\n"};

std::string random_text(nextlm::util::Rng& rng, int kind) {
  std::string s;
  const size_t len = rng.below(kind == 4 ? 4 : 160);
  switch (kind) {
    case 0:  // random bytes
      s.resize(len);
      rng.fill_bytes(s.data(), s.size());
      break;
    case 1:  // valid UTF-8 from interesting code points
      for (size_t i = 0; i < len; ++i) append_utf8(s, kInteresting[rng.below(std::size(kInteresting))]);
      break;
    case 2:  // valid text with invalid bytes and truncated sequences sprinkled in
      for (size_t i = 0; i < len; ++i) {
        if (rng.below(8) == 0) {
          static const char* const kBad[] = {"\xFF", "\xC0", "\x80", "\xE2\x82", "\xF0\x9F\x9A", "\xED\xA0\x80"};
          s += kBad[rng.below(std::size(kBad))];
        } else {
          append_utf8(s, kInteresting[rng.below(std::size(kInteresting))]);
        }
      }
      break;
    case 3:  // added-token fragments mixed with text
      for (size_t i = 0; i < len / 4; ++i) {
        if (rng.below(2))
          s += kFragments[rng.below(std::size(kFragments))];
        else
          append_utf8(s, kInteresting[rng.below(std::size(kInteresting))]);
      }
      break;
    default: {  // a short unit repeated many times
      std::string unit = random_text(rng, static_cast<int>(rng.below(4)));
      if (unit.empty()) unit.push_back('a');
      size_t reps = 1 + rng.below(20000 / unit.size() + 1);
      for (size_t i = 0; i < reps && s.size() < 20000; ++i) s += unit;
      break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("tokenizer survives thousands of generated inputs", "[tokenizer][fuzz]") {
  Tokenizer tok = load_vocab();
  nextlm::util::Rng rng(12345);
  const int kInputs = 3000;
  for (int i = 0; i < kInputs; ++i) {
    const int kind = i % 5 == 4 ? (i % 50 == 4 ? 4 : 3) : i % 5;  // few huge repeats
    std::string text = random_text(rng, kind);
    INFO("input " << i << " kind " << kind << " size " << text.size());
    for (int special = 0; special < 2; ++special) {
      EncodeOptions raw;
      raw.parse_special = special == 1;
      raw.normalize = false;
      std::vector<int32_t> ids = tok.encode(text, raw);
      for (int32_t id : ids) REQUIRE((id >= 0 && id < tok.n_vocab()));
      // Without normalization every byte comes back exactly.
      REQUIRE(tok.decode(ids, true) == text);

      // Streaming: pass-through adds up to decode(); replacement is always valid UTF-8.
      StreamDecoder pass(tok, true, Utf8StreamDecoder::Invalid::kPassThrough);
      StreamDecoder rep(tok, true);
      std::string streamed;
      for (int32_t id : ids) {
        streamed += pass.push(id);
        REQUIRE(is_valid_utf8(rep.push(id)));
      }
      streamed += pass.finish();
      REQUIRE(is_valid_utf8(rep.finish()));
      REQUIRE(streamed == text);

      // With NFC the result is canonically equivalent to the input.
      EncodeOptions nfc_opts = raw;
      nfc_opts.normalize = true;
      std::vector<int32_t> nids = tok.encode(text, nfc_opts);
      REQUIRE(nfc_utf8(tok.decode(nids, true)) == nfc_utf8(text));
      if (nfc_utf8(text) == text) REQUIRE(nids == ids);
    }
  }
}

TEST_CASE("long inputs without splits are not quadratic and stay exact", "[tokenizer][long]") {
  bool real = false;
  Tokenizer tok = load_vocab(&real);
  nextlm::util::Rng rng(7);
  // Against the quadratic reference on words of a few thousand bytes.
  const std::string letters = real ? "abcdefghijklmnopqrstuvwxyz" : "abcde";
  for (int i = 0; i < 6; ++i) {
    std::string w(500 + 500 * static_cast<size_t>(i), 'a');
    for (char& c : w) c = letters[rng.below(i % 2 ? 3 : letters.size())];
    std::vector<int32_t> fast = tok.encode(w), ref;
    tok.bpe().encode_reference(w, ref);
    REQUIRE(fast == ref);
  }
  // 1 MB lines that the pre-tokenizer cannot split: letters, a punctuation
  // run, CJK ideographs. Must simply finish (in well under a second in a
  // release build) and round-trip.
  const size_t kMB = size_t{1} << 20;
  std::vector<std::string> lines(3);
  for (size_t i = 0; lines[0].size() < kMB; ++i) lines[0].push_back(letters[rng.below(letters.size())]);
  lines[1].assign(kMB, '!');
  while (lines[2].size() < kMB) append_utf8(lines[2], 0x4E00 + static_cast<uint32_t>(rng.below(2000)));
  for (const std::string& line : lines) {
    std::vector<int32_t> ids = tok.encode(line);
    REQUIRE(!ids.empty());
    REQUIRE(tok.decode(ids) == line);
  }
}
