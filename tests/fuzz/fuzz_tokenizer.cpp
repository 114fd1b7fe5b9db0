// libFuzzer entry point for the tokenizer. The first input byte picks the
// mode, the rest is the payload:
//   mode & 1 == 0: encode the payload as text (mode bit 1: parse special
//                  tokens, bit 2: NFC) and check ids in range, the exact round
//                  trip (without NFC), the streaming decoder;
//   mode & 1 == 1: read the payload as little-endian 16-bit ids (scaled over
//                  the vocabulary, plus some out of range) and decode them,
//                  whole and streamed; out-of-range ids must raise nextlm::Error.
// The vocabulary is $NEXTLM_FIXTURES/tokenizer/qwen3-vocab.gguf (or the
// compile-time fixtures path); without it, a small synthetic one.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "nextlm/error.h"
#include "tokenizer/normalize.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "model_output_check.h"

namespace {

using namespace nextlm::tokenizer;

const Tokenizer& tokenizer() { return nextlm::test::fuzz_vocabulary("fuzz_tokenizer"); }

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_tokenizer: check failed: %s\n", what);
    std::abort();
  }
}

void fuzz_encode(const Tokenizer& tok, uint8_t mode, std::string_view text) {
  EncodeOptions o;
  o.parse_special = mode & 2;
  o.normalize = mode & 4;
  std::vector<int32_t> ids = tok.encode(text, o);
  for (int32_t id : ids) check(id >= 0 && id < tok.n_vocab(), "id in range");
  std::string back = tok.decode(ids, true);
  if (o.normalize) {
    check(nfc_utf8(back) == nfc_utf8(text), "NFC round trip");
  } else {
    check(back == text, "exact round trip");
  }
  StreamDecoder pass(tok, true, Utf8StreamDecoder::Invalid::kPassThrough);
  StreamDecoder rep(tok, true);
  std::string streamed;
  for (int32_t id : ids) {
    streamed += pass.push(id);
    check(is_valid_utf8(rep.push(id)), "streamed chunk is UTF-8");
  }
  streamed += pass.finish();
  check(is_valid_utf8(rep.finish()), "final chunk is UTF-8");
  check(streamed == back, "stream equals decode");
}

void fuzz_decode(const Tokenizer& tok, std::string_view payload) {
  std::vector<int32_t> ids;
  const int64_t n = tok.n_vocab();
  for (size_t i = 0; i + 1 < payload.size(); i += 2) {
    uint32_t v = static_cast<uint8_t>(payload[i]) | (static_cast<uint32_t>(static_cast<uint8_t>(payload[i + 1])) << 8);
    // Spread over the vocabulary and a little beyond both ends.
    ids.push_back(static_cast<int32_t>(static_cast<int64_t>(v) * (n + 4) / 65536 - 2));
  }
  bool out_of_range = false;
  for (int32_t id : ids) out_of_range |= id < 0 || id >= n;
  try {
    std::string whole = tok.decode(ids, true);
    check(!out_of_range, "out-of-range id accepted");
    StreamDecoder sd(tok, true, Utf8StreamDecoder::Invalid::kPassThrough);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.finish();
    check(streamed == whole, "stream equals decode");
  } catch (const nextlm::Error&) {
    check(out_of_range, "error without an out-of-range id");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Tokenizer& tok = tokenizer();
  std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1)
    fuzz_decode(tok, payload);
  else
    fuzz_encode(tok, data[0], payload);
  return 0;
}
