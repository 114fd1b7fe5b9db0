#include "quant/repack.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "nextlm/error.h"
#include "quant/blocks.h"
#include "quant/cpu_features.h"
#include "quant/fp16.h"

namespace nextlm::quant {

namespace {

using detail::kNibBlockBytes;
using detail::kNibD;
using detail::kNibScales;
constexpr size_t kNibCodes = 128;
constexpr int64_t kBlock = 256;

// Where element i's code lies (detail::kNibBlockBytes' layout).
size_t nib_byte(int64_t i, bool& high) {
  const int64_t m = i / 16, r = i % 16, h = r / 8, hi = (r % 8) / 4, j = r % 4;
  high = hi != 0;
  return static_cast<size_t>(64 * h + 4 * m + j);
}

void repack_iq3s(const uint8_t* src, int64_t n, uint8_t* dst) {
  // The file type's unpack gives each value v (IQ3_S's scales are copied as they are).
  DotKernels k = dot_kernels(Type::IQ3_S);
  if (!k.unpack) k = dot_kernels(Type::IQ3_S, Isa::kScalar);
  if (!k.unpack) throw Error(ErrorCode::kInternal, "repack: no IQ3_S unpack");
  int8_t q[kBlock];
  float ws[kBlock / 16], m[kBlock / 32];
  constexpr size_t in_block = sizeof(BlockIQ3_S);
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const uint8_t* s = src + b * in_block;
    uint8_t* d = dst + b * kNibBlockBytes;
    k.unpack(s, kBlock, q, ws, m);
    if (!detail::iq3s_nibble_codes_avx512(q, d)) {
      std::memset(d, 0, kNibCodes);
      for (int64_t i = 0; i < kBlock; ++i) {
        bool high = false;
        const size_t at = nib_byte(i, high);
        const auto c = static_cast<uint8_t>((q[i] + 15) / 2);
        d[at] |= high ? static_cast<uint8_t>(c << 4) : c;
      }
    }
    std::memcpy(d + kNibScales, s + offsetof(BlockIQ3_S, scales), 4);
    std::memcpy(d + kNibD, s + offsetof(BlockIQ3_S, d), 2);
  }
}

int8_t nib_value(const uint8_t* blk, int64_t i) {
  bool high = false;
  const uint8_t byte = blk[nib_byte(i, high)];
  return static_cast<int8_t>(2 * (high ? byte >> 4 : byte & 0x0F) - 15);
}

void dequant_iq3s_nib(const uint8_t* src, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const uint8_t* blk = src + b * kNibBlockBytes;
    for (int ib = 0; ib < 8; ++ib) {
      const float db = detail::nib_unit_scale(blk, ib);
      for (int e = 0; e < 32; ++e) {
        const int64_t i = 32 * ib + e;
        y[b * kBlock + i] = db * static_cast<float>(nib_value(blk, i));
      }
    }
  }
}

}  // namespace

Repack repack_for(Type t, int64_t cols) {
  static const bool enabled = [] {
    const char* env = std::getenv("NEXTLM_REPACK");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  if (!enabled || t != Type::IQ3_S || cols % kBlock != 0) return Repack::kNone;
  // Only where the repacked decode kernel exists and the integer kernels are on.
  if (repacked_dot_kernels(Repack::kIq3sNibbles).vec_dot == nullptr || dot_kernels(Type::IQ3_S).unpack == nullptr) {
    return Repack::kNone;
  }
  return Repack::kIq3sNibbles;
}

namespace {
void check_row(Repack r, int64_t n) {
  if (r != Repack::kIq3sNibbles || n % kBlock != 0) throw Error(ErrorCode::kInternal, "repack: bad row");
}
}  // namespace

size_t repacked_row_bytes(Repack r, int64_t n) {
  check_row(r, n);
  return static_cast<size_t>(n / kBlock) * kNibBlockBytes;
}

void repack_row(Repack r, const uint8_t* src, int64_t n, uint8_t* dst) {
  check_row(r, n);
  repack_iq3s(src, n, dst);
}

void dequantize_repacked_row(Repack r, const uint8_t* src, float* dst, int64_t n) {
  check_row(r, n);
  dequant_iq3s_nib(src, dst, n);
}

DotKernels repacked_dot_kernels(Repack r) {
  // Looked up per matmul (cpu::weight_kernels): made once.
  static const DotKernels nibbles = [] {
    if (active_isa() != Isa::kAvx512) return DotKernels{};
    DotKernels k = dot_kernels(Type::IQ3_S, Isa::kAvx512);
    if (k.unpack == nullptr) return DotKernels{};
    k.unpack = nullptr;
    k.vec_dot = nullptr;
    k.vec_dot_rows = nullptr;
    k.vec_dot_layout = nullptr;
    detail::add_iq3s_nibble_kernels(k);
    return k.vec_dot != nullptr && k.unpack != nullptr ? k : DotKernels{};
  }();
  return r == Repack::kIq3sNibbles ? nibbles : DotKernels{};
}

}  // namespace nextlm::quant
