// The Qwen2 pre-tokenizer: splits text into the pieces that BPE encodes one by
// one. Hand-coded equivalent of the reference tokenizer's split pattern
//
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// run as Oniguruma runs it (leftmost match, alternatives tried in order, with
// backtracking): \p{L} / \p{N} are general categories L* / N*, \s is the
// White_Space property, and the case-insensitive contractions accept ASCII
// letters of either case plus U+017F LATIN SMALL LETTER LONG S for 's' (it
// case-folds to 's'). Every code point belongs to exactly one of letter,
// number, whitespace or "other", so every code point ends up in some piece.
// Runs in time linear in the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nextlm::tokenizer {

// cps[0..n) are Unicode scalar values and flags[i] = unicode_flags(cps[i]).
// Appends the exclusive end index of each piece, in order, to `ends`.
void pretokenize_qwen2(const uint32_t* cps, const uint8_t* flags, size_t n, std::vector<uint32_t>& ends);

}  // namespace nextlm::tokenizer
