// Dequantizers of the i-quants. Most store, per group of 8 (or 4) values, an
// index into a fixed grid of magnitudes plus sign bits; iq4_nl/iq4_xs use a
// non-linear 16-entry codebook. Grid entries pack their bytes little-endian,
// so byte j of an entry is value j of the group.
#include "quant/blocks.h"
#include "quant/dequant_impl.h"
#include "quant/fp16.h"

namespace nextlm::quant::detail {
namespace {

inline uint8_t grid_byte(uint64_t entry, int j) {
  return static_cast<uint8_t>(entry >> (8 * j));
}
inline uint8_t grid_byte(uint32_t entry, int j) {
  return static_cast<uint8_t>(entry >> (8 * j));
}
inline int8_t grid_sbyte(uint64_t entry, int j) {
  return static_cast<int8_t>(entry >> (8 * j));
}

// +-1 for bit j of a sign mask (kmask_iq2xs[j] == 1 << j), by table lookup:
// random signs would make a branch mispredict half the time.
constexpr float kSign[2] = {1.f, -1.f};
inline float sign_of(uint8_t signs, int j) {
  return kSign[(signs >> j) & 1];
}

// 8 values: db * grid value * sign. ggml multiplies in this order.
inline void put8(float* y, float db, uint64_t entry, uint8_t signs) {
  for (int j = 0; j < 8; ++j) y[j] = db * static_cast<float>(grid_byte(entry, j)) * sign_of(signs, j);
}

// Two 4-value iq3 grid entries sharing one 8-bit sign mask.
inline void put4x2(float* y, float db, uint32_t e1, uint32_t e2, uint8_t signs) {
  for (int j = 0; j < 4; ++j) {
    y[j] = db * static_cast<float>(grid_byte(e1, j)) * sign_of(signs, j);
    y[j + 4] = db * static_cast<float>(grid_byte(e2, j)) * sign_of(signs, j + 4);
  }
}

}  // namespace

// Per 32 values: two 32-bit words; the first holds four 8-bit grid indices,
// the second four 7-bit sign indices and a 4-bit scale in the top bits.
void dequant_iq2_xxs(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ2_XXS>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      uint32_t aux[2];
      std::memcpy(aux, b.qs + 4 * ib, sizeof aux);
      const float db = d * (0.5f + static_cast<float>(aux[1] >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint8_t idx = static_cast<uint8_t>(aux[0] >> (8 * l));
        put8(y, db, iq2xxs_grid[idx], ksigns_iq2xs[(aux[1] >> (7 * l)) & 127]);
      }
    }
  }
}

// Each uint16 is a 9-bit grid index and a 7-bit sign index; two 4-bit scales
// per 32 values (one per 16).
void dequant_iq2_xs(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ2_XS>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const float db[2] = {d * (0.5f + static_cast<float>(b.scales[ib] & 0x0F)) * 0.25f,
                           d * (0.5f + static_cast<float>(b.scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint16_t q = b.qs[4 * ib + l];
        put8(y, db[l / 2], iq2xs_grid[q & 511], ksigns_iq2xs[q >> 9]);
      }
    }
  }
}

// 10-bit grid indices (8 bits in qs, 2 in qh) and explicit sign bytes, which
// follow the 32 index bytes in qs.
void dequant_iq2_s(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ2_S>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* qs = b.qs;
    const uint8_t* signs = b.qs + QK_K / 8;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, signs += 4) {
      const float db[2] = {d * (0.5f + static_cast<float>(b.scales[ib] & 0x0F)) * 0.25f,
                           d * (0.5f + static_cast<float>(b.scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l, y += 8) {
        const int idx = qs[l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300);
        put8(y, db[l / 2], iq2s_grid[idx], signs[l]);
      }
    }
  }
}

// 64 bytes of 8-bit indices into a 4-value grid, then per 32 values a 32-bit
// word of four 7-bit sign indices and a 4-bit scale.
void dequant_iq3_xxs(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ3_XXS>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* qs = b.qs;
    const uint8_t* scales_and_signs = b.qs + QK_K / 4;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 8) {
      uint32_t aux;
      std::memcpy(&aux, scales_and_signs + 4 * ib, sizeof aux);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint8_t signs = ksigns_iq2xs[(aux >> (7 * l)) & 127];
        put4x2(y, db, iq3xxs_grid[qs[2 * l]], iq3xxs_grid[qs[2 * l + 1]], signs);
      }
    }
  }
}

// 9-bit indices (8 in qs, 1 in qh) into a 4-value grid, explicit sign bytes,
// one odd-integer 4-bit scale per 32 values (d * (1 + 2s)).
void dequant_iq3_s(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ3_S>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* qs = b.qs;
    const uint8_t* signs = b.signs;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 8, signs += 4) {
      const int s = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0x0F;
      const float db = d * static_cast<float>(1 + 2 * s);
      const uint8_t qh = b.qh[ib];
      for (int l = 0; l < 4; ++l, y += 8) {
        const int i1 = qs[2 * l] | ((qh << (8 - 2 * l)) & 256);
        const int i2 = qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256);
        put4x2(y, db, iq3s_grid[i1], iq3s_grid[i2], signs[l]);
      }
    }
  }
}

// 11-bit indices into a grid of {-1, 0, 1} (stored as int8), shifted by
// +-delta, times an odd 3-bit scale.
void dequant_iq1_s(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ1_S>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* qs = b.qs;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4) {
      const uint16_t qh = b.qh[ib];
      const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
      const float delta = (qh & 0x8000) ? -IQ1S_DELTA : IQ1S_DELTA;
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint64_t g = iq1s_grid[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
        for (int j = 0; j < 8; ++j) y[j] = dl * (static_cast<float>(grid_sbyte(g, j)) + delta);
      }
    }
  }
}

// As iq1_s with per-16 scales and per-8 delta signs; the f16 super-block
// scale is spread over the top nibbles of the four 16-bit scale words.
void dequant_iq1_m(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ1_M>(src, i);
    uint16_t sc[4];
    std::memcpy(sc, b.scales, sizeof sc);
    const uint16_t dbits =
        static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000));
    const float d = fp16_to_fp32(dbits);
    const uint8_t* qs = b.qs;
    const uint8_t* qh = b.qh;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2) {
      const int shift = 6 * (ib % 2);
      const float dl[2] = {d * static_cast<float>(2 * ((sc[ib / 2] >> shift) & 7) + 1),
                           d * static_cast<float>(2 * ((sc[ib / 2] >> (shift + 3)) & 7) + 1)};
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint8_t h = static_cast<uint8_t>(qh[l / 2] >> (4 * (l % 2)));  // this group's nibble
        const uint64_t g = iq1s_grid[qs[l] | ((h & 7) << 8)];
        const float delta = (h & 0x08) ? -IQ1S_DELTA : IQ1S_DELTA;
        for (int j = 0; j < 8; ++j) y[j] = dl[l / 2] * (static_cast<float>(grid_sbyte(g, j)) + delta);
      }
    }
  }
}

void dequant_iq4_nl(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += QK4_NL) {
    const auto b = load_block<BlockIQ4_NL>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int j = 0; j < QK4_NL / 2; ++j) {
      y[j] = d * static_cast<float>(kvalues_iq4nl[b.qs[j] & 0x0F]);
      y[j + QK4_NL / 2] = d * static_cast<float>(kvalues_iq4nl[b.qs[j] >> 4]);
    }
  }
}

// iq4_nl codebook with a signed 6-bit scale per 32 values (stored + 32,
// low 4 bits in scales_l, high 2 bits in scales_h).
void dequant_iq4_xs(const uint8_t* src, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto b = load_block<BlockIQ4_XS>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* qs = b.qs;
    for (int ib = 0; ib < QK_K / 32; ++ib, y += 32, qs += 16) {
      const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((b.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kvalues_iq4nl[qs[j] & 0x0F]);
        y[j + 16] = dl * static_cast<float>(kvalues_iq4nl[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace nextlm::quant::detail
