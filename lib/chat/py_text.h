// Python `str` semantics on UTF-8 strings, for the Jinja engine: code-point
// decoding (invalid bytes round-trip as lone surrogates U+DC80..U+DCFF, like
// Python's surrogateescape), whitespace and case rules, float repr, string
// repr and HTML escaping. Case mapping covers Latin, Greek, Cyrillic,
// Armenian and fullwidth letters (what chat templates meet), not all of Unicode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::chat::py {

// Decodes one code point at s[i], advancing i.
uint32_t decode_at(std::string_view s, size_t& i);
void append_utf8(std::string& out, uint32_t cp);
std::vector<uint32_t> to_code_points(std::string_view s);
std::string from_code_points(const uint32_t* cps, size_t n);
inline std::string from_code_points(const std::vector<uint32_t>& v) { return from_code_points(v.data(), v.size()); }
size_t length(std::string_view s);  // in code points
bool is_ascii(std::string_view s);

bool is_space(uint32_t cp);  // str.isspace
bool is_linebreak(uint32_t cp);  // str.splitlines boundaries
bool is_digit(uint32_t cp);  // decimal digits (ASCII and a few scripts)
bool is_alpha(uint32_t cp);
bool is_word(uint32_t cp);  // regex \w
bool is_cased(uint32_t cp);
bool is_lower_cp(uint32_t cp);
bool is_upper_cp(uint32_t cp);
bool is_printable(uint32_t cp);  // str.isprintable, approximately
uint32_t to_upper(uint32_t cp);
uint32_t to_lower(uint32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize
std::string title(std::string_view s);       // str.title
std::string swapcase(std::string_view s);

// str.strip/lstrip/rstrip; `chars` null means whitespace.
std::string strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split(sep=None, maxsplit=-1) and rsplit.
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit, bool from_right);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
size_t count(std::string_view s, std::string_view sub);

std::string float_repr(double v);  // repr(float)
std::string repr_string(std::string_view s);  // repr(str)
std::string html_escape(std::string_view s);  // markupsafe.escape

}  // namespace nextlm::chat::py
