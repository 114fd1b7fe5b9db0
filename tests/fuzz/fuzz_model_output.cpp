// libFuzzer entry point for untrusted model output: the first byte is the
// mode of check_model_output (tool-call format, open think block, stop
// string); the rest is read as little-endian 16-bit token ids, folded into
// the vocabulary so that the added tokens (<tool_call>, <think>...) and the
// byte tokens (split UTF-8) come up often. A violated property traps.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "model_output_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tok = nextlm::test::fuzz_vocabulary("fuzz_model_output");
  std::vector<int32_t> added;
  for (int32_t id = 0; id < tok.n_vocab() && added.size() < 64; ++id)
    if (tok.token_type(id) != nextlm::tokenizer::TokenType::kNormal) added.push_back(id);
  std::vector<int32_t> ids;
  for (size_t i = 1; i + 1 < size; i += 2) {
    const uint32_t v = data[i] | (uint32_t{data[i + 1]} << 8);
    // Low values pick added tokens, the next 256 the vocabulary's first ids, the rest anything.
    if (v < 4096 && !added.empty()) ids.push_back(added[v % added.size()]);
    else ids.push_back(static_cast<int32_t>(v % static_cast<uint32_t>(tok.n_vocab())));
  }
  const std::string bad = nextlm::test::check_model_output(tok, ids, data[0]);
  if (!bad.empty()) {
    std::fprintf(stderr, "fuzz_model_output: %s\n", bad.c_str());
    __builtin_trap();
  }
  return 0;
}
