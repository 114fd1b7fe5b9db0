// Model output is untrusted: arbitrary token ids go through the path a chat
// reply takes (TextStream with stop strings -> streaming tool-call parser)
// and must come out as valid UTF-8 content, reasoning or tool calls whose
// arguments serialise to JSON, never as an exception. Shared by the
// generated-inputs test and the fuzz target.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tokenizer/tokenizer.h"

namespace nextlm::test {

// "" when every property holds, else what failed. `mode` picks the tool-call
// format, whether a think block is open and whether a stop string is set.
std::string check_model_output(const tokenizer::Tokenizer& tok, std::span<const int32_t> ids, uint8_t mode);

// The real Qwen3 vocabulary from the fixtures, or a small synthetic one.
const tokenizer::Tokenizer& fuzz_vocabulary(const char* who);

}  // namespace nextlm::test
