// Dequantizers of the k-quants (256-element super-blocks split into 16 or 32
// element sub-blocks with small integer scales) and of the ternary formats.
// The sub-block scale is formed first as float (d * scale), then multiplied
// by the quant, and the min subtracted last: the same rounding steps as ggml.
#include "quant/blocks.h"
#include "quant/dequant_impl.h"
#include "quant/fp16.h"

namespace nextlm::quant::detail {
namespace {

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: entries
// 0..3 are the low 6 bits of bytes 0..3 (scales) and 4..7 (mins); entries
// 4..7 take their low 4 bits from bytes 8..11 and their top 2 bits from the
// spare high bits of bytes 0..7.
inline void scale_min_k4(int j, const uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace

// Sixteen 16-element sub-blocks; quant byte l of each 32-byte group holds
// four 2-bit values at shifts 0, 2, 4, 6 (elements l, l+32, l+64, l+96).
void dequant_q2_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    const uint8_t* q = b.qs;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = b.scales[is++];
          const float dl = d * static_cast<float>(sc & 0x0F);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// Like q2_K plus a third bit from hmask (a clear bit subtracts 4), with
// sixteen signed 6-bit scales (stored + 32) packed into 12 bytes.
void dequant_q3_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d_all = fp16_to_fp32(b.d);

    // Scale k: low 4 bits are nibble k / 8 of byte k % 8, high 2 bits are
    // bits 2 * (k / 4) of byte 8 + k % 4.
    int scales[16];
    for (int k = 0; k < 16; ++k) {
      const int lo = (b.scales[k % 8] >> (4 * (k / 8))) & 0x0F;
      const int hi = (b.scales[8 + k % 4] >> (2 * (k / 4))) & 3;
      scales[k] = (lo | (hi << 4)) - 32;
    }

    const uint8_t* q = b.qs;
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++]);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((b.hmask[l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
      }
    }
  }
}

// Eight 32-element sub-blocks with 6-bit scale and min; nibbles of 32-byte
// groups: low nibbles first, then high nibbles.
void dequant_q4_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ4_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    const uint8_t* q = b.qs;
    for (int is = 0; is < 8; is += 2, q += 32) {
      int sc, m;
      scale_min_k4(is, b.scales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      scale_min_k4(is + 1, b.scales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// q4_K plus a fifth bit: sub-block pair p uses bits 2p and 2p+1 of qh[l].
void dequant_q5_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ5_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    const uint8_t* ql = b.qs;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2, ql += 32) {
      int sc, m;
      scale_min_k4(is, b.scales, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      scale_min_k4(is + 1, b.scales, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0x0F) + ((b.qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((b.qh[l] & u2) ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// 6-bit quants (low 4 bits in ql, top 2 in qh) minus 32, sixteen int8 scales;
// ggml evaluates d * scale * q left to right.
void dequant_q6_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void dequant_q8_k(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockQ8_K>(src, i);
    for (int j = 0; j < QK_K; ++j) *y++ = b.d * static_cast<float>(b.qs[j]);
  }
}

// Base-3 digits packed as a fixed-point fraction: byte q holds trits t0..t4
// with q ~= 256 * (t0/3 + t1/9 + ...). Multiplying by 3^n (mod 256) brings
// digit n to the top, and (q * 3) >> 8 reads it.
namespace {
inline float trit(uint8_t byte, uint8_t pow3, float d) {
  const uint8_t q = static_cast<uint8_t>(byte * pow3);
  const int xi = (static_cast<uint16_t>(q) * 3) >> 8;
  return static_cast<float>(xi - 1) * d;
}
}  // namespace

void dequant_tq1_0(const uint8_t* src, float* y, int64_t nb) {
  constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  constexpr int kQs = sizeof(BlockTQ1_0::qs);  // 48: one 32-byte and one 16-byte run
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockTQ1_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int n = 0; n < 5; ++n)
      for (int m = 0; m < 32; ++m) *y++ = trit(b.qs[m], kPow3[n], d);
    for (int n = 0; n < 5; ++n)
      for (int m = 32; m < kQs; ++m) *y++ = trit(b.qs[m], kPow3[n], d);
    for (int n = 0; n < 4; ++n)
      for (int m = 0; m < QK_K / 64; ++m) *y++ = trit(b.qh[m], kPow3[n], d);
  }
}

void dequant_tq2_0(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockTQ2_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int j = 0; j < QK_K / 4; j += 32)
      for (int l = 0; l < 4; ++l)
        for (int m = 0; m < 32; ++m) *y++ = static_cast<float>(((b.qs[j + m] >> (2 * l)) & 3) - 1) * d;
  }
}

}  // namespace nextlm::quant::detail
