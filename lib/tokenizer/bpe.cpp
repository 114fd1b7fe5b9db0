#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "tokenizer/unicode.h"

namespace nextlm::tokenizer {

// ---------------------------------------------------------------- alphabet

namespace {

bool is_printable_byte(uint8_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

struct Alphabet {
  uint32_t to_cp[256];
  int16_t from_cp[324];  // stand-ins are all below U+0144
  Alphabet() {
    std::fill(std::begin(from_cp), std::end(from_cp), int16_t{-1});
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      uint32_t cp = is_printable_byte(static_cast<uint8_t>(b)) ? static_cast<uint32_t>(b) : next++;
      to_cp[b] = cp;
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t byte_to_unicode(uint8_t b) {
  return alphabet().to_cp[b];
}

int unicode_to_byte(uint32_t cp) {
  return cp < 324 ? alphabet().from_cp[cp] : -1;
}

std::string bytes_to_vocab_text(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(out, byte_to_unicode(b));
  return out;
}

// ---------------------------------------------------------------- merge table

MergeTable::MergeTable(size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2) cap <<= 1;
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
}

void MergeTable::grow() {
  std::vector<Entry> old;
  old.swap(slots_);
  slots_.assign(old.size() * 2, Entry{});
  mask_ = slots_.size() - 1;
  for (const Entry& e : old) {
    if (e.key == kEmpty) continue;
    size_t i = hash(e.key) & mask_;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = e;
  }
}

bool MergeTable::insert(int32_t left, int32_t right, uint32_t rank, int32_t result) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t key = make_key(left, right);
  size_t i = hash(key) & mask_;
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) return false;
    i = (i + 1) & mask_;
  }
  slots_[i] = Entry{key, rank, result};
  ++size_;
  return true;
}

// ---------------------------------------------------------------- word cache

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct BpeEncoder::Cache {
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = size_t{1} << 14;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  Shard shards[kShards];

  Shard& shard_for(size_t h) { return shards[(h >> 7) % kShards]; }
};

// ---------------------------------------------------------------- encoder

BpeEncoder::BpeEncoder(const int32_t (&byte_tokens)[256], MergeTable merges, size_t cache_max_word)
    : merges_(std::move(merges)), cache_max_word_(cache_max_word), cache_(std::make_unique<Cache>()) {
  std::copy(std::begin(byte_tokens), std::end(byte_tokens), byte_tokens_);
}

BpeEncoder::~BpeEncoder() = default;
BpeEncoder::BpeEncoder(BpeEncoder&&) noexcept = default;
BpeEncoder& BpeEncoder::operator=(BpeEncoder&&) noexcept = default;

void BpeEncoder::clear_cache() const {
  for (auto& s : cache_->shards) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.map.clear();
  }
}

void BpeEncoder::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() <= 1 || word.size() > cache_max_word_) {
    encode_uncached(word, out);
    return;
  }
  size_t h = StringHash{}(word);
  Cache::Shard& shard = cache_->shard_for(h);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(word);
    if (it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = out.size();
  encode_uncached(word, out);
  std::vector<int32_t> ids(out.begin() + static_cast<ptrdiff_t>(first), out.end());
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= Cache::kMaxPerShard) shard.map.clear();
  shard.map.emplace(std::string(word), std::move(ids));
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev;  // -1: none
  int32_t next;  // -1: none
};

struct Candidate {
  uint32_t rank;
  int32_t pos;  // index of the left symbol
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

// Min-heap order: lowest rank first, then leftmost.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

// Words longer than this are encoded in chunks of this size (positions are int32).
constexpr size_t kMaxChunk = size_t{1} << 30;

}  // namespace

void BpeEncoder::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() > kMaxChunk) {
    for (size_t i = 0; i < word.size(); i += kMaxChunk) encode_uncached(word.substr(i, kMaxChunk), out);
    return;
  }
  const size_t n = word.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_tokens_[static_cast<unsigned char>(word[0])]);
    return;
  }
  thread_local std::vector<Symbol> syms;
  thread_local std::vector<Candidate> heap;
  syms.resize(n);
  heap.clear();
  for (size_t i = 0; i < n; ++i) {
    syms[i] = Symbol{byte_tokens_[static_cast<unsigned char>(word[i])], static_cast<int32_t>(i) - 1,
                     i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  auto push_pair = [&](int32_t left) {
    if (left < 0) return;
    int32_t right = syms[left].next;
    if (right < 0) return;
    const MergeTable::Entry* e = merges_.find(syms[left].id, syms[right].id);
    if (!e) return;
    heap.push_back(Candidate{e->rank, left, syms[left].id, syms[right].id, e->result});
    std::push_heap(heap.begin(), heap.end(), CandidateAfter{});
  };
  for (size_t i = 0; i + 1 < n; ++i) push_pair(static_cast<int32_t>(i));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter{});
    Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = syms[c.pos];
    // Stale when either side has changed since the candidate was pushed: a
    // merged symbol always gets a different (longer) token.
    if (left.id != c.left_id || left.next < 0 || syms[left.next].id != c.right_id) continue;
    int32_t right = left.next;
    left.id = c.result;
    left.next = syms[right].next;
    if (left.next >= 0) syms[left.next].prev = c.pos;
    syms[right].id = -1;
    push_pair(left.prev);
    push_pair(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
  if (syms.capacity() > (size_t{1} << 20)) {  // do not keep gigantic scratch buffers
    std::vector<Symbol>().swap(syms);
    std::vector<Candidate>().swap(heap);
  }
}

void BpeEncoder::encode_reference(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<int32_t> ids;
  for (unsigned char b : word) ids.push_back(byte_tokens_[b]);
  for (;;) {
    size_t best = ids.size();
    const MergeTable::Entry* best_e = nullptr;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const MergeTable::Entry* e = merges_.find(ids[i], ids[i + 1]);
      if (e && (!best_e || e->rank < best_e->rank)) {
        best_e = e;
        best = i;
      }
    }
    if (!best_e) break;
    ids[best] = best_e->result;
    ids.erase(ids.begin() + static_cast<ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace nextlm::tokenizer
