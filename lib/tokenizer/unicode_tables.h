// Unicode property tables used by the tokenizer, generated from the Unicode
// Character Database by scripts/gen_unicode_tables.py (unicode_tables.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace nextlm::tokenizer::ucd {

enum Flag : uint8_t {
  kLetter = 1,      // general category L* (\p{L})
  kNumber = 2,      // general category N* (\p{N})
  kWhitespace = 4,  // White_Space property (\s)
  kNfcCheck = 8,    // NFC_Quick_Check No/Maybe, or combining class != 0
};

// Code points first..last (inclusive) share `flags` and the canonical
// combining class `ccc`. Sorted, disjoint; code points in no range have
// flags 0 and ccc 0.
struct PropertyRange {
  uint32_t first;
  uint32_t last;
  uint8_t flags;
  uint8_t ccc;
};

// One level of a canonical decomposition: cp -> first [second]. `excluded`
// marks Full_Composition_Exclusion (the pair is never recomposed by NFC).
struct Decomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;  // 0 for a singleton decomposition
  uint8_t excluded;
};

extern const char kUnicodeVersion[];  // of the data files
extern const char kUnicodeMaxAge[];   // code points assigned later count as unassigned
extern const PropertyRange kPropertyRanges[];
extern const size_t kPropertyRangeCount;
extern const Decomposition kDecompositions[];  // sorted by cp
extern const size_t kDecompositionCount;

}  // namespace nextlm::tokenizer::ucd
