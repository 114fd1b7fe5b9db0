// Tokenizer: Unicode tables, NFC, the Qwen2 pre-tokenizer, BPE, added tokens,
// (streaming) decoding, vocabulary validation — on synthetic vocabularies —
// and the fixture cases on the real Qwen3 vocabulary ([fixtures]).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "fixtures.h"
#include "nextlm/error.h"
#include "tokenizer/normalize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_vocab.h"
#include "util/rng.h"

using nextlm::Error;
using nextlm::ErrorCode;
using nextlm::test::SynthVocab;
using namespace nextlm::tokenizer;

namespace {

ErrorCode load_error(const SynthVocab& v, std::string* message = nullptr) {
  try {
    v.load();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  FAIL("vocabulary loaded but should not have");
  return ErrorCode::kInternal;
}

std::vector<std::string> split_cases(const std::string& all) {  // as `nextlm tokenize --cases`
  std::vector<std::string> cases(1);
  bool at_start = true;
  size_t pos = 0;
  for (;;) {
    size_t nl = all.find('\n', pos);
    std::string line = all.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (line == "__case__") {
      cases.emplace_back();
      at_start = true;
    } else {
      if (!at_start) cases.back() += '\n';
      cases.back() += line;
      at_start = false;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return cases;
}

std::string read_text(const std::string& path) {
  std::vector<unsigned char> b = nextlm::test::read_file(path);
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("unicode: strict UTF-8 decoding, one invalid byte at a time", "[tokenizer]") {
  auto dec = [](std::string s) { return decode_utf8(reinterpret_cast<const unsigned char*>(s.data()), s.size()); };
  CHECK(dec("A").cp == 'A');
  Utf8Char euro = dec("\xE2\x82\xAC");
  CHECK((euro.valid && euro.cp == 0x20AC && euro.len == 3));
  Utf8Char emoji = dec("\xF0\x9F\x9A\x80");
  CHECK((emoji.valid && emoji.cp == 0x1F680 && emoji.len == 4));
  for (std::string bad : {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                          "\xF5\x80\x80\x80", "\xFF", "\xE2\x82", "\xE2\x28\xA1"}) {
    Utf8Char c = dec(bad);
    CHECK(!c.valid);
    CHECK(c.len == 1);
    CHECK(c.cp == static_cast<unsigned char>(bad[0]));
  }
  auto prefix = [](std::string s) {
    return is_utf8_prefix(reinterpret_cast<const unsigned char*>(s.data()), s.size());
  };
  CHECK(prefix("\xE2"));
  CHECK(prefix("\xE2\x82"));
  CHECK(!prefix("\xE2\x82\xAC"));
  CHECK(!prefix("\xED\xA0"));  // would be a surrogate
  CHECK(!prefix("\xC0"));
  CHECK(is_valid_utf8("h\xC3\xA9llo"));
  CHECK(!is_valid_utf8("h\xC3llo"));
}

TEST_CASE("unicode: property tables", "[tokenizer]") {
  CHECK(unicode_flags('a') == ucd::kLetter);
  CHECK(unicode_flags('7') == ucd::kNumber);
  CHECK(unicode_flags(' ') == ucd::kWhitespace);
  CHECK(unicode_flags('\n') == ucd::kWhitespace);
  CHECK(unicode_flags('!') == 0);
  CHECK(unicode_flags(0x1C) == 0);                   // not White_Space
  CHECK(unicode_flags(0x3000) == ucd::kWhitespace);  // ideographic space
  CHECK(unicode_flags(0x00BD) == ucd::kNumber);      // ½ (No)
  CHECK(unicode_flags(0x2163) == ucd::kNumber);      // Ⅳ (Nl)
  CHECK(unicode_flags(0x4E2D) == ucd::kLetter);      // 中
  CHECK(unicode_flags(0x20000) == ucd::kLetter);     // CJK Ext B
  CHECK(unicode_flags(0x1F680) == 0);                // 🚀 (So)
  CHECK(unicode_flags(0x0378) == 0);                 // unassigned
  CHECK(unicode_flags(0x31350) == 0);                // CJK Ext H: after Unicode 14.0
  CHECK(combining_class(0x0301) == 230);
  CHECK((unicode_flags(0x0301) & ucd::kNfcCheck));
  CHECK(unicode_properties(0x110000) == 0);
}

TEST_CASE("nfc: composition, ordering, Hangul, exclusions", "[tokenizer]") {
  CHECK(nfc_utf8("e\xCC\x81") == "\xC3\xA9");                                 // e + U+0301 -> é
  CHECK(nfc_utf8("\xE1\xB8\x8B\xCC\xA3") == "\xE1\xB8\x8D\xCC\x87");          // ḋ + dot below -> ḍ + dot above
  CHECK(nfc_utf8("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81");  // jamo -> 각
  CHECK(nfc_utf8("\xE2\x84\xAB") == "\xC3\x85");                              // Ångström sign -> Å (singleton)
  CHECK(nfc_utf8("\xE0\xA5\x98") == "\xE0\xA4\x95\xE0\xA4\xBC");              // U+0958 is excluded: stays decomposed
  CHECK(nfc_utf8("\xCC\x81"
                 "a") ==
        "\xCC\x81"
        "a");  // leading mark
  CHECK(nfc_utf8("plain ascii") == "plain ascii");
  CHECK(nfc_utf8("a\xFF\xCC\x81") == "a\xFF\xCC\x81");  // invalid byte blocks composition
}

TEST_CASE("pre-tokenizer: the Qwen2 pattern as Oniguruma runs it", "[tokenizer]") {
  Tokenizer tok = SynthVocab::make(0).load();
  using P = std::vector<std::string>;
  // Expected pieces are what the reference regex (Oniguruma) produces.
  const std::vector<std::pair<std::string, P>> cases = {
      {"Hello world", {"Hello", " world"}},
      {"a\xC2\xA0 b", {"a", "\xC2\xA0", " b"}},
      {"x\xE3\x80\x80\xE3\x80\x80y", {"x", "\xE3\x80\x80", "\xE3\x80\x80y"}},
      {"I'M 'Sx 'sx '\xC5\xBFx 'REx we'Ve a'lL",
       {"I", "'M", " '", "Sx", " '", "sx", " '", "\xC5\xBFx", " '", "REx", " we", "'Ve", " a", "'lL"}},
      {"'Sx", {"'S", "x"}},
      {"'\xC5\xBFx", {"'\xC5\xBF", "x"}},  // long s folds to s
      {"  \n\n  x", {"  \n\n", " ", " x"}},
      {"3333 abc!!\n\n", {"3", "3", "3", "3", " abc", "!!\n\n"}},
      {"\x1C\x1D x", {"\x1C\x1D", " x"}},
      {"''s", {"''", "s"}},
      {"\tfoo  \t bar", {"\tfoo", "  \t", " bar"}},
      {"\r\nfoo\r\n", {"\r\n", "foo", "\r\n"}},
      {"a   ", {"a", "   "}},
      {"x \n", {"x", " \n"}},
      {"\xC2\xBD\xC2\xB2 \xD9\xA3", {"\xC2\xBD", "\xC2\xB2", " ", "\xD9\xA3"}},
      {" ?!? (x)", {" ?!?", " (", "x", ")"}},
      {" \xE2\x80\xA8 q", {" \xE2\x80\xA8", " q"}},
      {"e\xCC\x81", {"e", "\xCC\x81"}},
      {"\xCD\xB8\xEE\x80\x80z", {"\xCD\xB8\xEE\x80\x80", "z"}},
  };
  for (const auto& [text, pieces] : cases) {
    INFO("text: " << text);
    CHECK(tok.pretokenize(text, false) == pieces);
  }
  CHECK(tok.pretokenize("e\xCC\x81", true) == P{"\xC3\xA9"});
  CHECK(tok.pretokenize("ab\xFF"
                        "cd",
                        false) == P{"ab", "\xFF", "cd"});
}

TEST_CASE("bpe: heap merge loop agrees with the quadratic reference", "[tokenizer]") {
  for (uint64_t seed : {1, 2, 3}) {
    Tokenizer tok = SynthVocab::make(400, seed).load();
    nextlm::util::Rng rng(seed * 77);
    const std::string alphabet = "abcde \xC3";
    for (int i = 0; i < 300; ++i) {
      std::string w(1 + rng.below(i < 250 ? 40 : 600), 'a');
      for (char& c : w) c = alphabet[rng.below(alphabet.size())];
      std::vector<int32_t> fast, ref;
      tok.bpe().encode_uncached(w, fast);
      tok.bpe().encode_reference(w, ref);
      REQUIRE(fast == ref);
      CHECK(tok.decode(fast) == w);
    }
  }
}

TEST_CASE("added tokens: user-defined always, control only with parse_special, longest first", "[tokenizer]") {
  Tokenizer tok = SynthVocab::make(50).load();
  const int32_t c = tok.find_token("<|c|>"), cc = tok.find_token("<|cc|>");
  const int32_t u = tok.find_token("<u>"), uu = tok.find_token("<u><u>");
  EncodeOptions on;
  on.parse_special = true;
  CHECK(tok.encode("<u><u><u>") == std::vector<int32_t>{uu, u});
  CHECK(tok.encode("<u><u><u>", on) == std::vector<int32_t>{uu, u});
  CHECK(tok.encode("x<|cc|><|c|>", on) == std::vector<int32_t>{tok.find_token("x"), cc, c});
  std::vector<int32_t> off = tok.encode("<|cc|>");
  CHECK(std::find(off.begin(), off.end(), cc) == off.end());
  CHECK(tok.decode(off) == "<|cc|>");
  CHECK(tok.encode("[PAD]", on).size() == 5);  // unused tokens are never matched
  // Decoding: control tokens only on request, user-defined always.
  CHECK(tok.decode(std::vector<int32_t>{c, u}) == "<u>");
  CHECK(tok.decode(std::vector<int32_t>{c, u}, true) == "<|c|><u>");
  CHECK(tok.is_special(c));
  CHECK(!tok.is_special(u));
  CHECK_THROWS_AS(tok.decode(std::vector<int32_t>{tok.n_vocab()}), Error);
  CHECK_THROWS_AS(tok.decode(std::vector<int32_t>{-1}), Error);
}

TEST_CASE("invalid UTF-8 becomes byte tokens and round-trips", "[tokenizer]") {
  Tokenizer tok = SynthVocab::make(100).load();
  for (std::string s : {std::string("\xFF"), std::string("ab\xE2\x82"), std::string("\xC3\xC3\xA9x"),
                        std::string("\xED\xA0\x80 a"), std::string("a\0b", 3), std::string("\xF4\x90\x80\x80")}) {
    std::vector<int32_t> ids = tok.encode(s);
    CHECK(tok.decode(ids) == s);
  }
  std::vector<int32_t> ids = tok.encode("\xFF\xFE");
  CHECK(ids == std::vector<int32_t>{tok.find_token("\xC3\xBF"), tok.find_token("\xC3\xBE")});  // ÿ þ stand-ins
}

TEST_CASE("streaming decoder emits only complete UTF-8", "[tokenizer]") {
  Tokenizer tok = SynthVocab::make(0).load();  // no merges: one token per byte
  std::vector<int32_t> ids = tok.encode("a\xE2\x82\xAC\xF0\x9F\x9A\x80z");
  REQUIRE(ids.size() == 9);
  StreamDecoder sd(tok);
  std::vector<std::string> chunks;
  for (int32_t id : ids) chunks.push_back(sd.push(id));
  CHECK(chunks == std::vector<std::string>{"a", "", "", "\xE2\x82\xAC", "", "", "", "\xF0\x9F\x9A\x80", "z"});
  CHECK(sd.finish().empty());

  Utf8StreamDecoder rep;
  std::string out;
  rep.push("x\xE2\x82", out);
  CHECK(out == "x");
  CHECK(rep.pending() == 2);
  rep.push("y\xFF", out);  // the held bytes turn out invalid
  CHECK(out == "x\xEF\xBF\xBD\xEF\xBF\xBDy\xEF\xBF\xBD");
  rep.push("\xF0\x9F", out);
  rep.finish(out);
  CHECK(out == "x\xEF\xBF\xBD\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");

  Utf8StreamDecoder pass(Utf8StreamDecoder::Invalid::kPassThrough);
  std::string raw;
  for (char ch : std::string("\xE2\x82\xAC\xFF\xC3")) pass.push(std::string(1, ch), raw);
  pass.finish(raw);
  CHECK(raw == "\xE2\x82\xAC\xFF\xC3");
}

TEST_CASE("vocabulary validation: clear errors, never a crash", "[tokenizer]") {
  SynthVocab good = SynthVocab::make(30);
  REQUIRE_NOTHROW(good.load());
  std::string msg;

  SynthVocab v = good;
  v.model = "llama";
  CHECK(load_error(v, &msg) == ErrorCode::kUnsupported);
  CHECK_THAT(msg, Catch::Contains("'llama'"));
  v = good;
  v.pre = "llama-bpe";
  CHECK(load_error(v, &msg) == ErrorCode::kUnsupported);
  CHECK_THAT(msg, Catch::Contains("'llama-bpe'"));
  v = good;
  v.pre.reset();
  CHECK(load_error(v) == ErrorCode::kUnsupported);
  v = good;
  v.merges.push_back("zz q");
  CHECK(load_error(v, &msg) == ErrorCode::kCorruptFile);
  CHECK_THAT(msg, Catch::Contains("unknown token"));
  v = good;
  v.merges.push_back("a");
  CHECK(load_error(v) == ErrorCode::kCorruptFile);
  v = good;
  v.merges.push_back("[PAD] a");  // result "[PAD]a" is not a token
  CHECK(load_error(v, &msg) == ErrorCode::kCorruptFile);
  CHECK_THAT(msg, Catch::Contains("not a token"));
  v = good;
  v.types[3] = 9;
  CHECK(load_error(v) == ErrorCode::kCorruptFile);
  v = good;
  v.types.pop_back();
  CHECK(load_error(v) == ErrorCode::kCorruptFile);
  v = good;
  v.bos = static_cast<uint32_t>(v.tokens.size());
  CHECK(load_error(v) == ErrorCode::kCorruptFile);
  v = good;
  v.tokens[static_cast<unsigned char>('q')] = "q-renamed";
  CHECK(load_error(v, &msg) == ErrorCode::kCorruptFile);
  CHECK_THAT(msg, Catch::Contains("byte 0x71"));

  v = good;  // -1 ids mean "none"; add_bos_token is honoured only on request
  v.pad = 0xFFFFFFFFu;
  v.add_bos = true;
  Tokenizer tok = v.load();
  CHECK(tok.pad_id() == -1);
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  CHECK(tok.encode("a", with_bos).front() == tok.bos_id());
  CHECK(tok.encode("a").front() != tok.bos_id());
}

TEST_CASE("fixture cases match the reference tokenizer and round-trip", "[tokenizer][fixtures]") {
  Tokenizer tok = Tokenizer::from_file(nextlm::test::fixture("tokenizer/qwen3-vocab.gguf"));
  CHECK(tok.n_vocab() == 151936);
  CHECK(tok.n_merges() == 151387);
  CHECK(tok.eos_id() == 151645);
  std::vector<std::string> cases = split_cases(read_text(nextlm::test::fixture("tokenizer/cases.txt")));
  std::string expected_all = read_text(nextlm::test::fixture("tokenizer/expected.txt"));
  std::vector<std::string> expected;  // lines of expected.txt
  for (size_t pos = 0, nl; (nl = expected_all.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    expected.push_back(expected_all.substr(pos, nl - pos));
  }
  REQUIRE(expected.size() == 2 * cases.size());
  size_t matched = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << ": " << cases[i].substr(0, 80));
    for (int special = 0; special < 2; ++special) {
      EncodeOptions o;
      o.parse_special = special == 1;
      std::vector<int32_t> ids = tok.encode(cases[i], o);
      std::string line;
      for (size_t k = 0; k < ids.size(); ++k) {
        if (k) line.push_back(' ');
        line += std::to_string(ids[k]);
      }
      CHECK(line == expected[2 * i + special]);
      matched += line == expected[2 * i + special];
      CHECK(tok.decode(ids, true) == cases[i]);
      // Streaming: chunks are valid UTF-8 and add up to the text.
      StreamDecoder sd(tok, true);
      std::string streamed;
      for (int32_t id : ids) {
        std::string chunk = sd.push(id);
        CHECK(is_valid_utf8(chunk));
        streamed += chunk;
      }
      streamed += sd.finish();
      CHECK(streamed == cases[i]);
    }
  }
  CHECK(matched == 2 * cases.size());
}
