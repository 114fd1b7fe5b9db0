// Small deterministic random number generator: xoshiro256** seeded through
// splitmix64. The output sequence depends only on the seed (never on the
// platform or the standard library), so synthesized models and test data are
// reproducible everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace nextlm::util {

// One step of splitmix64; also a decent 64-bit mixer for deriving seeds.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  using result_type = uint64_t;  // UniformRandomBitGenerator, for std::shuffle etc.

  explicit Rng(uint64_t seed = 0) { reseed(seed); }

  void reseed(uint64_t seed) {
    uint64_t sm = seed;
    for (auto& w : s_) w = splitmix64(sm);  // never all zero: splitmix64 is a bijection
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint64_t>::max(); }
  result_type operator()() { return next_u64(); }

  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }

  // Uniform in [0, n) (n > 0), by Lemire's multiply-shift; the tiny bias
  // (< n / 2^64) does not matter for test data.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64); }

  // Uniform float in [0, 1): the top 24 bits, so every value is exact.
  float uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  // Uniform float in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform double in [0, 1).
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // Fills n bytes; the byte stream is the little-endian bytes of next_u64().
  void fill_bytes(void* dst, size_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    for (; n >= 8; n -= 8, p += 8) {
      const uint64_t v = next_u64();
      store_le(p, v, 8);
    }
    if (n > 0) store_le(p, next_u64(), n);
  }

  // Independent generator for a sub-task (e.g. one tensor), derived from this
  // one's stream plus a caller key, so adding a sub-task elsewhere does not
  // shift the others when keys are stable.
  Rng fork(uint64_t key) {
    uint64_t sm = next_u64() ^ (key * 0xD1B54A32D192ED03ull);
    return Rng(splitmix64(sm));
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static void store_le(unsigned char* p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
  }

  uint64_t s_[4];
};

}  // namespace nextlm::util
