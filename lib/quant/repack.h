// CPU weight repacking (issue 10). A weight whose file layout is slow to
// decode may be rearranged once, when the CPU backend copies it, into a
// layout with a faster kernel. The values are exactly the file's, and the
// kernels keep dot.h's canonical order, so results are bit-identical to the
// file layout's on every path.
//
// kIq3sNibbles: IQ3_S's values are odd integers -15..15 (sign x grid byte),
// so each fits a 4-bit code c = (v + 15) / 2. 256 values take 128 bytes of
// codes plus IQ3_S's 4 scale bytes and f16 d: 134 bytes where the file takes
// 110 (+22% memory), and decoding is two masks and a shift per 128 codes
// where IQ3_S needs a 9-bit grid lookup per 4 values (the VBMI kernel's byte
// permutes or gathers). Decode becomes memory-bound instead of compute-bound.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/dot.h"
#include "quant/fp16.h"
#include "quant/types.h"

namespace nextlm::quant {

enum class Repack : uint8_t { kNone = 0, kIq3sNibbles = 1 };

// The repack the active kernels have for rows of `cols` elements of type t:
// kNone when there is none for the active ISA or that row length, when the
// integer kernels are off (NEXTLM_INT_DOT=0), or when NEXTLM_REPACK=0 is set.
// The CPU backend and the memory planner both decide by it.
Repack repack_for(Type t, int64_t cols);

// Bytes of a repacked row of n elements (n a multiple of 256).
size_t repacked_row_bytes(Repack r, int64_t n);

// One row of n elements: src in the file layout, dst repacked.
void repack_row(Repack r, const uint8_t* src, int64_t n, uint8_t* dst);

// As dequantize_row() on the row before repacking, bit for bit.
void dequantize_repacked_row(Repack r, const uint8_t* src, float* dst, int64_t n);

// The kernels for repacked rows (unpack, vec_dot, vec_dot_rows, the
// activation layout; the rest as the file type's).
DotKernels repacked_dot_kernels(Repack r);

namespace detail {
// kIq3sNibbles block: codes[128], then IQ3_S's scales[4] and d (f16). Byte
// 4m + j of half h (64 bytes) holds element 16m + 8h + j in its low nibble
// and element 16m + 8h + 4 + j in its high nibble: the order of the AVX-512
// kernel's four multiply-adds per block.
constexpr size_t kNibScales = 128, kNibD = 132, kNibBlockBytes = 134;

// d * (1 + 2s) of 32-value unit ib, as decode_iq3_s computes it.
inline float nib_unit_scale(const uint8_t* blk, int ib) {
  const uint16_t dh = static_cast<uint16_t>(blk[kNibD] | (blk[kNibD + 1] << 8));
  const int s = (blk[kNibScales + ib / 2] >> (4 * (ib % 2))) & 0x0F;
  return fp16_to_fp32(dh) * static_cast<float>(1 + 2 * s);
}

// The AVX-512 unpack, decode kernel and activation layout for kIq3sNibbles
// (dot_repack_avx512.cpp); no-ops where not built.
void add_iq3s_nibble_kernels(DotKernels& k);
// 256 values (odd, -15..15, in element order) to the 128 code bytes of a
// block, with AVX-512; false (nothing written) where the CPU lacks it.
bool iq3s_nibble_codes_avx512(const int8_t* q, uint8_t* codes);
}  // namespace detail

}  // namespace nextlm::quant
