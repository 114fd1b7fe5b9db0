// Tests of the quant layer: type table, f16/bf16/e8m0 conversions, hand-made
// blocks of every dequantizable format with exactly known values, and the
// random block generator. (Bit-exactness against ggml on a real GGUF file is
// checked separately, with the GGUF reader.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "nextlm/error.h"
#include "quant/blocks.h"
#include "quant/dequant.h"
#include "quant/fp16.h"
#include "quant/random_blocks.h"
#include "quant/types.h"

using namespace nextlm::quant;

namespace {

template <typename B>
std::vector<float> deq(Type t, const B& block) {
  std::vector<float> y(static_cast<size_t>(type_info(t).block_size));
  dequantize_row(t, &block, y.data(), static_cast<int64_t>(y.size()));
  return y;
}

// Exact comparison of a whole block against expected(e) for each element e.
void check_all(const std::vector<float>& y, const std::function<float(int)>& expected) {
  for (size_t e = 0; e < y.size(); ++e) {
    INFO("element " << e);
    CHECK(y[e] == expected(static_cast<int>(e)));
  }
}

constexpr half_t kOne = 0x3C00, kHalf = 0x3800, kQuarter = 0x3400;

uint8_t grid_byte(uint64_t entry, int j) {
  return static_cast<uint8_t>(entry >> (8 * j));
}

}  // namespace

TEST_CASE("type table is consistent", "[quant]") {
  int known = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeInfo* ti = type_info(id);
    if (ti == nullptr) continue;
    ++known;
    CHECK(static_cast<uint32_t>(ti->type) == id);
    CHECK(type_from_name(ti->name) == ti->type);
    CHECK(&type_info(ti->type) == ti);
    CHECK(ti->block_size > 0);
  }
  CHECK(known == 32);
  for (uint32_t retired : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u}) CHECK(type_info(retired) == nullptr);

  CHECK(type_from_name("Q4_K") == Type::Q4_K);
  CHECK(type_from_name("iq3_S") == Type::IQ3_S);
  CHECK(type_from_name("MXFP4") == Type::MXFP4);
  CHECK_FALSE(type_from_name("q4_k_m").has_value());
  CHECK_FALSE(type_from_name("").has_value());
  CHECK(std::string(type_info(Type::Q2_K).name) == "q2_K");
  CHECK(std::string(type_info(Type::IQ2_XXS).name) == "iq2_xxs");

  CHECK(type_info(Type::Q4_0).block_bytes == sizeof(BlockQ4_0));
  CHECK(type_info(Type::Q8_K).block_bytes == sizeof(BlockQ8_K));
  CHECK(type_info(Type::IQ1_M).block_bytes == sizeof(BlockIQ1_M));
  CHECK(type_info(Type::MXFP4).block_bytes == 17);
  CHECK(type_info(Type::BF16).block_bytes == 2);
  CHECK(type_info(Type::F64).block_bytes == 8);
  CHECK(row_bytes(Type::Q4_K, 512) == 288);
  CHECK(row_bytes(Type::F16, 10) == 20);
  CHECK_FALSE(type_info(Type::Q8_1).can_dequantize);
  CHECK_THROWS_AS(type_info(static_cast<Type>(4)), nextlm::Error);
}

TEST_CASE("f16, bf16 and e8m0 conversions are exact", "[quant]") {
  CHECK(fp16_to_fp32(0x3C00) == 1.0f);
  CHECK(fp16_to_fp32(0xC000) == -2.0f);
  CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
  CHECK(fp16_to_fp32(0x0400) == 0x1p-14f);
  CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);
  CHECK(fp16_to_fp32(0x03FF) == 1023 * 0x1p-24f);
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
  CHECK(fp16_to_fp32(0x7C00) == INFINITY);
  CHECK(fp16_to_fp32(0xFC00) == -INFINITY);
  CHECK(std::bit_cast<uint32_t>(fp16_to_fp32(0x7E00)) == 0x7FC00000u);
  CHECK(std::bit_cast<uint32_t>(fp16_to_fp32(0x7C01)) == 0x7FC02000u);  // sNaN comes out quiet

  // Every non-NaN half survives f16 -> f32 -> f16, and the f32 is the value.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    REQUIRE(fp32_to_fp16(f) == h);
  }
  // Round to nearest even.
  CHECK(fp32_to_fp16(1.0f + 0x1p-11f) == 0x3C00);
  CHECK(fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3C02);
  CHECK(fp32_to_fp16(65519.0f) == 0x7BFF);
  CHECK(fp32_to_fp16(65520.0f) == 0x7C00);
  CHECK(fp32_to_fp16(0x1p-25f) == 0x0000);
  CHECK(fp32_to_fp16(0x1.0002p-25f) == 0x0001);
  CHECK(fp32_to_fp16(3 * 0x1p-25f) == 0x0002);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);

  CHECK(bf16_to_fp32(0x3F80) == 1.0f);
  CHECK(bf16_to_fp32(0xC2F7) == -123.5f);
  CHECK(fp32_to_bf16(1.0f + 0x1p-8f) == 0x3F80);      // tie -> even
  CHECK(fp32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82);  // tie -> even (up)
  CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));

  CHECK(e8m0_to_fp32_half(127) == 0.5f);
  CHECK(e8m0_to_fp32_half(128) == 1.0f);
  CHECK(e8m0_to_fp32_half(2) == 0x1p-126f);
  CHECK(e8m0_to_fp32_half(1) == 0x1p-127f);
  CHECK(e8m0_to_fp32_half(0) == 0x1p-128f);
  CHECK(e8m0_to_fp32_half(255) == 0x1p127f);
}

TEST_CASE("plain element types convert", "[quant]") {
  const uint16_t h[4] = {0x3C00, 0xB800, 0x0001, 0x7BFF};
  std::vector<float> y(4);
  dequantize_row(Type::F16, h, y.data(), 4);
  CHECK(y == std::vector<float>{1.0f, -0.5f, 0x1p-24f, 65504.0f});
  const uint16_t b[2] = {0x3F80, 0xC2F7};
  dequantize_row(Type::BF16, b, y.data(), 2);
  CHECK((y[0] == 1.0f && y[1] == -123.5f));
  const float f[2] = {3.25f, -0.0f};
  dequantize_row(Type::F32, f, y.data(), 2);
  CHECK((y[0] == 3.25f && std::signbit(y[1])));
  const int8_t i8[3] = {-128, 0, 127};
  dequantize_row(Type::I8, i8, y.data(), 3);
  CHECK((y[0] == -128.0f && y[2] == 127.0f));
  const int32_t i32[2] = {16777217, -7};  // 2^24 + 1 rounds to even
  dequantize_row(Type::I32, i32, y.data(), 2);
  CHECK((y[0] == 16777216.0f && y[1] == -7.0f));
  const double f64[1] = {0.1};
  dequantize_row(Type::F64, f64, y.data(), 1);
  CHECK(y[0] == 0.1f);
}

TEST_CASE("legacy 32-element formats", "[quant]") {
  SECTION("q4_0: (nibble - 8) * d") {
    BlockQ4_0 b{};
    b.d = kHalf;
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const auto y = deq(Type::Q4_0, b);
    CHECK((y[0] == -4.0f && y[8] == 0.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f));
    check_all(y, [](int e) { return e < 16 ? (e - 8) * 0.5f : (7 - (e - 16)) * 0.5f; });
  }
  SECTION("q4_1: nibble * d + m") {
    BlockQ4_1 b{};
    b.d = kQuarter;
    b.m = 0xBC00;  // -1
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (3 << 4));
    const auto y = deq(Type::Q4_1, b);
    CHECK((y[0] == -1.0f && y[15] == 2.75f && y[16] == -0.25f));
    check_all(y, [](int e) { return e < 16 ? e * 0.25f - 1.0f : -0.25f; });
  }
  SECTION("q5_0 and q5_1: fifth bit from qh") {
    BlockQ5_0 b{};
    b.d = kOne;
    const uint32_t qh = 0xAAAA5555u;  // elements 0,2,..,14 and 17,19,..,31 get +16
    std::memcpy(b.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
    const auto expect = [&](int e) { return static_cast<float>((e % 16) + (((qh >> e) & 1) ? 16 : 0) - 16); };
    const auto y = deq(Type::Q5_0, b);
    CHECK((y[0] == 0.0f && y[1] == -15.0f && y[16] == -16.0f && y[17] == 1.0f && y[31] == 15.0f));
    check_all(y, expect);

    BlockQ5_1 b1{};
    b1.d = kHalf;
    b1.m = 0x4000;  // +2
    std::memcpy(b1.qh, &qh, 4);
    std::memcpy(b1.qs, b.qs, 16);
    const auto y1 = deq(Type::Q5_1, b1);
    CHECK((y1[0] == 10.0f && y1[1] == 2.5f && y1[31] == 17.5f));
    check_all(y1, [&](int e) { return (expect(e) + 16) * 0.5f + 2.0f; });
  }
  SECTION("q8_0: int8 * d") {
    BlockQ8_0 b{};
    b.d = kHalf;
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
    const auto y = deq(Type::Q8_0, b);
    CHECK((y[0] == -64.0f && y[16] == 0.0f && y[31] == 60.0f));
    check_all(y, [](int e) { return (e * 8 - 128) * 0.5f; });
  }
  SECTION("mxfp4: doubled E2M1 codebook times 2^(e-128)") {
    BlockMXFP4 b{};
    b.e = 129;  // 2
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const float code[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const auto y = deq(Type::MXFP4, b);
    CHECK((y[7] == 24.0f && y[15] == -24.0f && y[16] == -24.0f));
    check_all(y, [&](int e) { return 2.0f * (e < 16 ? code[e] : code[15 - (e - 16)]); });
  }
  SECTION("iq4_nl: non-linear codebook times d") {
    BlockIQ4_NL b{};
    b.d = kOne;
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const float kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    check_all(deq(Type::IQ4_NL, b), [&](int e) { return e < 16 ? kv[e] : kv[15 - (e - 16)]; });
  }
}

TEST_CASE("k-quants", "[quant]") {
  SECTION("q2_K: d * scale * q - dmin * min, 16 sub-blocks") {
    BlockQ2_K b{};
    b.d = kOne;
    b.dmin = kHalf;
    for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<uint8_t>(((k + 1) & 15) | (1 << 4));
    std::memset(b.qs, 0xE4, sizeof b.qs);  // 2-bit fields 0,1,2,3 at shifts 0,2,4,6
    const auto y = deq(Type::Q2_K, b);
    CHECK((y[0] == -0.5f && y[32] == 2.5f && y[100] == 20.5f && y[170] == 10.5f && y[200] == 25.5f && y[255] == -0.5f));
    // Element e: sub-block e / 16, quant = 2-bit field (e % 128) / 32.
    check_all(y, [](int e) { return static_cast<float>(((e / 16 + 1) & 15) * ((e % 128) / 32)) - 0.5f; });
  }
  SECTION("q3_K: signed 6-bit scales, hmask bit clear subtracts 4") {
    BlockQ3_K b{};
    b.d = kOne;
    std::memset(b.hmask, 0xFF, sizeof b.hmask);
    b.hmask[5] = 0xFE;   // element 5 (group 0, shift 0)
    b.hmask[20] = 0x7F;  // element 244 (group 1, shift 6)
    std::memset(b.qs, 0xE4, sizeof b.qs);
    // Sub-block k has 6-bit scale 24 + k, i.e. k - 8 after the -32 offset.
    const uint8_t sc[12] = {0x08, 0x19, 0x2A, 0x3B, 0x4C, 0x5D, 0x6E, 0x7F, 0xA5, 0xA5, 0xA5, 0xA5};
    std::memcpy(b.scales, sc, 12);
    const auto y = deq(Type::Q3_K, b);
    CHECK((y[5] == 32.0f && y[6] == 0.0f && y[40] == -6.0f && y[200] == 8.0f && y[244] == -7.0f));
    check_all(y, [](int e) {
      const int q = (e % 128) / 32 - ((e == 5 || e == 244) ? 4 : 0);
      return static_cast<float>((e / 16 - 8) * q);
    });
  }

  // Q4_K/Q5_K scales: sub-block j has scale 1..4 (j < 4) / 60..63, min 0..3 / 36..39.
  const uint8_t k4_scales[12] = {0xC1, 0xC2, 0xC3, 0xC4, 0x80, 0x81, 0x82, 0x83, 0x4C, 0x5D, 0x6E, 0x7F};
  const int sub_scale[8] = {1, 2, 3, 4, 60, 61, 62, 63};
  const int sub_min[8] = {0, 1, 2, 3, 36, 37, 38, 39};
  // 64-element chunk c: sub-block 2c uses low nibbles of qs[32c..], 2c+1 the high ones.
  const auto k4_quant = [](int e) {
    const int byte = 32 * (e / 64) + e % 32;  // qs[i] = i below
    return (e % 64) < 32 ? (byte & 15) : (byte >> 4);
  };
  SECTION("q4_K: 6-bit scales and mins") {
    BlockQ4_K b{};
    b.d = kOne;
    b.dmin = kOne;
    std::memcpy(b.scales, k4_scales, 12);
    for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i);
    const auto y = deq(Type::Q4_K, b);
    CHECK((y[0] == 0.0f && y[5] == 5.0f && y[33] == -1.0f && y[81] == 1.0f && y[130] == 84.0f && y[200] == 458.0f &&
           y[255] == 402.0f));
    check_all(y, [&](int e) { return static_cast<float>(sub_scale[e / 32] * k4_quant(e) - sub_min[e / 32]); });
  }
  SECTION("q5_K: fifth bit from qh") {
    BlockQ5_K b{};
    b.d = kOne;
    b.dmin = kOne;
    std::memcpy(b.scales, k4_scales, 12);
    for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>(i);
    b.qh[3] = 0x01;  // element 3 (sub-block 0)
    b.qh[4] = 0x80;  // element 228 (sub-block 7)
    const auto y = deq(Type::Q5_K, b);
    CHECK((y[3] == 19.0f && y[228] == 1347.0f));
    check_all(y, [&](int e) {
      const int q = k4_quant(e) + ((e == 3 || e == 228) ? 16 : 0);
      return static_cast<float>(sub_scale[e / 32] * q - sub_min[e / 32]);
    });
  }
  SECTION("q6_K: 6-bit quants minus 32, int8 scales") {
    BlockQ6_K b{};
    b.d = kHalf;
    for (int i = 0; i < 128; ++i) b.ql[i] = static_cast<uint8_t>(i);
    b.qh[0] = 0xE4;  // top bits 0,1,2,3 for elements 0, 32, 64, 96
    for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(k - 8);
    const auto y = deq(Type::Q6_K, b);
    CHECK((y[0] == 128.0f && y[32] == 48.0f && y[64] == 0.0f && y[96] == -18.0f && y[129] == 0.0f && y[255] == -87.5f));
    check_all(y, [](int e) {
      const int n = e / 128, quarter = (e % 128) / 32, l = e % 32;
      const int byte = 64 * n + l + (quarter % 2) * 32;  // ql[i] = i
      const int lo = quarter < 2 ? (byte & 15) : (byte >> 4);
      const int hi = (e < 128 && l == 0) ? quarter : 0;
      const int scale = 8 * n + l / 16 + 2 * quarter - 8;
      return 0.5f * static_cast<float>(scale) * static_cast<float>((lo | (hi << 4)) - 32);
    });
  }
  SECTION("q8_K: f32 d") {
    BlockQ8_K b{};
    b.d = 0.25f;
    for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(j - 128);
    check_all(deq(Type::Q8_K, b), [](int e) { return (e - 128) * 0.25f; });
  }
  SECTION("tq1_0: base-3 digits") {
    BlockTQ1_0 b{};
    b.d = kHalf;
    std::memset(b.qs, 128, sizeof b.qs);  // 128 * 3^n mod 256 = 128: every trit is 1 (value 0)
    std::memset(b.qh, 128, sizeof b.qh);
    b.qs[0] = 188;   // trits 2,0,1,2,1 -> elements 0, 32, 64, 96, 128
    b.qs[40] = 188;  // 16-byte run: elements 168, 184, 200, 216, 232
    b.qh[1] = 188;   // trits 2,0,1,2 -> elements 241, 245, 249, 253
    const auto y = deq(Type::TQ1_0, b);
    const float t[5] = {0.5f, -0.5f, 0.0f, 0.5f, 0.0f};
    std::vector<float> expected(256, 0.0f);
    for (int n = 0; n < 5; ++n) expected[32 * n] = expected[168 + 16 * n] = t[n];
    for (int n = 0; n < 4; ++n) expected[241 + 4 * n] = t[n];
    CHECK(y == expected);
  }
  SECTION("tq2_0: 2-bit codes minus 1") {
    BlockTQ2_0 b{};
    b.d = kHalf;
    std::memset(b.qs, 0x55, sizeof b.qs);  // code 1 -> 0
    b.qs[0] = 0x1B;                        // codes 3,2,1,0 -> elements 0, 32, 64, 96
    b.qs[33] = 0x1B;                       // elements 129, 161, 193, 225
    const auto y = deq(Type::TQ2_0, b);
    std::vector<float> expected(256, 0.0f);
    for (int base : {0, 129})
      for (int l = 0; l < 4; ++l) expected[base + 32 * l] = 0.5f * static_cast<float>(2 - l);
    CHECK(y == expected);
  }
}

TEST_CASE("i-quants", "[quant]") {
  SECTION("iq2_xxs") {
    BlockIQ2_XXS b{};
    b.d = kOne;
    const uint32_t aux[2] = {0xFF020100u, (3u << 28) | (127u << 21) | 1u};  // idx 0,1,2,255; scale 3
    std::memcpy(b.qs, aux, 8);
    const auto y = deq(Type::IQ2_XXS, b);
    // db = (0.5 + 3) / 4 = 0.875; sign index 1 = bits 0 and 7; group 3 all negative.
    CHECK((y[0] == -7.0f && y[1] == 7.0f && y[7] == -7.0f && y[8] == 37.625f && y[9] == 7.0f));
    // Entry 255 is 0x2b2b2b1908081908: bytes 8, 25, 8, 8, 25, 43, 43, 43.
    CHECK((y[24] == -7.0f && y[25] == -21.875f && y[28] == -21.875f && y[29] == -37.625f && y[31] == -37.625f));
    CHECK((y[32] == 1.0f && y[255] == 1.0f));  // scale 0: 0.125 * 8
    CHECK(y[16] == 0.875f * grid_byte(iq2xxs_grid[2], 0));
  }
  SECTION("iq2_xs") {
    BlockIQ2_XS b{};
    b.d = kOne;
    b.scales[0] = 0x31;  // 0.375 for groups 0-1, 0.875 for groups 2-3
    b.qs[0] = 1 | (1 << 9);
    b.qs[2] = static_cast<uint16_t>(511 | (127 << 9));
    const auto y = deq(Type::IQ2_XS, b);
    CHECK((y[0] == -16.125f && y[1] == 3.0f && y[7] == -3.0f && y[8] == 3.0f));
    CHECK((y[16] == -37.625f && y[23] == -37.625f && y[24] == 7.0f && y[40] == 1.0f));
  }
  SECTION("iq2_s") {
    BlockIQ2_S b{};
    b.d = kOne;
    b.scales[0] = 0x31;
    b.qs[0] = 1;
    b.qs[3] = 0xFF;
    b.qh[0] = 0xC0;  // group 3 index += 0x300 -> 1023
    b.qs[32] = 0x81;
    b.qs[35] = 0xFF;  // sign bytes of groups 0 and 3
    const auto y = deq(Type::IQ2_S, b);
    CHECK((y[0] == -16.125f && y[1] == 3.0f && y[7] == -3.0f && y[8] == 3.0f && y[16] == 7.0f));
    CHECK((y[24] == -37.625f && y[31] == -37.625f && y[32] == 1.0f));
  }
  SECTION("iq3_xxs") {
    BlockIQ3_XXS b{};
    b.d = kOne;
    b.qs[0] = 1;
    b.qs[1] = 255;
    const uint32_t aux = (1u << 28) | (127u << 21) | 1u;  // db = 0.75
    std::memcpy(b.qs + 64, &aux, 4);
    const auto y = deq(Type::IQ3_XXS, b);
    CHECK((y[0] == -15.0f && y[1] == 3.0f && y[4] == 3.0f && y[5] == 21.0f && y[6] == 39.0f && y[7] == -46.5f));
    CHECK((y[24] == -3.0f && y[31] == -3.0f && y[32] == 1.0f));
  }
  SECTION("iq3_s") {
    BlockIQ3_S b{};
    b.d = kOne;
    b.scales[0] = 0x21;  // db 3 for values 0-31, 5 for 32-63
    b.qs[0] = 1;
    b.qs[1] = 255;
    b.qh[0] = 0x02;  // second index of group 0 += 256 -> 511
    b.signs[0] = 0x81;
    const auto y = deq(Type::IQ3_S, b);
    CHECK((y[0] == -9.0f && y[1] == 3.0f && y[4] == 3.0f && y[6] == 45.0f && y[7] == -45.0f));
    CHECK((y[8] == 3.0f && y[32] == 5.0f && y[64] == 1.0f));
  }
  SECTION("iq1_s") {
    BlockIQ1_S b{};
    b.d = kOne;
    b.qh[0] = static_cast<uint16_t>((2 << 12) | 0x8000 | (7 << 9));  // dl 5, delta -1/8, group 3 idx + 0x700
    b.qs[0] = 1;
    b.qs[2] = 2;
    b.qs[3] = 255;
    const auto y = deq(Type::IQ1_S, b);
    CHECK((y[0] == 4.375f && y[1] == -5.625f && y[8] == -5.625f && y[16] == -0.625f && y[18] == -5.625f));
    CHECK((y[24] == 4.375f && y[31] == 4.375f && y[32] == -0.875f));
  }
  SECTION("iq1_m") {
    BlockIQ1_M b{};
    // d = 1.0 (0x3C00) spread over the top nibbles; sub-scales 1,2 (ib 0) and 7,0 (ib 1).
    const uint16_t sc[4] = {0x01D1, 0x0000, 0xC000, 0x3000};
    std::memcpy(b.scales, sc, 8);
    b.qs[0] = 1;
    b.qs[1] = 255;
    b.qh[0] = 0x78;  // group 0: delta -; group 1: idx + 0x700, delta +
    b.qh[1] = 0x80;  // group 3: delta -
    const auto y = deq(Type::IQ1_M, b);
    CHECK((y[0] == 2.625f && y[1] == -3.375f && y[8] == 3.375f && y[16] == -4.375f && y[24] == -5.625f));
    CHECK((y[32] == -13.125f && y[48] == -0.875f && y[64] == -0.875f && y[255] == -0.875f));
  }
  SECTION("iq4_xs") {
    BlockIQ4_XS b{};
    b.d = kHalf;
    const uint8_t sl[4] = {0xDC, 0xFE, 0x10, 0x32};  // 6-bit scales 28..35: ib - 4
    std::memcpy(b.scales_l, sl, 4);
    b.scales_h = 0xAA55;
    std::memset(b.qs, 0xF8, sizeof b.qs);  // codes 8 (1) and 15 (113)
    check_all(deq(Type::IQ4_XS, b),
              [](int e) { return 0.5f * static_cast<float>(e / 32 - 4) * (e % 32 < 16 ? 1 : 113); });
  }
}

TEST_CASE("dequantize_row rejects bad input", "[quant]") {
  std::vector<uint8_t> buf(64);
  std::vector<float> y(64);
  CHECK_THROWS_AS(dequantize_row(Type::Q4_0, buf.data(), y.data(), 31), nextlm::Error);
  try {
    dequantize_row(Type::Q8_1, buf.data(), y.data(), 32);
    FAIL("expected an exception");
  } catch (const nextlm::Error& e) {
    CHECK(e.code() == nextlm::ErrorCode::kUnsupported);
    CHECK(std::string(e.what()).find("q8_1") != std::string::npos);
  }
}

TEST_CASE("random blocks are valid and of the requested magnitude", "[quant]") {
  constexpr int64_t n = 8192;
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeInfo* ti = type_info(id);
    if (ti == nullptr || !ti->can_dequantize) continue;
    for (float scale : {0.05f, 1.0f, 300.0f}) {
      INFO(ti->name << " scale " << scale);
      const bool integer =
          ti->type == Type::I8 || ti->type == Type::I16 || ti->type == Type::I32 || ti->type == Type::I64;
      if (integer && scale < 1.0f) continue;  // rounds to zero
      nextlm::util::Rng rng(42 + id);
      std::vector<uint8_t> data(row_bytes(ti->type, n));
      fill_random_row(ti->type, rng, data.data(), n, scale);
      std::vector<float> y(n);
      dequantize_row(ti->type, data.data(), y.data(), n);
      double max_abs = 0, sum = 0;
      int nonfinite = 0;
      for (float v : y) {
        nonfinite += !std::isfinite(v);
        max_abs = std::max(max_abs, static_cast<double>(std::fabs(v)));
        sum += v;
      }
      REQUIRE(nonfinite == 0);
      CHECK(max_abs <= 1.02 * scale + (integer ? 0.5 : 0.0));
      CHECK(max_abs >= 0.3 * scale);
      CHECK(std::fabs(sum / n) <= 0.1 * scale);

      // Deterministic given the seed.
      nextlm::util::Rng rng2(42 + id);
      std::vector<uint8_t> again(data.size());
      fill_random_row(ti->type, rng2, again.data(), n, scale);
      CHECK(again == data);
    }
  }
  nextlm::util::Rng rng(1);
  std::vector<uint8_t> buf(1024);
  CHECK_THROWS_AS(fill_random_row(Type::Q4_K, rng, buf.data(), 100, 1.0f), nextlm::Error);
  CHECK_THROWS_AS(fill_random_row(Type::Q4_0, rng, buf.data(), 32, 0.0f), nextlm::Error);
  // Extreme scales stay finite.
  std::vector<uint8_t> big(row_bytes(Type::F16, 256));
  fill_random_row(Type::F16, rng, big.data(), 256, 1e30f);
  std::vector<float> y(256);
  dequantize_row(Type::F16, big.data(), y.data(), 256);
  for (float v : y) CHECK(std::isfinite(v));
}
