// Attention over a typed KV cache: rows are stored in the cache type
// (f32/f16/bf16/q8_0/q4_0, blocks along the head dimension) and read back
// with an online softmax, so no n_ctx x n_ctx buffer exists.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "quant/dequant.h"
#include "quant/quantize.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu/cpu_math.h"

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
// the cached rows of kv head kvh up to each token's position. Keys go in
// blocks of kKeyBlock at fixed cache positions (0, 64, ...): a block's K and V
// rows are converted to f32 once for all the block's (token, head) pairs;
// each pair takes the block's scores, one rescale of its running sum to the
// block's maximum, then the weighted V rows. A pair's steps depend only on
// its own position and the fixed blocks, so a token's result has the same
// bits alone, in any batch and in decode.
constexpr int64_t kKeyBlock = 64;
using cpu::load16;
using cpu::store16;
using cpu::V16;

struct AttendBlock {
  const KvLayerView* kv;
  const AttentionShape* s;
  const float* q;            // all query rows of the batch
  const int32_t* positions;  // per token
  int64_t t0, nt;
  int kvh;
  float* out;
};

// Rows c0 .. c0 + nc of kv head kvh from a cache half (K or V) of n_cells
// cells as f32, row-major in buf.
inline void rows_f32(quant::Type type, const uint8_t* base, size_t row_bytes, int64_t n_cells, int n_head_kv, int kvh,
                     int64_t c0, int64_t nc, int hd, float* buf) {
  for (int64_t c = 0; c < nc; ++c) {
    const uint8_t* row = base + ((c0 + c) * n_head_kv + kvh) * row_bytes;
    // The rows of one kv head are every n_head_kv-th: ask for a row 8 ahead
    // (the hardware stride prefetch alone left the loads waiting on memory).
    if (c0 + c + 8 < n_cells) {
      const uint8_t* ahead = row + 8 * n_head_kv * row_bytes;
      for (size_t o = 0; o < row_bytes; o += 64) __builtin_prefetch(ahead + o);
    }
    float* dst = buf + c * hd;
    if (type == quant::Type::F32) {
      std::memcpy(dst, row, hd * sizeof(float));
    } else if (type == quant::Type::F16) {
      const auto* h = reinterpret_cast<const uint16_t*>(row);
      for (int i = 0; i < hd; ++i) dst[i] = cpu::half_to_float(h[i]);
    } else {
      quant::dequantize_row(type, row, dst, hd);
    }
  }
}

// a[0..hd) += sum over c < n of p[c] * v[c][0..hd), 64 columns at a time in registers.
inline void add_weighted_rows(const float* p, const float* v, int64_t n, int hd, float* a) {
  int j0 = 0;
  for (; j0 + 64 <= hd; j0 += 64) {
    V16 r[4];
    for (int k = 0; k < 4; ++k) load16(r[k], a + j0 + 16 * k);
    for (int64_t c = 0; c < n; ++c) {
      const float w = p[c];
      for (int k = 0; k < 4; ++k) {
        V16 x;
        load16(x, v + c * hd + j0 + 16 * k);
        r[k] += w * x;
      }
    }
    for (int k = 0; k < 4; ++k) store16(a + j0 + 16 * k, r[k]);
  }
  for (int64_t c = 0; c < n; ++c)
    for (int j = j0; j < hd; ++j) a[j] += p[c] * v[c * hd + j];
}

NLM_CPU_CLONES void attend_block(const AttendBlock& x, float* kbuf, float* vbuf, float* acc, float* mx, float* l) {
  const KvLayerView& kv = *x.kv;
  const AttentionShape& s = *x.s;
  const int hd = s.head_dim, group = s.n_head / s.n_head_kv;
  const auto* kb = static_cast<const uint8_t*>(kv.k);
  const auto* vb = static_cast<const uint8_t*>(kv.v);
  const int64_t heads = x.nt * group;  // (token, head) pairs of the block, token-major
  int64_t last = 0;
  for (int64_t t = 0; t < x.nt; ++t) last = std::max<int64_t>(last, x.positions[x.t0 + t]);
  for (int64_t h = 0; h < heads; ++h) {
    mx[h] = -std::numeric_limits<float>::infinity();
    l[h] = 0.0f;
  }
  std::fill(acc, acc + heads * hd, 0.0f);
  float p[kKeyBlock];
  for (int64_t c0 = 0; c0 <= last; c0 += kKeyBlock) {
    const int64_t nc = std::min(kKeyBlock, last + 1 - c0);
    rows_f32(kv.k_type, kb, kv.k_row_bytes, kv.n_cells, s.n_head_kv, x.kvh, c0, nc, hd, kbuf);
    rows_f32(kv.v_type, vb, kv.v_row_bytes, kv.n_cells, s.n_head_kv, x.kvh, c0, nc, hd, vbuf);
    for (int64_t t = 0; t < x.nt; ++t) {
      const int64_t valid = std::min<int64_t>(nc, x.positions[x.t0 + t] + 1 - c0);  // keys c0 .. position
      if (valid <= 0) continue;
      const float* q0 = x.q + ((x.t0 + t) * s.n_head + static_cast<int64_t>(x.kvh) * group) * hd;
      for (int g = 0; g < group; ++g) {
        const int64_t h = t * group + g;
        const float* qh = q0 + static_cast<int64_t>(g) * hd;
        float bm = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < valid; ++c) {
          p[c] = cpu::dot_f32(qh, kbuf + c * hd, hd) * s.scale;
          bm = std::max(bm, p[c]);
        }
        float* a = acc + h * hd;
        // Online softmax: rescale the running sum when the maximum grows.
        if (bm > mx[h]) {
          const float r = cpu::fast_exp(mx[h] - bm);
          for (int j = 0; j < hd; ++j) a[j] *= r;
          l[h] *= r;
          mx[h] = bm;
        }
        float sum = 0.0f;
        for (int64_t c = 0; c < valid; ++c) sum += (p[c] = cpu::fast_exp(p[c] - mx[h]));
        l[h] += sum;
        add_weighted_rows(p, vbuf, valid, hd, a);
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
  // accumulators (kBlock x group x head_dim floats) and one key block's f32
  // K and V rows stay in L2.
  constexpr int64_t kBlock = 8;
  const int64_t n_blocks = (n_tokens + kBlock - 1) / kBlock;
  pool_.parallel_for(n_blocks * s.n_head_kv, 1, [&](int64_t i0, int64_t i1) {
    const size_t heads = static_cast<size_t>(kBlock * group);
    std::vector<float> kbuf(kKeyBlock * hd), vbuf(kKeyBlock * hd), acc(heads * hd), mx(heads), l(heads);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / s.n_head_kv, t0 = b * kBlock;
      const AttendBlock x{&kv, &s, q, positions, t0, std::min(kBlock, n_tokens - t0), static_cast<int>(i % s.n_head_kv),
                          out};
      attend_block(x, kbuf.data(), vbuf.data(), acc.data(), mx.data(), l.data());
    }
  });
}

}  // namespace nextlm::runtime
