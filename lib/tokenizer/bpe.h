// Byte-level BPE (GPT-2 style) as used by Qwen: the byte-to-unicode alphabet,
// the merge-rank table, and the per-word merge loop with a word cache.
//
// Encoding one word (a pre-tokenizer piece, as raw bytes) starts from one byte
// token per byte and repeatedly merges the adjacent pair of lowest merge rank,
// the leftmost one among equal ranks, until no adjacent pair has a merge. The
// loop keeps the symbols in a linked list and candidate pairs in a binary heap,
// so a word of n bytes costs O(n log n): a 1 MB word without any pre-tokenizer
// split is fine. Results for short words are cached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nextlm::tokenizer {

// GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others
// (0x00-0x20, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order.
uint32_t byte_to_unicode(uint8_t b);
// Inverse of byte_to_unicode; -1 for a code point outside the alphabet.
int unicode_to_byte(uint32_t cp);
// The vocabulary spelling of raw bytes: each byte replaced by the UTF-8 of its stand-in.
std::string bytes_to_vocab_text(std::string_view bytes);

// (left id, right id) -> (rank, merged id); open addressing, built once.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    uint32_t rank = 0;
    int32_t result = -1;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit MergeTable(size_t expected = 0);
  // Keeps the first (lowest-rank) entry when a pair is added twice; returns false then.
  bool insert(int32_t left, int32_t right, uint32_t rank, int32_t result);
  const Entry* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = make_key(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static uint64_t make_key(int32_t l, int32_t r) {
    return (uint64_t{static_cast<uint32_t>(l)} << 32) | static_cast<uint32_t>(r);
  }
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void grow();

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

class BpeEncoder {
 public:
  // byte_tokens[b]: the id of the token spelling byte b. Words up to
  // cache_max_word bytes are cached (0 disables the cache).
  BpeEncoder(const int32_t (&byte_tokens)[256], MergeTable merges, size_t cache_max_word = 64);
  ~BpeEncoder();
  BpeEncoder(BpeEncoder&&) noexcept;
  BpeEncoder& operator=(BpeEncoder&&) noexcept;

  // Appends the ids of one word (non-empty raw bytes). Thread-safe.
  void encode(std::string_view word, std::vector<int32_t>& out) const;
  // The merge loop without the cache.
  void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;
  // Straightforward O(n^2) merge loop (scan for the best pair, merge, repeat);
  // the definition the fast loop must agree with. For tests.
  void encode_reference(std::string_view word, std::vector<int32_t>& out) const;

  const MergeTable& merges() const { return merges_; }
  void clear_cache() const;

 private:
  struct Cache;

  int32_t byte_tokens_[256];
  MergeTable merges_;
  size_t cache_max_word_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace nextlm::tokenizer
