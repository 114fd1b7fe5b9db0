// The typed KV cache on the GPU: kv_store quantizes rows into the cache
// (f32/f16/bf16/q8_0/q4_0, byte-identical to lib/quant/quantize.cpp), and
// attention reads the cache directly with an online softmax.
//
// Attention: one thread block of 8 warps per (token, query head); warp w
// takes cells w, w + 8, ... of [0, positions[t]] with its own running max,
// sum and output (lane l holds dims l, l + 32, ...), and the 8 partial
// results are merged at the end. Cache elements are decoded one at a time
// with the same arithmetic as the shared block decoders (decode_q8_0,
// decode_q4_0, fp16_to_fp32, bf16_to_fp32), so the values are bit-identical.
// Split-K (flash-decoding): when there are too few (token, head) blocks to
// fill the GPU (decode) and the context is long, the cells of each token are
// cut into up to 32 splits, one thread block each (blockIdx.y), whose
// unnormalised partials and (max, sum) go to scratch and are merged by
// attention_combine_kernel.
// Not yet: a tensor-core flash-attention kernel for prefill.
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_status.h"
#include "nextlm/error.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/types.h"

namespace nextlm::cuda {

namespace {

using quant::Type;

// ---------------------------------------------------------------------------
// Quantization, as lib/quant/quantize.cpp and fp16.h do it on the host.

__device__ uint16_t f32_to_f16_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  if (ax >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (ax < 0x38800000u) {
    if (ax < 0x33000000u) return sign;
    const uint32_t e = ax >> 23;
    const uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = ax - 0x38000000u;
  r += 0x0FFFu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

__device__ uint16_t f32_to_bf16_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ void store_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xFF);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Quantizes the 32 floats at x into one block at dst (q8_0 or q4_0).
__device__ void quantize_q8_0_block(const float* x, uint8_t* dst) {
  float amax = 0.0f;
  for (int j = 0; j < quant::QK8_0; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_u16(dst + offsetof(quant::BlockQ8_0, d), f32_to_f16_bits(d));
  uint8_t* qs = dst + offsetof(quant::BlockQ8_0, qs);
  for (int j = 0; j < quant::QK8_0; ++j) {
    qs[j] = static_cast<uint8_t>(static_cast<int8_t>(roundf(__fmul_rn(x[j], id))));
  }
}

__device__ void quantize_q4_0_block(const float* x, uint8_t* dst) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < quant::QK4_0; ++j) {
    if (amax < fabsf(x[j])) {
      amax = fabsf(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  store_u16(dst + offsetof(quant::BlockQ4_0, d), f32_to_f16_bits(d));
  uint8_t* qs = dst + offsetof(quant::BlockQ4_0, qs);
  for (int j = 0; j < quant::QK4_0 / 2; ++j) {
    // __fmul_rn: no FMA contraction of x * id + 8.5 (the host rounds twice).
    const float x0 = __fmul_rn(x[j], id), x1 = __fmul_rn(x[quant::QK4_0 / 2 + j], id);
    const int xi0 = min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
    const int xi1 = min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
    qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
  }
}

// One thread per 32 elements of a row: rows are [t][kv-head] of head_dim.
__global__ void kv_store_kernel(int type, const float* src, uint8_t* dst, size_t row_bytes, int64_t n_tokens,
                                int n_head_kv, int head_dim, const int32_t* positions) {
  const int chunks = head_dim / 32;
  const int64_t total = n_tokens * n_head_kv * chunks;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int ch = static_cast<int>(idx % chunks);
    const int64_t th = idx / chunks;  // t * n_head_kv + h
    const int64_t t = th / n_head_kv;
    const int h = static_cast<int>(th % n_head_kv);
    const float* x = src + th * head_dim + ch * 32;
    uint8_t* row = dst + (static_cast<int64_t>(positions[t]) * n_head_kv + h) * row_bytes;
    switch (static_cast<Type>(type)) {
      case Type::F32:
        for (int j = 0; j < 32; ++j) reinterpret_cast<float*>(row)[ch * 32 + j] = x[j];
        break;
      case Type::F16:
        for (int j = 0; j < 32; ++j) store_u16(row + 2 * (ch * 32 + j), f32_to_f16_bits(x[j]));
        break;
      case Type::BF16:
        for (int j = 0; j < 32; ++j) store_u16(row + 2 * (ch * 32 + j), f32_to_bf16_bits(x[j]));
        break;
      case Type::Q8_0:
        quantize_q8_0_block(x, row + ch * sizeof(quant::BlockQ8_0));
        break;
      case Type::Q4_0:
        quantize_q4_0_block(x, row + ch * sizeof(quant::BlockQ4_0));
        break;
      default:
        break;
    }
  }
}

// Plain types with head_dim not a multiple of 32: one thread per element.
__global__ void kv_store_plain_kernel(int type, const float* src, uint8_t* dst, size_t row_bytes, int64_t n_tokens,
                                      int n_head_kv, int head_dim, const int32_t* positions) {
  const int64_t total = n_tokens * n_head_kv * head_dim;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int j = static_cast<int>(idx % head_dim);
    const int64_t th = idx / head_dim;
    const int64_t t = th / n_head_kv;
    const int h = static_cast<int>(th % n_head_kv);
    uint8_t* row = dst + (static_cast<int64_t>(positions[t]) * n_head_kv + h) * row_bytes;
    const float x = src[idx];
    if (type == static_cast<int>(Type::F32)) {
      reinterpret_cast<float*>(row)[j] = x;
    } else if (type == static_cast<int>(Type::F16)) {
      store_u16(row + 2 * j, f32_to_f16_bits(x));
    } else {
      store_u16(row + 2 * j, f32_to_bf16_bits(x));
    }
  }
}

// ---------------------------------------------------------------------------
// Attention.

// Element j of a cache row (same arithmetic as the block decoders).
__device__ __forceinline__ float cache_elem(int type, const uint8_t* row, int j) {
  switch (static_cast<Type>(type)) {
    case Type::F32:
      return reinterpret_cast<const float*>(row)[j];
    case Type::F16:
      return quant::fp16_to_fp32(reinterpret_cast<const uint16_t*>(row)[j]);
    case Type::BF16:
      return quant::bf16_to_fp32(reinterpret_cast<const uint16_t*>(row)[j]);
    case Type::Q8_0: {
      const uint8_t* blk = row + (j / quant::QK8_0) * sizeof(quant::BlockQ8_0);
      const float d = quant::fp16_to_fp32(quant::load_u16(blk + offsetof(quant::BlockQ8_0, d)));
      const auto q = static_cast<int8_t>(blk[offsetof(quant::BlockQ8_0, qs) + j % quant::QK8_0]);
      return static_cast<float>(q) * d;
    }
    case Type::Q4_0: {
      const uint8_t* blk = row + (j / quant::QK4_0) * sizeof(quant::BlockQ4_0);
      const float d = quant::fp16_to_fp32(quant::load_u16(blk + offsetof(quant::BlockQ4_0, d)));
      const int jj = j % quant::QK4_0;
      const uint8_t* qs = blk + offsetof(quant::BlockQ4_0, qs);
      const int x = jj < quant::QK4_0 / 2 ? (qs[jj] & 0x0F) - 8 : (qs[jj - quant::QK4_0 / 2] >> 4) - 8;
      return static_cast<float>(x) * d;
    }
    default:
      return 0.0f;
  }
}

constexpr int kAttnWarps = 8;

struct AttnArgs {
  const uint8_t* k;
  const uint8_t* v;
  int k_type, v_type;
  size_t k_row_bytes, v_row_bytes;
  const float* q;
  float* out;
  const int32_t* positions;
  int n_head, n_head_kv, head_dim;
  float scale;
  float* split_acc;  // [n_tokens * n_head][n_split][head_dim] when split
  float* split_ml;   // [n_tokens * n_head][n_split][2]: (max, sum)
};

template <int kCols>  // dims per lane: ceil(head_dim / 32)
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(AttnArgs a) {
  __shared__ float part_m[kAttnWarps], part_l[kAttnWarps];
  extern __shared__ float part_acc[];  // [kAttnWarps][head_dim]
  const int64_t i = blockIdx.x;        // t * n_head + h
  const int64_t t = i / a.n_head;
  const int h = static_cast<int>(i % a.n_head);
  const int kvh = h / (a.n_head / a.n_head_kv);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int hd = a.head_dim;
  const float* qi = a.q + i * hd;
  float qv[kCols], acc[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int j = c * 32 + lane;
    qv[c] = j < hd ? qi[j] : 0.0f;
    acc[c] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int64_t n_cells = static_cast<int64_t>(a.positions[t]) + 1;
  // Split-K: thread block (i, y) takes cells [c0, c1) of the gridDim.y splits.
  const int64_t chunk = (n_cells + gridDim.y - 1) / gridDim.y;
  const int64_t c0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t c1 = min(n_cells, c0 + chunk);
  for (int64_t cell = c0 + warp; cell < c1; cell += kAttnWarps) {
    const int64_t row = cell * a.n_head_kv + kvh;
    const uint8_t* kr = a.k + row * a.k_row_bytes;
    const uint8_t* vr = a.v + row * a.v_row_bytes;
    float dot = 0.0f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = c * 32 + lane;
      if (j < hd) dot += qv[c] * cache_elem(a.k_type, kr, j);
    }
    const float score = kern::warp_sum(dot) * a.scale;
    if (score > m) {
      const float r = expf(m - score);
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[c] *= r;
      l *= r;
      m = score;
    }
    const float p = expf(score - m);
    l += p;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int j = c * 32 + lane;
      if (j < hd) acc[c] += p * cache_elem(a.v_type, vr, j);
    }
  }
  if (lane == 0) {
    part_m[warp] = m;
    part_l[warp] = l;
  }
#pragma unroll
  for (int c = 0; c < kCols; ++c) {
    const int j = c * 32 + lane;
    if (j < hd) part_acc[warp * hd + j] = acc[c];
  }
  __syncthreads();
  float mx = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) mx = fmaxf(mx, part_m[w]);
  float sum = 0.0f, f[kAttnWarps];
#pragma unroll
  for (int w = 0; w < kAttnWarps; ++w) {
    f[w] = part_l[w] > 0.0f ? expf(part_m[w] - mx) : 0.0f;
    sum += part_l[w] * f[w];
  }
  if (gridDim.y == 1) {
    float* o = a.out + i * hd;
    for (int j = threadIdx.x; j < hd; j += blockDim.x) {
      float v = 0.0f;
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w) v += part_acc[w * hd + j] * f[w];
      o[j] = v / sum;
    }
    return;
  }
  // Split: the unnormalised partial and its (max, sum) go to a.split_* for
  // attention_combine_kernel (an empty split has sum 0).
  const int64_t pi = i * gridDim.y + blockIdx.y;
  float* o = a.split_acc + pi * hd;
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) v += part_acc[w * hd + j] * f[w];
    o[j] = v;
  }
  if (threadIdx.x == 0) {
    a.split_ml[2 * pi] = mx;
    a.split_ml[2 * pi + 1] = sum;
  }
}

// Merges the n_split partials of each (token, head): one block per pair.
__global__ void attention_combine_kernel(const float* split_acc, const float* split_ml, int n_split, int hd,
                                         float* out) {
  const int64_t i = blockIdx.x;
  const float* ml = split_ml + i * n_split * 2;
  float mx = -INFINITY;
  for (int y = 0; y < n_split; ++y) {
    if (ml[2 * y + 1] > 0.0f) mx = fmaxf(mx, ml[2 * y]);
  }
  float sum = 0.0f;
  for (int y = 0; y < n_split; ++y) {
    if (ml[2 * y + 1] > 0.0f) sum += ml[2 * y + 1] * expf(ml[2 * y] - mx);
  }
  const float* acc = split_acc + i * n_split * hd;
  for (int j = threadIdx.x; j < hd; j += blockDim.x) {
    float v = 0.0f;
    for (int y = 0; y < n_split; ++y) {
      if (ml[2 * y + 1] > 0.0f) v += acc[static_cast<int64_t>(y) * hd + j] * expf(ml[2 * y] - mx);
    }
    out[i * hd + j] = v / sum;
  }
}

bool cache_type_ok(Type t) {
  return t == Type::F32 || t == Type::F16 || t == Type::BF16 || t == Type::Q8_0 || t == Type::Q4_0;
}

void check_cache(const runtime::KvLayerView& kv, const runtime::AttentionShape& s) {
  for (Type t : {kv.k_type, kv.v_type}) {
    const bool block = t == Type::Q8_0 || t == Type::Q4_0;
    if (!cache_type_ok(t) || (block && s.head_dim % 32 != 0)) {
      throw Error(ErrorCode::kUnsupported, fmt::format("CUDA KV cache cannot hold {} rows of head_dim {}",
                                                       quant::type_info(t).name, s.head_dim));
    }
  }
  if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0 || s.head_dim <= 0) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("attention: bad shape ({} heads, {} kv-heads, head_dim {})",
                                                         s.n_head, s.n_head_kv, s.head_dim));
  }
}

void check_positions(const runtime::KvLayerView& kv, const int32_t* positions, int64_t n_tokens) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (positions[t] < 0 || positions[t] >= kv.n_cells) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("attention: position {} outside the cache of {} cells", positions[t], kv.n_cells));
    }
  }
}

}  // namespace

void CudaBackend::kv_store(const runtime::KvLayerView& kv, const float* k, const float* v, int64_t n_tokens,
                           const runtime::AttentionShape& s, const int32_t* positions) {
  NLM_OP_SCOPE("kv_store");
  if (n_tokens <= 0) return;
  check_cache(kv, s);
  check_positions(kv, positions, n_tokens);
  const int32_t* d_pos = upload_i32(positions, n_tokens);
  constexpr int kThreads = 128;
  auto store = [&](Type type, const float* src, void* dst, size_t row_bytes) {
    if (s.head_dim % 32 == 0) {
      const int64_t total = n_tokens * s.n_head_kv * (s.head_dim / 32);
      kv_store_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
          static_cast<int>(type), src, static_cast<uint8_t*>(dst), row_bytes, n_tokens, s.n_head_kv, s.head_dim, d_pos);
    } else {
      const int64_t total = n_tokens * s.n_head_kv * s.head_dim;
      kv_store_plain_kernel<<<grid_for(total, kThreads), kThreads, 0, stream()>>>(
          static_cast<int>(type), src, static_cast<uint8_t*>(dst), row_bytes, n_tokens, s.n_head_kv, s.head_dim, d_pos);
    }
    NLM_CUDA_LAUNCH_CHECK();
  };
  store(kv.k_type, k, kv.k, kv.k_row_bytes);
  store(kv.v_type, v, kv.v, kv.v_row_bytes);
}

void CudaBackend::attention(const runtime::KvLayerView& kv, const float* q, int64_t n_tokens,
                            const runtime::AttentionShape& s, const int32_t* positions, float* out) {
  NLM_OP_SCOPE("attention", n_tokens > 1 ? "prefill" : "decode", quant::type_info(kv.k_type).name);
  if (n_tokens <= 0 || s.n_head <= 0) return;
  check_cache(kv, s);
  check_positions(kv, positions, n_tokens);
  const int64_t blocks = n_tokens * s.n_head;
  if (blocks > 0x7FFFFFFF) throw Error(ErrorCode::kInvalidArgument, "attention: too many (token, head) pairs");
  AttnArgs a{};
  a.k = static_cast<const uint8_t*>(kv.k);
  a.v = static_cast<const uint8_t*>(kv.v);
  a.k_type = static_cast<int>(kv.k_type);
  a.v_type = static_cast<int>(kv.v_type);
  a.k_row_bytes = kv.k_row_bytes;
  a.v_row_bytes = kv.v_row_bytes;
  a.q = q;
  a.out = out;
  a.positions = upload_i32(positions, n_tokens);
  a.n_head = s.n_head;
  a.n_head_kv = s.n_head_kv;
  a.head_dim = s.head_dim;
  a.scale = s.scale;
  const size_t smem = static_cast<size_t>(kAttnWarps) * s.head_dim * sizeof(float);
  const int threads = kAttnWarps * 32;
  const int cols = (s.head_dim + 31) / 32;
  // Split-K (flash-decoding) when there are too few (token, head) blocks to
  // fill the GPU and the context is long: each split takes >= kMinSplitCells
  // cells, partials are merged by attention_combine_kernel.
  constexpr int64_t kTargetBlocks = 264, kMinSplitCells = 256, kMaxSplit = 32;
  int64_t max_cells = 0;
  for (int64_t t = 0; t < n_tokens; ++t) max_cells = std::max<int64_t>(max_cells, int64_t{positions[t]} + 1);
  const int64_t n_split = std::clamp<int64_t>(
      std::min((max_cells + kMinSplitCells - 1) / kMinSplitCells, (kTargetBlocks + blocks - 1) / blocks), 1,
      kMaxSplit);
  if (n_split > 1) {
    a.split_acc = scratch_f32(kAttnSplit, static_cast<size_t>(blocks * n_split * (s.head_dim + 2)));
    a.split_ml = a.split_acc + blocks * n_split * s.head_dim;
  }
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(n_split));
  cudaStream_t st = stream();
  if (cols <= 1) {
    attention_kernel<1><<<grid, threads, smem, st>>>(a);
  } else if (cols <= 2) {
    attention_kernel<2><<<grid, threads, smem, st>>>(a);
  } else if (cols <= 4) {
    attention_kernel<4><<<grid, threads, smem, st>>>(a);
  } else if (cols <= 8) {
    attention_kernel<8><<<grid, threads, smem, st>>>(a);
  } else {
    throw Error(ErrorCode::kUnsupported, fmt::format("attention: head_dim {} > 256 on CUDA", s.head_dim));
  }
  NLM_CUDA_LAUNCH_CHECK();
  if (n_split > 1) {
    attention_combine_kernel<<<static_cast<unsigned>(blocks), 128, 0, st>>>(a.split_acc, a.split_ml,
                                                                          static_cast<int>(n_split), s.head_dim, out);
    NLM_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace nextlm::cuda
