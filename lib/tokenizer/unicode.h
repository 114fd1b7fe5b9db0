// UTF-8 decoding/encoding and the Unicode properties the tokenizer needs.
//
// Decoding is strict (RFC 3629 / Unicode "well-formed UTF-8"): overlong forms,
// surrogates (U+D800..U+DFFF), code points above U+10FFFF, stray continuation
// bytes and truncated sequences are invalid. An invalid sequence is reported one
// byte at a time: decode_utf8() returns {byte value, 1, valid=false}, so the
// caller can treat every byte that is not part of a well-formed character on
// its own (the tokenizer turns each such byte into its byte token).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tokenizer/unicode_tables.h"

namespace nextlm::tokenizer {

struct Utf8Char {
  uint32_t cp;   // the code point, or the byte value when !valid
  uint32_t len;  // bytes consumed: 1..4 (1 when !valid)
  bool valid;
};

// Decodes the sequence at s[0..n), n >= 1.
Utf8Char decode_utf8(const unsigned char* s, size_t n);

// True when s[0..n) (n >= 1) is a proper prefix of some well-formed sequence,
// i.e. more bytes could still complete it. Used by the streaming decoder.
bool is_utf8_prefix(const unsigned char* s, size_t n);

// Appends the UTF-8 encoding of cp (which must be a Unicode scalar value).
void append_utf8(std::string& out, uint32_t cp);

// True when the whole string is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

namespace detail {
// Properties of every BMP code point, packed as flags | ccc << 8.
const uint16_t* bmp_properties();
uint16_t supplementary_properties(uint32_t cp);
}  // namespace detail

// flags | ccc << 8 for one code point (0 beyond U+10FFFF).
inline uint16_t unicode_properties(uint32_t cp) {
  if (cp < 0x10000) return detail::bmp_properties()[cp];
  return detail::supplementary_properties(cp);
}
// ucd::Flag bits of cp.
inline uint8_t unicode_flags(uint32_t cp) {
  return static_cast<uint8_t>(unicode_properties(cp) & 0xFF);
}
// Canonical combining class of cp.
inline uint8_t combining_class(uint32_t cp) {
  return static_cast<uint8_t>(unicode_properties(cp) >> 8);
}

}  // namespace nextlm::tokenizer
