#include "tokenizer/normalize.h"

#include <algorithm>
#include <unordered_map>

#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"

namespace nextlm::tokenizer {

namespace {

// Hangul syllable constants (Unicode chapter 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const ucd::Decomposition* find_decomposition(uint32_t cp) {
  const ucd::Decomposition* begin = ucd::kDecompositions;
  const ucd::Decomposition* end = begin + ucd::kDecompositionCount;
  const ucd::Decomposition* it =
      std::lower_bound(begin, end, cp, [](const ucd::Decomposition& d, uint32_t c) { return d.cp < c; });
  return (it != end && it->cp == cp) ? it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const ucd::Decomposition* d = find_decomposition(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);  // depth is bounded by the data (at most a few levels)
  if (d->second) decompose(d->second, out);
}

const std::unordered_map<uint64_t, uint32_t>& composition_table() {
  static const std::unordered_map<uint64_t, uint32_t> table = [] {
    std::unordered_map<uint64_t, uint32_t> t;
    for (size_t i = 0; i < ucd::kDecompositionCount; ++i) {
      const ucd::Decomposition& d = ucd::kDecompositions[i];
      if (d.second == 0 || d.excluded) continue;
      t.emplace((uint64_t{d.first} << 32) | d.second, d.cp);
    }
    return t;
  }();
  return table;
}

// The primary composite of (a, b), or 0 when there is none.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& t = composition_table();
  auto it = t.find((uint64_t{a} << 32) | b);
  return it == t.end() ? 0 : it->second;
}

}  // namespace

bool nfc_may_change(const uint32_t* cps, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (unicode_flags(cps[i]) & ucd::kNfcCheck) return true;
  }
  return false;
}

namespace {

void nfc_span(const uint32_t* cps, size_t n, std::vector<uint32_t>& result) {
  std::vector<uint32_t> d;
  d.reserve(n + 4);
  for (size_t i = 0; i < n; ++i) decompose(cps[i], d);

  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(d.begin() + static_cast<ptrdiff_t>(i), d.begin() + static_cast<ptrdiff_t>(j),
                       [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    }
    i = j;
  }

  // Canonical composition.
  if (d.empty()) return;
  size_t starter_pos = 0;
  uint32_t starter = d[0];
  int last_class = combining_class(starter);
  bool have_starter = last_class == 0;
  if (last_class != 0) last_class = 256;  // a leading non-starter blocks everything after it
  size_t out = 1;
  for (size_t i = 1; i < d.size(); ++i) {
    uint32_t ch = d[i];
    int cls = combining_class(ch);
    uint32_t composite = have_starter ? compose_pair(starter, ch) : 0;
    if (composite && (last_class < cls || last_class == 0)) {
      d[starter_pos] = composite;
      starter = composite;
      continue;
    }
    if (cls == 0) {
      starter_pos = out;
      starter = ch;
      have_starter = true;
    }
    last_class = cls;
    d[out++] = ch;
  }
  result.insert(result.end(), d.begin(), d.begin() + static_cast<ptrdiff_t>(out));
}

}  // namespace

std::vector<uint32_t> nfc(const uint32_t* cps, size_t n) {
  // A code point without kNfcCheck (combining class 0, NFC_Quick_Check Yes)
  // is a composition boundary: nothing before it interacts with it or with
  // anything after it. So only the stretches from the boundary before a
  // flagged code point to the next boundary after it need the full algorithm.
  auto boundary = [&](size_t i) { return !(unicode_flags(cps[i]) & ucd::kNfcCheck); };
  std::vector<uint32_t> out;
  out.reserve(n + n / 8);
  size_t i = 0;
  while (i < n) {
    size_t f = i;
    while (f < n && boundary(f)) ++f;
    if (f == n) {
      out.insert(out.end(), cps + i, cps + n);
      break;
    }
    size_t start = f > i ? f - 1 : f;  // the starter that may compose with what follows
    out.insert(out.end(), cps + i, cps + start);
    size_t end = f + 1;
    while (end < n && !boundary(end)) ++end;
    nfc_span(cps + start, end - start, out);
    i = end;
  }
  return out;
}

std::string nfc_utf8(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  std::vector<uint32_t> run;
  auto flush = [&] {
    if (run.empty()) return;
    for (uint32_t cp : nfc(run.data(), run.size())) append_utf8(result, cp);
    run.clear();
  };
  while (i < n) {
    Utf8Char c = decode_utf8(p + i, n - i);
    if (!c.valid) {
      flush();
      result.push_back(static_cast<char>(p[i]));
    } else {
      run.push_back(c.cp);
    }
    i += c.len;
  }
  flush();
  return result;
}

}  // namespace nextlm::tokenizer
