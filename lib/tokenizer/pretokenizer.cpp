#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode_tables.h"

namespace nextlm::tokenizer {

namespace {

constexpr uint8_t kLNS = ucd::kLetter | ucd::kNumber | ucd::kWhitespace;

inline bool is_cr_lf(uint32_t c) {
  return c == '\r' || c == '\n';
}

inline uint32_t ascii_lower(uint32_t c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

// Length of the contraction (?i:'s|'t|'re|'ve|'m|'ll|'d) at cps[pos] (which is
// an apostrophe), or 0.
size_t contraction_length(const uint32_t* cps, size_t pos, size_t n) {
  if (pos + 1 >= n) return 0;
  uint32_t c1 = ascii_lower(cps[pos + 1]);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd' || c1 == 0x17F) return 2;
  if (pos + 2 >= n) return 0;
  uint32_t c2 = ascii_lower(cps[pos + 2]);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

}  // namespace

void pretokenize_qwen2(const uint32_t* cps, const uint8_t* flags, size_t n, std::vector<uint32_t>& ends) {
  size_t pos = 0;
  auto emit = [&](size_t end) {
    ends.push_back(static_cast<uint32_t>(end));
    pos = end;
  };
  auto letter_run_end = [&](size_t i) {
    while (i < n && (flags[i] & ucd::kLetter)) ++i;
    return i;
  };
  while (pos < n) {
    const uint32_t c = cps[pos];
    const uint8_t f = flags[pos];

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (c == '\'') {
      if (size_t len = contraction_length(cps, pos, n)) {
        emit(pos + len);
        continue;
      }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (f & ucd::kLetter) {
      emit(letter_run_end(pos + 1));
      continue;
    }
    if (!(f & ucd::kNumber) && !is_cr_lf(c) && pos + 1 < n && (flags[pos + 1] & ucd::kLetter)) {
      emit(letter_run_end(pos + 2));
      continue;
    }
    // \p{N}
    if (f & ucd::kNumber) {
      emit(pos + 1);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    {
      size_t start = pos;
      if (c == ' ' && pos + 1 < n && !(flags[pos + 1] & kLNS)) start = pos + 1;
      if (!(flags[start] & kLNS)) {
        size_t end = start + 1;
        while (end < n && !(flags[end] & kLNS)) ++end;
        while (end < n && is_cr_lf(cps[end])) ++end;
        emit(end);
        continue;
      }
    }
    // Here c is whitespace. \s*[\r\n]+ | \s+(?!\S) | \s+
    size_t end = pos;
    size_t after_last_newline = 0;
    while (end < n && (flags[end] & ucd::kWhitespace)) {
      if (is_cr_lf(cps[end])) after_last_newline = end + 1;
      ++end;
    }
    if (end == pos) {
      emit(pos + 1);  // unreachable: every code point is L, N, whitespace or other
    } else if (after_last_newline) {
      emit(after_last_newline);
    } else if (end - pos > 1 && end < n) {
      emit(end - 1);  // leave the last whitespace to prefix the next piece
    } else {
      emit(end);
    }
  }
}

}  // namespace nextlm::tokenizer
