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

namespace {
// Query heads [kvh * group, (kvh + 1) * group) of tokens t0..t0+nt against
// the cached rows of kv head kvh up to each token's position. Each K/V row is
// decoded once for the whole block; every (token, head) sees the rows in the
// same order with the same operations as alone, so blocking changes no bit.
struct AttendBlock {
  const KvLayerView* kv;
  const AttentionShape* s;
  const float* q;            // all query rows of the batch
  const int32_t* positions;  // per token
  int64_t t0, nt;
  int kvh;
  float* out;
};

NLM_CPU_CLONES void attend_block(const AttendBlock& x, float* krow, float* vrow, float* acc, float* mx, float* l) {
  const KvLayerView& kv = *x.kv;
  const AttentionShape& s = *x.s;
  const int hd = s.head_dim, group = s.n_head / s.n_head_kv;
  const auto* kb = static_cast<const uint8_t*>(kv.k);
  const auto* vb = static_cast<const uint8_t*>(kv.v);
  const bool k_f32 = kv.k_type == quant::Type::F32, v_f32 = kv.v_type == quant::Type::F32;
  const int64_t heads = x.nt * group;  // (token, head) pairs of the block, token-major
  int64_t last = 0;
  for (int64_t t = 0; t < x.nt; ++t) last = std::max<int64_t>(last, x.positions[x.t0 + t]);
  for (int64_t h = 0; h < heads; ++h) {
    mx[h] = -std::numeric_limits<float>::infinity();
    l[h] = 0.0f;
  }
  std::fill(acc, acc + heads * hd, 0.0f);
  for (int64_t c = 0; c <= last; ++c) {
    const int64_t row = c * s.n_head_kv + x.kvh;
    const float* kr = k_f32 ? reinterpret_cast<const float*>(kb + row * kv.k_row_bytes) : krow;
    const float* vr = v_f32 ? reinterpret_cast<const float*>(vb + row * kv.v_row_bytes) : vrow;
    if (!k_f32) quant::dequantize_row(kv.k_type, kb + row * kv.k_row_bytes, krow, hd);
    if (!v_f32) quant::dequantize_row(kv.v_type, vb + row * kv.v_row_bytes, vrow, hd);
    for (int64_t t = 0; t < x.nt; ++t) {
      if (c > x.positions[x.t0 + t]) continue;
      const float* q0 = x.q + ((x.t0 + t) * s.n_head + static_cast<int64_t>(x.kvh) * group) * hd;
      for (int g = 0; g < group; ++g) {
        const int64_t h = t * group + g;
        const float score = cpu::dot(q0 + static_cast<int64_t>(g) * hd, kr, hd) * s.scale;
        float* a = acc + h * hd;
        // Online softmax: rescale the running sum when the maximum grows.
        if (score > mx[h]) {
          const float r = std::exp(mx[h] - score);
          for (int j = 0; j < hd; ++j) a[j] *= r;
          l[h] *= r;
          mx[h] = score;
        }
        const float pg = std::exp(score - mx[h]);
        l[h] += pg;
        for (int j = 0; j < hd; ++j) a[j] += pg * vr[j];
      }
    }
  }
  for (int64_t t = 0; t < x.nt; ++t) {
    for (int g = 0; g < group; ++g) {
      const int64_t h = t * group + g;
      float* o = x.out + ((x.t0 + t) * s.n_head + static_cast<int64_t>(x.kvh) * group + g) * hd;
      const float* a = acc + h * hd;
      for (int j = 0; j < hd; ++j) o[j] = a[j] / l[h];
    }
  }
}
}  // namespace

void CpuBackend::attention(const KvLayerView& kv, const float* q, int64_t n_tokens, const AttentionShape& s,
                           const int32_t* positions, float* out) {
  const int hd = s.head_dim;
  const int group = s.n_head / s.n_head_kv;
  // Work items: (block of up to kBlock tokens, kv head); the block's
  // accumulators (kBlock x group x head_dim floats) stay in L1/L2.
  constexpr int64_t kBlock = 4;
  const int64_t n_blocks = (n_tokens + kBlock - 1) / kBlock;
  pool_.parallel_for(n_blocks * s.n_head_kv, 1, [&](int64_t i0, int64_t i1) {
    const size_t heads = static_cast<size_t>(kBlock * group);
    std::vector<float> krow(hd), vrow(hd), acc(heads * hd), mx(heads), l(heads);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / s.n_head_kv, t0 = b * kBlock;
      const AttendBlock x{&kv, &s, q, positions, t0, std::min(kBlock, n_tokens - t0), static_cast<int>(i % s.n_head_kv), out};
      attend_block(x, krow.data(), vrow.data(), acc.data(), mx.data(), l.data());
    }
  });
}

}  // namespace nextlm::runtime
