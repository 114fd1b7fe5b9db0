// Memory layouts of the GGUF quantized blocks (as ggml-common.h defines them).
// Every struct is byte-packed by construction (only 1-, 2- and 4-byte members
// at naturally aligned offsets) and its size is checked against the format.
// Multi-byte fields are little-endian in files; we only support little-endian
// hosts, so they are read directly.
#pragma once

#include <bit>
#include <cstdint>

#include "quant/tables.h"

namespace nextlm::quant {

static_assert(std::endian::native == std::endian::little, "GGUF data is little-endian");

using half_t = uint16_t;  // raw IEEE half bits

// clang-format off
// ---- legacy formats: 32 elements per block ----
struct BlockQ4_0 { half_t d; uint8_t qs[QK4_0 / 2]; };
struct BlockQ4_1 { half_t d; half_t m; uint8_t qs[QK4_1 / 2]; };
struct BlockQ5_0 { half_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct BlockQ5_1 { half_t d; half_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct BlockQ8_0 { half_t d; int8_t qs[QK8_0]; };
struct BlockQ8_1 { half_t d; half_t s; int8_t qs[QK8_0]; };  // s = d * sum(qs)
struct BlockIQ4_NL { half_t d; uint8_t qs[QK4_NL / 2]; };
struct BlockMXFP4 { uint8_t e; uint8_t qs[QK_MXFP4 / 2]; };

// ---- k-quants: 256 elements per super-block ----
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[QK_K / 4];       // 2-bit quants
  half_t d;                   // super-block scale of the scales
  half_t dmin;                // super-block scale of the mins
};
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];  // high bit of each quant
  uint8_t qs[QK_K / 4];     // low 2 bits
  uint8_t scales[12];       // 16 6-bit scales, packed
  half_t d;
};
struct BlockQ4_K {
  half_t d;
  half_t dmin;
  uint8_t scales[12];  // 8 6-bit scales and 8 6-bit mins, packed
  uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
  half_t d;
  half_t dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];  // low 4 bits
  uint8_t qh[QK_K / 4];  // high 2 bits
  int8_t scales[QK_K / 16];
  half_t d;
};
struct BlockQ8_K {
  float d;  // plain f32, not half
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};

// ---- i-quants: 256 elements per super-block ----
struct BlockIQ2_XXS { half_t d; uint16_t qs[QK_K / 8]; };
struct BlockIQ2_XS { half_t d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; };
struct BlockIQ2_S {
  half_t d;
  uint8_t qs[QK_K / 4];  // grid indices (low 8 bits), then sign bytes
  uint8_t qh[QK_K / 32];
  uint8_t scales[QK_K / 32];
};
struct BlockIQ3_XXS { half_t d; uint8_t qs[3 * QK_K / 8]; };  // indices, then scales+signs
struct BlockIQ3_S {
  half_t d;
  uint8_t qs[QK_K / 4];
  uint8_t qh[QK_K / 32];
  uint8_t signs[QK_K / 8];
  uint8_t scales[QK_K / 64];
};
struct BlockIQ1_S { half_t d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; };
struct BlockIQ1_M {
  uint8_t qs[QK_K / 8];
  uint8_t qh[QK_K / 16];
  uint8_t scales[QK_K / 32];  // 3-bit sub-scales; the top nibbles of the four
                              // uint16 words hold the f16 super-block scale
};
struct BlockIQ4_XS {
  half_t d;
  uint16_t scales_h;
  uint8_t scales_l[QK_K / 64];
  uint8_t qs[QK_K / 2];
};

// ---- ternary formats ----
struct BlockTQ1_0 {
  uint8_t qs[(QK_K - 4 * QK_K / 64) / 5];  // 5 trits per byte
  uint8_t qh[QK_K / 64];                   // 4 trits per byte
  half_t d;
};
struct BlockTQ2_0 { uint8_t qs[QK_K / 4]; half_t d; };  // 2 bits per element

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockMXFP4) == 17);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ2_XXS) == 66);
static_assert(sizeof(BlockIQ2_XS) == 74);
static_assert(sizeof(BlockIQ2_S) == 82);
static_assert(sizeof(BlockIQ3_XXS) == 98);
static_assert(sizeof(BlockIQ3_S) == 110);
static_assert(sizeof(BlockIQ1_S) == 50);
static_assert(sizeof(BlockIQ1_M) == 56);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockTQ1_0) == 54);
static_assert(sizeof(BlockTQ2_0) == 66);
// clang-format on

// Blocks are read straight from (possibly unaligned) mapped files or device
// copies of them, so the decoders (block_decode.h) never dereference these
// structs: they read the bytes at offsetof() positions; alignment never matters.

}  // namespace nextlm::quant
