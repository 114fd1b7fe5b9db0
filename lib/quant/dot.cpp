#include "quant/dot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace nextlm::quant {

void quantize_act_q8(const float* x, int64_t n, int8_t* q, float* d, float* s) {
  static const QuantizeFn fn = [] {
    QuantizeFn f = dot_kernels(Type::Q8_0, active_isa()).quantize;
    return f ? f : dot_kernels(Type::Q8_0, Isa::kScalar).quantize;
  }();
  fn(x, n, q, d, s);
}

void quantize_act_q8k(const float* x, int64_t n, int8_t* q, float* d, float* s) {
  static const QuantizeFn fn = [] {
    QuantizeFn f = dot_kernels(Type::Q4_K, active_isa()).quantize;
    return f ? f : dot_kernels(Type::Q4_K, Isa::kScalar).quantize;
  }();
  fn(x, n, q, d, s);
}

void pack_act_tile_k(const int8_t* qx, const float* dx, int64_t n, int64_t n_tokens, int8_t* b, float* dxt,
                     float* sxt) {
  pack_act_tile(qx, dx, nullptr, n, n_tokens, b, dxt, nullptr);
  // Per block, two B tiles of the 8 unit sums B_u (row u / 4, byte token * 4 + u % 4):
  // B_u & 63, then B_u >> 6 (both fit int8; B_u = lo + 64 hi).
  auto* sums = reinterpret_cast<uint8_t*>(sxt);
  std::memset(sums, 0, static_cast<size_t>(n));
  for (int64_t k = 0; k < n_tokens; ++k)
    for (int64_t u = 0; u < n / 32; ++u) {
      const int s = code_sum32(qx + k * n + 32 * u);
      uint8_t* t = sums + 256 * (u / 8) + 64 * ((u % 8) / 4) + 4 * k + u % 4;
      t[0] = static_cast<uint8_t>(s & 63);
      t[128] = static_cast<uint8_t>(static_cast<int8_t>(s >> 6));
    }
}

void pack_act_tile(const int8_t* qx, const float* dx, const float* sx, int64_t n, int64_t n_tokens, int8_t* b,
                   float* dxt, float* sxt) {
  std::memset(b, 0, static_cast<size_t>(n * kTileTokens));
  std::memset(dxt, 0, static_cast<size_t>(n / 32 * kTileTokens) * sizeof(float));
  if (sx) std::memset(sxt, 0, static_cast<size_t>(n / 32 * kTileTokens) * sizeof(float));
  for (int64_t k = 0; k < n_tokens; ++k) {
    for (int64_t i = 0; i < n / 4; ++i) std::memcpy(b + (i * kTileTokens + k) * 4, qx + k * n + 4 * i, 4);
    for (int64_t j = 0; j < n / 32; ++j) {
      dxt[j * kTileTokens + k] = dx[k * (n / 32) + j];
      if (sx) sxt[j * kTileTokens + k] = sx[k * (n / 32) + j];
    }
  }
}

DotKernels dot_kernels(Type t, Isa isa) {
  if (!isa_supported(isa)) return {};
  switch (isa) {
    case Isa::kScalar:
      return detail::dot_kernels_scalar(t);
    case Isa::kAvx2:
      return detail::dot_kernels_avx2(t);
    case Isa::kAvx512: {
      DotKernels k = detail::dot_kernels_avx512(t);
      if (cpu_features().avx512vbmi) detail::add_vbmi_kernels(t, k);
      return k;
    }
  }
  return {};
}

DotKernels dot_kernels(Type t) {
  static const std::array<DotKernels, 64> table = [] {
    std::array<DotKernels, 64> a{};
    // NEXTLM_INT_DOT=0 turns the integer kernels off (the f32 path then runs).
    if (const char* env = std::getenv("NEXTLM_INT_DOT"); env && std::strcmp(env, "0") == 0) return a;
    for (uint32_t i = 0; i < a.size(); ++i) a[i] = dot_kernels(static_cast<Type>(i), active_isa());
    return a;
  }();
  const auto i = static_cast<uint32_t>(t);
  return i < table.size() ? table[i] : DotKernels{};
}

}  // namespace nextlm::quant
