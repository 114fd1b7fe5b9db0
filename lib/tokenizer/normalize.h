// Unicode Normalization Form C (UAX #15), as the reference Qwen tokenizer
// applies it to text before pre-tokenization (its normalizer is "NFC").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::tokenizer {

// False when NFC certainly leaves the code points unchanged (no code point has
// NFC_Quick_Check No/Maybe or a non-zero combining class). O(n), table lookups.
bool nfc_may_change(const uint32_t* cps, size_t n);

// NFC of a sequence of Unicode scalar values: canonical decomposition,
// canonical ordering, canonical composition (Hangul included).
std::vector<uint32_t> nfc(const uint32_t* cps, size_t n);

// NFC of well-formed UTF-8 text (invalid bytes are passed through unchanged,
// each breaking composition like a starter that composes with nothing).
std::string nfc_utf8(std::string_view text);

}  // namespace nextlm::tokenizer
