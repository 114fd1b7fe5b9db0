// Per-block decoders of every quantized GGUF format, shared by the CPU
// dequantizers (dequant_*.cpp) and the CUDA kernels (cuda/dequant.cu), so that
// both compute the same float operations in the same order: bit-identical by
// construction. The float steps follow ggml's reference scalar code.
//
// Every decoder has the form
//   decode_<fmt>(const uint8_t* blk, int sub, float* y)
// and writes the 32 values of sub-block `sub` (0 .. block elements / 32 - 1)
// of the block at `blk` to y[0..31]; the sub-blocks of a block are consecutive
// in the output. 32-element formats have one sub-block (sub is ignored).
// `blk` may have any alignment: fields are read as bytes at offsetof()
// positions (see hd.h), never through a wide load.
//
// Lookup tables are named through NLM_QTAB(name): the host arrays of
// tables.cpp on the host, and in device code nextlm::quant::dev::name, which a
// .cu file defines before including this header:
//   namespace nextlm::quant::dev {
//   #define NLM_QUANT_TABLE(T, name, n, ...) __device__ const T name[n] = __VA_ARGS__;
//   #include "quant/tables_data.inc"
//   #undef NLM_QUANT_TABLE
//   }
// Device code must not be built with -ftz=true or --use_fast_math (denormal
// results, e.g. mxfp4 with tiny exponents, must come out as on the CPU).
//
// Products that are followed by an add use mul_rn() so that nvcc cannot fuse
// them into an FMA. (Most products here are exact in float anyway, since f16
// scales have 11 significant bits and quants a few; where rounding can happen,
// e.g. q6_K's (d * scale) * q, the evaluation order matters and is ggml's.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/hd.h"
#include "quant/tables.h"

#if defined(__CUDA_ARCH__)
#define NLM_QTAB(name) ::nextlm::quant::dev::name
#else
#define NLM_QTAB(name) ::nextlm::quant::name
#endif

namespace nextlm::quant {

inline constexpr int kSubBlock = 32;  // elements per decoder call

// Byte pointer to field F of block B at blk.
#define NLM_FIELD(B, F) (blk + offsetof(B, F))

// ---------------------------------------------------------------------------
// Plain element types (one element per "block"): value of the element at p.
NLM_HD inline float decode_f32(const uint8_t* p) {
  return bits_to_f32(load_u32(p));
}
NLM_HD inline float decode_f16(const uint8_t* p) {
  return fp16_to_fp32(load_u16(p));
}
NLM_HD inline float decode_bf16(const uint8_t* p) {
  return bf16_to_fp32(load_u16(p));
}
// Integers and f64 round to nearest float (the default rounding on both sides).
template <typename T>
NLM_HD inline float decode_plain(const uint8_t* p) {
  return static_cast<float>(load_le<T>(p));
}

// ---------------------------------------------------------------------------
// Legacy formats: 32 elements per block, one scale (and for _1 a min).
// Low nibbles hold elements 0..15, high nibbles 16..31.

NLM_HD inline void decode_q4_0(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ4_0, d)));
  const uint8_t* qs = NLM_FIELD(BlockQ4_0, qs);
  for (int j = 0; j < QK4_0 / 2; ++j) {
    const int x0 = (qs[j] & 0x0F) - 8;
    const int x1 = (qs[j] >> 4) - 8;
    y[j] = static_cast<float>(x0) * d;
    y[j + QK4_0 / 2] = static_cast<float>(x1) * d;
  }
}

NLM_HD inline void decode_q4_1(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ4_1, d)));
  const float m = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ4_1, m)));
  const uint8_t* qs = NLM_FIELD(BlockQ4_1, qs);
  for (int j = 0; j < QK4_1 / 2; ++j) {
    const int x0 = qs[j] & 0x0F;
    const int x1 = qs[j] >> 4;
    y[j] = mul_rn(static_cast<float>(x0), d) + m;
    y[j + QK4_1 / 2] = mul_rn(static_cast<float>(x1), d) + m;
  }
}

// The fifth bit of element j comes from bit j of the 32-bit qh word.
NLM_HD inline void decode_q5_0(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ5_0, d)));
  const uint32_t qh = load_u32(NLM_FIELD(BlockQ5_0, qh));
  const uint8_t* qs = NLM_FIELD(BlockQ5_0, qs);
  for (int j = 0; j < QK5_0 / 2; ++j) {
    const int h0 = ((qh >> j) & 1u) << 4;
    const int h1 = ((qh >> (j + 16)) & 1u) << 4;
    const int x0 = ((qs[j] & 0x0F) | h0) - 16;
    const int x1 = ((qs[j] >> 4) | h1) - 16;
    y[j] = static_cast<float>(x0) * d;
    y[j + QK5_0 / 2] = static_cast<float>(x1) * d;
  }
}

NLM_HD inline void decode_q5_1(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ5_1, d)));
  const float m = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ5_1, m)));
  const uint32_t qh = load_u32(NLM_FIELD(BlockQ5_1, qh));
  const uint8_t* qs = NLM_FIELD(BlockQ5_1, qs);
  for (int j = 0; j < QK5_1 / 2; ++j) {
    const int h0 = ((qh >> j) & 1u) << 4;
    const int h1 = ((qh >> (j + 16)) & 1u) << 4;
    const int x0 = (qs[j] & 0x0F) | h0;
    const int x1 = (qs[j] >> 4) | h1;
    y[j] = mul_rn(static_cast<float>(x0), d) + m;
    y[j + QK5_1 / 2] = mul_rn(static_cast<float>(x1), d) + m;
  }
}

NLM_HD inline void decode_q8_0(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ8_0, d)));
  const auto* qs = reinterpret_cast<const int8_t*>(NLM_FIELD(BlockQ8_0, qs));
  for (int j = 0; j < QK8_0; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// E2M1 codes through the doubled codebook times 2^(e-128) (see fp16.h).
NLM_HD inline void decode_mxfp4(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = e8m0_to_fp32_half(*NLM_FIELD(BlockMXFP4, e));
  const uint8_t* qs = NLM_FIELD(BlockMXFP4, qs);
  for (int j = 0; j < QK_MXFP4 / 2; ++j) {
    y[j] = static_cast<float>(NLM_QTAB(kvalues_fp4)[qs[j] & 0x0F]) * d;
    y[j + QK_MXFP4 / 2] = static_cast<float>(NLM_QTAB(kvalues_fp4)[qs[j] >> 4]) * d;
  }
}

NLM_HD inline void decode_iq4_nl(const uint8_t* NLM_RESTRICT blk, int, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ4_NL, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ4_NL, qs);
  for (int j = 0; j < QK4_NL / 2; ++j) {
    y[j] = d * static_cast<float>(NLM_QTAB(kvalues_iq4nl)[qs[j] & 0x0F]);
    y[j + QK4_NL / 2] = d * static_cast<float>(NLM_QTAB(kvalues_iq4nl)[qs[j] >> 4]);
  }
}

// ---------------------------------------------------------------------------
// k-quants: 256-element super-blocks with small integer sub-block scales. The
// sub-block scale is formed first as float (d * scale), then multiplied by the
// quant, and the min subtracted last: the same rounding steps as ggml.

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: entries
// 0..3 are the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); entries
// 4..7 take their low 4 bits from bytes 8..11 and their top 2 bits from the
// spare high bits of bytes 0..7.
NLM_HD inline void scale_min_k4(int j, const uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Sixteen 16-element sub-blocks; quant byte l of each 32-byte group holds
// four 2-bit values at shifts 0, 2, 4, 6 (elements l, l+32, l+64, l+96 of a
// 128-element half). Sub-block s: half s / 4, shift 2 * (s % 4).
NLM_HD inline void decode_q2_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ2_K, d)));
  const float dmin = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ2_K, dmin)));
  const uint8_t* q = NLM_FIELD(BlockQ2_K, qs) + 32 * (sub / 4);
  const uint8_t* scales = NLM_FIELD(BlockQ2_K, scales) + 8 * (sub / 4) + 2 * (sub % 4);
  const int shift = 2 * (sub % 4);
  for (int half = 0; half < 2; ++half) {
    const uint8_t sc = scales[half];
    const float dl = d * static_cast<float>(sc & 0x0F);
    const float ml = dmin * static_cast<float>(sc >> 4);
    for (int l = 0; l < 16; ++l)
      y[16 * half + l] = mul_rn(dl, static_cast<float>((q[l + 16 * half] >> shift) & 3)) - ml;
  }
}

// Like q2_K plus a third bit from hmask (a clear bit subtracts 4), with
// sixteen signed 6-bit scales (stored + 32) packed into 12 bytes: scale k has
// its low 4 bits in nibble k / 8 of byte k % 8 and its high 2 bits at bit
// 2 * (k / 4) of byte 8 + k % 4.
NLM_HD inline void decode_q3_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d_all = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ3_K, d)));
  const uint8_t* scales = NLM_FIELD(BlockQ3_K, scales);
  const uint8_t* q = NLM_FIELD(BlockQ3_K, qs) + 32 * (sub / 4);
  const uint8_t* hmask = NLM_FIELD(BlockQ3_K, hmask);
  const int shift = 2 * (sub % 4);
  const uint8_t m = static_cast<uint8_t>(1u << sub);  // hmask bit of this sub-block
  for (int half = 0; half < 2; ++half) {
    const int k = 2 * sub + half;
    const int lo = (scales[k % 8] >> (4 * (k / 8))) & 0x0F;
    const int hi = (scales[8 + k % 4] >> (2 * (k / 4))) & 3;
    const float dl = d_all * static_cast<float>((lo | (hi << 4)) - 32);
    for (int l = 16 * half; l < 16 * half + 16; ++l) {
      const int v = ((q[l] >> shift) & 3) - ((hmask[l] & m) ? 0 : 4);
      y[l] = dl * static_cast<float>(v);
    }
  }
}

// Eight 32-element sub-blocks with 6-bit scale and min; in each 32-byte group
// the low nibbles are sub-block 2p, the high nibbles 2p + 1.
NLM_HD inline void decode_q4_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ4_K, d)));
  const float dmin = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ4_K, dmin)));
  const uint8_t* q = NLM_FIELD(BlockQ4_K, qs) + 32 * (sub / 2);
  int sc, m;
  scale_min_k4(sub, NLM_FIELD(BlockQ4_K, scales), sc, m);
  const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
  const int shift = 4 * (sub % 2);
  for (int l = 0; l < 32; ++l) y[l] = mul_rn(dl, static_cast<float>((q[l] >> shift) & 0x0F)) - ml;
}

// q4_K plus a fifth bit: sub-block s uses bit s of qh[l].
NLM_HD inline void decode_q5_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ5_K, d)));
  const float dmin = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ5_K, dmin)));
  const uint8_t* ql = NLM_FIELD(BlockQ5_K, qs) + 32 * (sub / 2);
  const uint8_t* qh = NLM_FIELD(BlockQ5_K, qh);
  int sc, m;
  scale_min_k4(sub, NLM_FIELD(BlockQ5_K, scales), sc, m);
  const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
  const int shift = 4 * (sub % 2);
  const uint8_t u = static_cast<uint8_t>(1u << sub);
  for (int l = 0; l < 32; ++l)
    y[l] = mul_rn(dl, static_cast<float>(((ql[l] >> shift) & 0x0F) + ((qh[l] & u) ? 16 : 0))) - ml;
}

// 6-bit quants (low 4 bits in ql, top 2 in qh) minus 32, sixteen int8 scales;
// ggml evaluates d * scale * q left to right. Per 128-element half n (64 ql
// bytes, 32 qh bytes, 8 scales), sub-block k = 0..3 takes the low (k < 2) or
// high nibbles of ql[32 * (k % 2) + l] and bits 2k of qh[l].
NLM_HD inline void decode_q6_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockQ6_K, d)));
  const int n = sub / 4, k = sub % 4;
  const uint8_t* ql = NLM_FIELD(BlockQ6_K, ql) + 64 * n + 32 * (k % 2);
  const uint8_t* qh = NLM_FIELD(BlockQ6_K, qh) + 32 * n;
  const auto* sc = reinterpret_cast<const int8_t*>(NLM_FIELD(BlockQ6_K, scales)) + 8 * n + 2 * k;
  const int lshift = 4 * (k / 2), hshift = 2 * k;
  for (int half = 0; half < 2; ++half) {
    const float ds = d * static_cast<float>(sc[half]);  // (d * scale) first, as ggml
    for (int l = 16 * half; l < 16 * half + 16; ++l) {
      const int q = (((ql[l] >> lshift) & 0x0F) | (((qh[l] >> hshift) & 3) << 4)) - 32;
      y[l] = ds * static_cast<float>(q);
    }
  }
}

NLM_HD inline void decode_q8_k(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = bits_to_f32(load_u32(NLM_FIELD(BlockQ8_K, d)));  // plain f32
  const auto* qs = reinterpret_cast<const int8_t*>(NLM_FIELD(BlockQ8_K, qs)) + 32 * sub;
  for (int l = 0; l < 32; ++l) y[l] = d * static_cast<float>(qs[l]);
}

// ---------------------------------------------------------------------------
// Ternary formats.

// Base-3 digits packed as a fixed-point fraction: byte q holds trits t0..t4
// with q ~= 256 * (t0/3 + t1/9 + ...). Multiplying by 3^n (mod 256) brings
// digit n to the top, and (q * 3) >> 8 reads it.
NLM_HD inline uint8_t tq1_pow3(int n) {
  uint8_t p = 1;
  for (int i = 0; i < n; ++i) p = static_cast<uint8_t>(p * 3);
  return p;
}
NLM_HD inline float tq1_trit(uint8_t byte, uint8_t pow3, float d) {
  const uint8_t q = static_cast<uint8_t>(byte * pow3);
  const int xi = (static_cast<uint16_t>(q) * 3) >> 8;
  return static_cast<float>(xi - 1) * d;
}

// Element order: digit n of qs[0..31] for n = 0..4 (160 values, sub-blocks
// 0..4), digit n of qs[32..47] for n = 0..4 (80 values), digit n of qh[0..3]
// for n = 0..3 (the last 16).
NLM_HD inline void decode_tq1_0(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockTQ1_0, d)));
  const uint8_t* qs = NLM_FIELD(BlockTQ1_0, qs);
  if (sub < 5) {
    const uint8_t p = tq1_pow3(sub);
    for (int m = 0; m < 32; ++m) y[m] = tq1_trit(qs[m], p, d);
    return;
  }
  for (int half = 0; half < 2; ++half) {
    const int e = 32 * sub + 16 * half - 160;  // 0..79: qs[32..47]; 80, 96: qh
    float* yh = y + 16 * half;
    if (e < 80) {
      const uint8_t p = tq1_pow3(e / 16);
      for (int m = 0; m < 16; ++m) yh[m] = tq1_trit(qs[32 + m], p, d);
    } else {
      const uint8_t* qh = NLM_FIELD(BlockTQ1_0, qh);
      for (int n = 0; n < 4; ++n) {
        const uint8_t p = tq1_pow3(n);
        for (int m = 0; m < 4; ++m) yh[4 * n + m] = tq1_trit(qh[m], p, d);
      }
    }
  }
}

// 2 bits per element: sub-block s is bits 2 * (s % 4) of qs[32 * (s / 4) + m].
NLM_HD inline void decode_tq2_0(const uint8_t* NLM_RESTRICT blk, int sub, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockTQ2_0, d)));
  const uint8_t* qs = NLM_FIELD(BlockTQ2_0, qs) + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
  for (int m = 0; m < 32; ++m) y[m] = static_cast<float>(((qs[m] >> shift) & 3) - 1) * d;
}

// ---------------------------------------------------------------------------
// i-quants. Most store, per group of 8 (or 4) values, an index into a fixed
// grid of magnitudes plus sign bits; iq4_xs uses a non-linear 16-entry
// codebook. Grid entries pack their bytes little-endian, so byte j of an entry
// is value j of the group. Sub-block = one 32-value group ib.

NLM_HD inline uint8_t grid_byte(uint64_t entry, int j) {
  return static_cast<uint8_t>(entry >> (8 * j));
}
NLM_HD inline int8_t grid_sbyte(uint64_t entry, int j) {
  return static_cast<int8_t>(entry >> (8 * j));
}

// +-1 for bit j of a sign mask (kmask_iq2xs[j] == 1 << j), built from the
// bits: random signs would make a branch mispredict half the time.
NLM_HD inline float sign_of(uint8_t signs, int j) {
  return bits_to_f32(0x3F800000u | ((static_cast<uint32_t>(signs >> j) & 1u) << 31));
}

// 8 values: db * grid value * sign. ggml multiplies in this order.
NLM_HD inline void put8(float* NLM_RESTRICT y, float db, uint64_t entry, uint8_t signs) {
  for (int j = 0; j < 8; ++j) y[j] = db * static_cast<float>(grid_byte(entry, j)) * sign_of(signs, j);
}

// Two 4-value iq3 grid entries sharing one 8-bit sign mask.
NLM_HD inline void put4x2(float* NLM_RESTRICT y, float db, uint32_t e1, uint32_t e2, uint8_t signs) {
  for (int j = 0; j < 4; ++j) {
    y[j] = db * static_cast<float>(grid_byte(e1, j)) * sign_of(signs, j);
    y[j + 4] = db * static_cast<float>(grid_byte(e2, j)) * sign_of(signs, j + 4);
  }
}

// Per 32 values: two 32-bit words; the first holds four 8-bit grid indices,
// the second four 7-bit sign indices and a 4-bit scale in the top bits.
NLM_HD inline void decode_iq2_xxs(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ2_XXS, d)));
  const uint8_t* q = NLM_FIELD(BlockIQ2_XXS, qs) + 8 * ib;
  const uint32_t aux0 = load_u32(q), aux1 = load_u32(q + 4);
  const float db = d * (0.5f + static_cast<float>(aux1 >> 28)) * 0.25f;
  for (int l = 0; l < 4; ++l) {
    const uint8_t idx = static_cast<uint8_t>(aux0 >> (8 * l));
    put8(y + 8 * l, db, NLM_QTAB(iq2xxs_grid)[idx], NLM_QTAB(ksigns_iq2xs)[(aux1 >> (7 * l)) & 127]);
  }
}

// Each uint16 is a 9-bit grid index and a 7-bit sign index; two 4-bit scales
// per 32 values (one per 16).
NLM_HD inline void decode_iq2_xs(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ2_XS, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ2_XS, qs) + 8 * ib;
  const uint8_t sc = NLM_FIELD(BlockIQ2_XS, scales)[ib];
  const float db[2] = {d * (0.5f + static_cast<float>(sc & 0x0F)) * 0.25f,
                       d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
  for (int l = 0; l < 4; ++l) {
    const uint16_t q = load_u16(qs + 2 * l);
    put8(y + 8 * l, db[l / 2], NLM_QTAB(iq2xs_grid)[q & 511], NLM_QTAB(ksigns_iq2xs)[q >> 9]);
  }
}

// 10-bit grid indices (8 bits in qs, 2 in qh) and explicit sign bytes, which
// follow the 32 index bytes in qs.
NLM_HD inline void decode_iq2_s(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ2_S, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ2_S, qs) + 4 * ib;
  const uint8_t* signs = NLM_FIELD(BlockIQ2_S, qs) + QK_K / 8 + 4 * ib;
  const uint8_t qh = NLM_FIELD(BlockIQ2_S, qh)[ib];
  const uint8_t sc = NLM_FIELD(BlockIQ2_S, scales)[ib];
  const float db[2] = {d * (0.5f + static_cast<float>(sc & 0x0F)) * 0.25f,
                       d * (0.5f + static_cast<float>(sc >> 4)) * 0.25f};
  for (int l = 0; l < 4; ++l) {
    const int idx = qs[l] | ((qh << (8 - 2 * l)) & 0x300);
    put8(y + 8 * l, db[l / 2], NLM_QTAB(iq2s_grid)[idx], signs[l]);
  }
}

// 64 bytes of 8-bit indices into a 4-value grid, then per 32 values a 32-bit
// word of four 7-bit sign indices and a 4-bit scale.
NLM_HD inline void decode_iq3_xxs(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ3_XXS, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ3_XXS, qs) + 8 * ib;
  const uint32_t aux = load_u32(NLM_FIELD(BlockIQ3_XXS, qs) + QK_K / 4 + 4 * ib);
  const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
  for (int l = 0; l < 4; ++l) {
    const uint8_t signs = NLM_QTAB(ksigns_iq2xs)[(aux >> (7 * l)) & 127];
    put4x2(y + 8 * l, db, NLM_QTAB(iq3xxs_grid)[qs[2 * l]], NLM_QTAB(iq3xxs_grid)[qs[2 * l + 1]], signs);
  }
}

// 9-bit indices (8 in qs, 1 in qh) into a 4-value grid, explicit sign bytes,
// one odd-integer 4-bit scale per 32 values (d * (1 + 2s)).
NLM_HD inline void decode_iq3_s(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ3_S, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ3_S, qs) + 8 * ib;
  const uint8_t* signs = NLM_FIELD(BlockIQ3_S, signs) + 4 * ib;
  const int s = (NLM_FIELD(BlockIQ3_S, scales)[ib / 2] >> (4 * (ib % 2))) & 0x0F;
  const float db = d * static_cast<float>(1 + 2 * s);
  const uint8_t qh = NLM_FIELD(BlockIQ3_S, qh)[ib];
  for (int l = 0; l < 4; ++l) {
    const int i1 = qs[2 * l] | ((qh << (8 - 2 * l)) & 256);
    const int i2 = qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256);
    put4x2(y + 8 * l, db, NLM_QTAB(iq3s_grid)[i1], NLM_QTAB(iq3s_grid)[i2], signs[l]);
  }
}

// 11-bit indices into a grid of {-1, 0, 1} (stored as int8), shifted by
// +-delta, times an odd 3-bit scale.
NLM_HD inline void decode_iq1_s(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ1_S, d)));
  const uint8_t* qs = NLM_FIELD(BlockIQ1_S, qs) + 4 * ib;
  const uint16_t qh = load_u16(NLM_FIELD(BlockIQ1_S, qh) + 2 * ib);
  const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
  const float delta = (qh & 0x8000) ? -IQ1S_DELTA : IQ1S_DELTA;
  for (int l = 0; l < 4; ++l) {
    const uint64_t g = NLM_QTAB(iq1s_grid)[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
    for (int j = 0; j < 8; ++j) y[8 * l + j] = dl * (static_cast<float>(grid_sbyte(g, j)) + delta);
  }
}

// As iq1_s with per-16 scales and per-8 delta signs; the f16 super-block
// scale is spread over the top nibbles of the four 16-bit scale words.
NLM_HD inline void decode_iq1_m(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const uint8_t* scales = NLM_FIELD(BlockIQ1_M, scales);
  const uint16_t dbits =
      static_cast<uint16_t>((load_u16(scales) >> 12) | ((load_u16(scales + 2) >> 8) & 0x00F0) |
                            ((load_u16(scales + 4) >> 4) & 0x0F00) | (load_u16(scales + 6) & 0xF000));
  const float d = fp16_to_fp32(dbits);
  const uint16_t sc = load_u16(scales + 2 * (ib / 2));  // this group's scale word
  const uint8_t* qs = NLM_FIELD(BlockIQ1_M, qs) + 4 * ib;
  const uint8_t* qh = NLM_FIELD(BlockIQ1_M, qh) + 2 * ib;
  const int shift = 6 * (ib % 2);
  const float dl[2] = {d * static_cast<float>(2 * ((sc >> shift) & 7) + 1),
                       d * static_cast<float>(2 * ((sc >> (shift + 3)) & 7) + 1)};
  for (int l = 0; l < 4; ++l) {
    const uint8_t h = static_cast<uint8_t>(qh[l / 2] >> (4 * (l % 2)));  // this group's nibble
    const uint64_t g = NLM_QTAB(iq1s_grid)[qs[l] | ((h & 7) << 8)];
    const float delta = (h & 0x08) ? -IQ1S_DELTA : IQ1S_DELTA;
    for (int j = 0; j < 8; ++j) y[8 * l + j] = dl[l / 2] * (static_cast<float>(grid_sbyte(g, j)) + delta);
  }
}

// iq4_nl codebook with a signed 6-bit scale per 32 values (stored + 32,
// low 4 bits in scales_l, high 2 bits in scales_h).
NLM_HD inline void decode_iq4_xs(const uint8_t* NLM_RESTRICT blk, int ib, float* NLM_RESTRICT y) {
  const float d = fp16_to_fp32(load_u16(NLM_FIELD(BlockIQ4_XS, d)));
  const uint16_t scales_h = load_u16(NLM_FIELD(BlockIQ4_XS, scales_h));
  const uint8_t* qs = NLM_FIELD(BlockIQ4_XS, qs) + 16 * ib;
  const int ls =
      ((NLM_FIELD(BlockIQ4_XS, scales_l)[ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((scales_h >> (2 * ib)) & 3) << 4);
  const float dl = d * static_cast<float>(ls - 32);
  for (int j = 0; j < 16; ++j) {
    y[j] = dl * static_cast<float>(NLM_QTAB(kvalues_iq4nl)[qs[j] & 0x0F]);
    y[j + 16] = dl * static_cast<float>(NLM_QTAB(kvalues_iq4nl)[qs[j] >> 4]);
  }
}

#undef NLM_FIELD

// ---------------------------------------------------------------------------
// Every block format with a decoder, as X(Type enumerator, block struct,
// elements per block, decoder): the CUDA dispatch is generated from this list,
// and the GPU test checks it against every type the CPU dequantizes.
#define NLM_QUANT_BLOCK_FORMATS(X)               \
  X(Q4_0, BlockQ4_0, QK4_0, decode_q4_0)         \
  X(Q4_1, BlockQ4_1, QK4_1, decode_q4_1)         \
  X(Q5_0, BlockQ5_0, QK5_0, decode_q5_0)         \
  X(Q5_1, BlockQ5_1, QK5_1, decode_q5_1)         \
  X(Q8_0, BlockQ8_0, QK8_0, decode_q8_0)         \
  X(MXFP4, BlockMXFP4, QK_MXFP4, decode_mxfp4)   \
  X(IQ4_NL, BlockIQ4_NL, QK4_NL, decode_iq4_nl)  \
  X(Q2_K, BlockQ2_K, QK_K, decode_q2_k)          \
  X(Q3_K, BlockQ3_K, QK_K, decode_q3_k)          \
  X(Q4_K, BlockQ4_K, QK_K, decode_q4_k)          \
  X(Q5_K, BlockQ5_K, QK_K, decode_q5_k)          \
  X(Q6_K, BlockQ6_K, QK_K, decode_q6_k)          \
  X(Q8_K, BlockQ8_K, QK_K, decode_q8_k)          \
  X(TQ1_0, BlockTQ1_0, QK_K, decode_tq1_0)       \
  X(TQ2_0, BlockTQ2_0, QK_K, decode_tq2_0)       \
  X(IQ2_XXS, BlockIQ2_XXS, QK_K, decode_iq2_xxs) \
  X(IQ2_XS, BlockIQ2_XS, QK_K, decode_iq2_xs)    \
  X(IQ2_S, BlockIQ2_S, QK_K, decode_iq2_s)       \
  X(IQ3_XXS, BlockIQ3_XXS, QK_K, decode_iq3_xxs) \
  X(IQ3_S, BlockIQ3_S, QK_K, decode_iq3_s)       \
  X(IQ1_S, BlockIQ1_S, QK_K, decode_iq1_s)       \
  X(IQ1_M, BlockIQ1_M, QK_K, decode_iq1_m)       \
  X(IQ4_XS, BlockIQ4_XS, QK_K, decode_iq4_xs)

// Plain element types, as X(Type enumerator, bytes per element, decoder).
#define NLM_QUANT_PLAIN_FORMATS(X) \
  X(F32, 4, decode_f32)            \
  X(F16, 2, decode_f16)            \
  X(BF16, 2, decode_bf16)          \
  X(F64, 8, decode_plain<double>)  \
  X(I8, 1, decode_plain<int8_t>)   \
  X(I16, 2, decode_plain<int16_t>) \
  X(I32, 4, decode_plain<int32_t>) \
  X(I64, 8, decode_plain<int64_t>)

}  // namespace nextlm::quant
