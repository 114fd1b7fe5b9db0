// Prefetching ahead of a decode kernel's block (x86: SSE's prefetch, in every
// ISA's kernels alike).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace nextlm::quant {

// Distances: into L2 far ahead, into L1 near. L1 prefetches hold one of the
// core's few line-fill buffers until the line arrives, so far-ahead ones cap
// the misses in flight; L2 prefetches queue deeper (measured on a 256 MiB
// Q6_K matrix, 2 threads: 17.1 GB/s with one L1 prefetch 2 KiB ahead, 19-21
// GB/s with these).
constexpr int kPrefetchL2Bytes = 4096, kPrefetchL1Bytes = 768;

// The cache lines of the blocks that far ahead of a kBytes block (past a
// row's end they belong to the next row; a prefetch never faults).
template <size_t kBytes>
inline void prefetch_ahead(const uint8_t* blk) {
#if defined(__x86_64__) || defined(__i386__)
  for (size_t off = 0; off < kBytes; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(blk) + kPrefetchL2Bytes + off, _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(blk) + kPrefetchL1Bytes + off, _MM_HINT_T0);
  }
#else
  (void)blk;
#endif
}

}  // namespace nextlm::quant
