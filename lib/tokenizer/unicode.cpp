#include "tokenizer/unicode.h"

#include <algorithm>
#include <vector>

namespace nextlm::tokenizer {

namespace {

// Allowed range of the second byte for each lead byte (Unicode Table 3-7);
// later continuation bytes are always 0x80..0xBF.
struct LeadInfo {
  uint8_t len;  // 0: not a lead byte
  uint8_t lo, hi;
};

LeadInfo lead_info(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};  // continuation byte or overlong C0/C1
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // up to U+10FFFF
  return {0, 0, 0};
}

}  // namespace

Utf8Char decode_utf8(const unsigned char* s, size_t n) {
  unsigned char b0 = s[0];
  if (b0 < 0x80) return {b0, 1, true};
  LeadInfo li = lead_info(b0);
  if (li.len == 0 || n < li.len) return {b0, 1, false};
  if (s[1] < li.lo || s[1] > li.hi) return {b0, 1, false};
  for (uint32_t i = 2; i < li.len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return {b0, 1, false};
  }
  uint32_t cp;
  switch (li.len) {
    case 2:
      cp = ((b0 & 0x1Fu) << 6) | (s[1] & 0x3Fu);
      break;
    case 3:
      cp = ((b0 & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
      break;
    default:
      cp = ((b0 & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
      break;
  }
  return {cp, li.len, true};
}

bool is_utf8_prefix(const unsigned char* s, size_t n) {
  LeadInfo li = lead_info(s[0]);
  if (li.len <= 1 || n >= li.len) return false;
  if (n >= 2 && (s[1] < li.lo || s[1] > li.hi)) return false;
  for (size_t i = 2; i < n; ++i) {
    if ((s[i] & 0xC0) != 0x80) return false;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    Utf8Char c = decode_utf8(p + i, n - i);
    if (!c.valid) return false;
    i += c.len;
  }
  return true;
}

namespace detail {

namespace {

uint16_t pack(const ucd::PropertyRange& r) {
  return static_cast<uint16_t>(r.flags | (r.ccc << 8));
}

std::vector<uint16_t> build_bmp_table() {
  std::vector<uint16_t> t(0x10000, 0);
  for (size_t i = 0; i < ucd::kPropertyRangeCount; ++i) {
    const ucd::PropertyRange& r = ucd::kPropertyRanges[i];
    if (r.first >= 0x10000) break;
    uint32_t last = std::min<uint32_t>(r.last, 0xFFFF);
    std::fill(t.begin() + r.first, t.begin() + last + 1, pack(r));
  }
  return t;
}

}  // namespace

const uint16_t* bmp_properties() {
  static const std::vector<uint16_t> table = build_bmp_table();
  return table.data();
}

uint16_t supplementary_properties(uint32_t cp) {
  const ucd::PropertyRange* begin = ucd::kPropertyRanges;
  const ucd::PropertyRange* end = begin + ucd::kPropertyRangeCount;
  // First range whose last >= cp.
  const ucd::PropertyRange* it =
      std::lower_bound(begin, end, cp, [](const ucd::PropertyRange& r, uint32_t c) { return r.last < c; });
  if (it == end || it->first > cp) return 0;
  return pack(*it);
}

}  // namespace detail

}  // namespace nextlm::tokenizer
