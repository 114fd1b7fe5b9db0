// Attention over a typed KV cache: rows are stored in the cache type
// (f32/f16/bf16/q8_0/q4_0, blocks along the head dimension) and read back
// with an online softmax, so no n_ctx x n_ctx buffer exists.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "quant/dequant.h"
#include "quant/quantize.h"
#include "runtime/cpu/cpu_backend.h"

namespace nextlm::runtime {

namespace {
// A cache row as f32: in place for f32 caches, else dequantized into tmp.
const float* as_f32(quant::Type type, bool is_f32, const uint8_t* row, std::vector<float>& tmp) {
  if (is_f32) return reinterpret_cast<const float*>(row);
  quant::dequantize_row(type, row, tmp.data(), static_cast<int64_t>(tmp.size()));
  return tmp.data();
}
}  // namespace

void CpuBackend::kv_store(const KvLayerView& kv, const float* k, const float* v, int64_t n_tokens,
                          const AttentionShape& s, const int32_t* positions) {
  auto* kb = static_cast<uint8_t*>(kv.k);
  auto* vb = static_cast<uint8_t*>(kv.v);
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t cell = positions[t];
    for (int h = 0; h < s.n_head_kv; ++h) {
      const int64_t row = cell * s.n_head_kv + h;
      const int64_t src = (t * s.n_head_kv + h) * s.head_dim;
      quant::quantize_row(kv.k_type, k + src, kb + row * kv.k_row_bytes, s.head_dim);
      quant::quantize_row(kv.v_type, v + src, vb + row * kv.v_row_bytes, s.head_dim);
    }
  }
}

void CpuBackend::attention(const KvLayerView& kv, const float* q, int64_t n_tokens, const AttentionShape& s,
                           const int32_t* positions, float* out) {
  const int hd = s.head_dim;
  const int group = s.n_head / s.n_head_kv;
  const auto* kb = static_cast<const uint8_t*>(kv.k);
  const auto* vb = static_cast<const uint8_t*>(kv.v);
  const bool k_f32 = kv.k_type == quant::Type::F32, v_f32 = kv.v_type == quant::Type::F32;
  // One work item per (token, kv head): each cached K/V row is decoded once
  // and used by the `group` query heads that share it.
  pool_.parallel_for(n_tokens * s.n_head_kv, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> krow(hd), vrow(hd), acc(static_cast<size_t>(group) * hd), mx(group), l(group);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t = i / s.n_head_kv;
      const int kvh = static_cast<int>(i % s.n_head_kv);
      const float* q0 = q + (t * s.n_head + static_cast<int64_t>(kvh) * group) * hd;
      std::fill(mx.begin(), mx.end(), -std::numeric_limits<float>::infinity());
      std::fill(l.begin(), l.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t c = 0; c <= positions[t]; ++c) {
        const int64_t row = c * s.n_head_kv + kvh;
        const float* kr = as_f32(kv.k_type, k_f32, kb + row * kv.k_row_bytes, krow);
        const float* vr = as_f32(kv.v_type, v_f32, vb + row * kv.v_row_bytes, vrow);
        for (int g = 0; g < group; ++g) {
          const float score = cpu::dot(q0 + static_cast<int64_t>(g) * hd, kr, hd) * s.scale;
          float* a = acc.data() + static_cast<int64_t>(g) * hd;
          // Online softmax: rescale the running sum when the maximum grows.
          if (score > mx[g]) {
            const float r = std::exp(mx[g] - score);
            for (int j = 0; j < hd; ++j) a[j] *= r;
            l[g] *= r;
            mx[g] = score;
          }
          const float pg = std::exp(score - mx[g]);
          l[g] += pg;
          for (int j = 0; j < hd; ++j) a[j] += pg * vr[j];
        }
      }
      for (int g = 0; g < group; ++g) {
        float* o = out + (t * s.n_head + static_cast<int64_t>(kvh) * group + g) * hd;
        const float* a = acc.data() + static_cast<int64_t>(g) * hd;
        for (int j = 0; j < hd; ++j) o[j] = a[j] / l[g];
      }
    }
  });
}

}  // namespace nextlm::runtime
