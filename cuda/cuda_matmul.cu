// Weight products: get_rows (embedding lookup), the mat-vec kernels used for
// decode (a handful of tokens) and the dequantize + cuBLAS path for prefill.
//
// Mat-vec: one warp per output row; lane l decodes sub-blocks l, l + 32, ...
// of the row with the shared block decoders (lib/quant/block_decode.h, the
// CPU's code) into registers and dots them with up to kMatVecMaxTokens token
// rows, so each weight byte is read once per call. The same kernel serves the
// MoE experts with a per-item matrix index read on the device. Block types
// use mv_block_smem_kernel (activations staged in shared memory, 16 rows per
// thread block) whenever the activations fit in 48 KiB, which includes every
// decode step; its GLU variant computes silu(gate . x) * (up . x) in one
// launch (matvec_glu).
//
// Prefill: the weight (in row chunks of at most 128 MiB of f32) is
// dequantized on the device (cuda::dequantize_rows, bit-identical to the CPU)
// and multiplied with cuBLAS SGEMM in plain f32.
#include <fmt/format.h>

#include <algorithm>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_status.h"
#include "dequant.h"
#include "nextlm/error.h"
#include "quant/types.h"

#include "block_decode_device.cuh"

namespace nextlm::cuda {

namespace {

using quant::Type;

constexpr int kMvWarps = 4;  // output rows per thread block
constexpr int kMvThreads = kMvWarps * 32;
constexpr int kMaxTok = static_cast<int>(CudaBackend::kMatVecMaxTokens);

struct MvArgs {
  const uint8_t* w;
  size_t matrix_bytes, row_bytes;
  int64_t rows, cols;
  const float* x;
  int64_t x_stride;
  int x_div;
  float* y;
  int64_t y_stride;
  int64_t n_items;
  int per_group;           // items of one blockIdx.y (1 when mat_ids is set)
  const int32_t* mat_ids;  // per item, or null
  int64_t mat0;
  const uint8_t* w2;  // GLU kernels: the up weights (same type and layout as w)
  // Grouped form (MoE prefill): blockIdx.y = g takes the items
  // order[group_first[g] .. group_first[g + 1]) (at most kMaxTok), all with
  // matrix group_mat[g]; per_group, n_items and mat_ids are then unused.
  const int32_t* order;
  const int32_t* group_first;
  const int32_t* group_mat;
};

// The items (and their matrix) of this thread block's blockIdx.y.
struct MvGroup {
  int64_t i0;
  int n;
  int64_t mat;
  const int32_t* order;
  __device__ __forceinline__ int64_t item(int t) const { return order ? order[i0 + t] : i0 + t; }
};

__device__ __forceinline__ MvGroup mv_group(const MvArgs& a) {
  if (a.group_first) {
    const int g = blockIdx.y;
    const int first = a.group_first[g];
    return {first, a.group_first[g + 1] - first, a.group_mat[g], a.order};
  }
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * a.per_group;
  const int n = static_cast<int>(min(static_cast<int64_t>(a.per_group), a.n_items - i0));
  return {i0, n, a.mat_ids ? a.mat_ids[i0] : a.mat0, nullptr};
}

// Reduces acc[] over the warp and writes the per-item results.
__device__ __forceinline__ void mv_finish(const MvArgs& a, float (&acc)[kMaxTok], const MvGroup& g, int64_t row,
                                          int lane) {
#pragma unroll
  for (int t = 0; t < kMaxTok; ++t) {
    if (t < g.n) {
      const float s = kern::warp_sum(acc[t]);
      if (lane == 0) a.y[g.item(t) * a.y_stride + row] = s;
    }
  }
}

template <size_t kBlockBytes, int kElems, void (*Decode)(const uint8_t*, int, float*)>
__global__ void __launch_bounds__(kMvThreads) mv_block_kernel(MvArgs a) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kMvWarps + (threadIdx.x >> 5);
  if (row >= a.rows) return;
  const MvGroup g = mv_group(a);
  const int n = g.n;
  const int64_t mat = g.mat;
  const uint8_t* wr = a.w + mat * a.matrix_bytes + row * a.row_bytes;
  constexpr int kSubs = kElems / quant::kSubBlock;
  const int64_t n_subs = a.cols / quant::kSubBlock;
  float acc[kMaxTok] = {};
  float v[quant::kSubBlock];
  for (int64_t s = lane; s < n_subs; s += 32) {
    Decode(wr + (s / kSubs) * kBlockBytes, static_cast<int>(s % kSubs), v);
#pragma unroll
    for (int t = 0; t < kMaxTok; ++t) {
      if (t < n) {
        const float* xr = a.x + (g.item(t) / a.x_div) * a.x_stride + s * quant::kSubBlock;
        float d = 0.0f;
#pragma unroll
        for (int j = 0; j < quant::kSubBlock; ++j) d += v[j] * xr[j];
        acc[t] += d;
      }
    }
  }
  mv_finish(a, acc, g, row, lane);
}

// Fast path for block formats: the thread block's tokens' activations are
// staged in shared memory once (coalesced global reads), in sub-block rows of
// 36 floats so that the 8 lanes of a quarter-warp reading elements 4j..4j+3
// of their own sub-blocks (one 16-byte load) hit banks 4l + 4j .. 4l + 4j + 3
// (mod 32): no bank conflicts, where v1's direct global reads touched 32
// different 128-byte lines per load instruction. kMvsWarps warps each take
// kMvsRowsPerWarp rows (kMvsWarps apart), so each staged copy serves
// kMvsRows rows. Per (row, token) the lane sums its sub-blocks in the same
// order as mv_block_kernel, so both give identical results.
constexpr int kMvsWarps = 8;
constexpr int kMvsThreads = kMvsWarps * 32;
constexpr int kMvsRowsPerWarp = 2;
constexpr int kMvsRows = kMvsWarps * kMvsRowsPerWarp;
constexpr int kMvsPitch = quant::kSubBlock + 4;  // 144 bytes: float4 reads, no bank conflicts per quarter-warp
constexpr size_t kMvsMaxShared = 48 * 1024;  // no opt-in needed up to here

// v . xs over one sub-block, summed in element order (as mv_block_kernel);
// xs is 16-byte aligned.
__device__ __forceinline__ float dot_sub(const float (&v)[quant::kSubBlock], const float* xs) {
  const auto* x4 = reinterpret_cast<const float4*>(xs);
  float d = 0.0f;
#pragma unroll
  for (int j = 0; j < quant::kSubBlock / 4; ++j) {
    const float4 x = x4[j];
    d += v[4 * j] * x.x;
    d += v[4 * j + 1] * x.y;
    d += v[4 * j + 2] * x.z;
    d += v[4 * j + 3] * x.w;
  }
  return d;
}

// kGlu: y = silu(w . x) * (w2 . x), the SwiGLU of a gate and an up product in
// one pass (the same arithmetic as matvec + swiglu_kernel).
template <size_t kBlockBytes, int kElems, void (*Decode)(const uint8_t*, int, float*), bool kGlu>
__global__ void __launch_bounds__(kMvsThreads) mv_block_smem_kernel(MvArgs a) {
  extern __shared__ float4 sx4[];  // float4: 16-byte aligned
  float* sx = reinterpret_cast<float*>(sx4);  // [n][n_subs][kMvsPitch]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const MvGroup g = mv_group(a);
  const int n = g.n;
  const int64_t n_subs = a.cols / quant::kSubBlock;
  const int64_t tok_pitch = n_subs * kMvsPitch;
  const int64_t mat = g.mat;
  const int64_t row_base = static_cast<int64_t>(blockIdx.x) * kMvsRows + warp;
  // Ask for this warp's weight rows before staging the activations, so that
  // their fetch from memory overlaps the staging (each decode below would
  // otherwise wait a full memory round trip).
#pragma unroll
  for (int r = 0; r < kMvsRowsPerWarp; ++r) {
    const int64_t row = row_base + r * kMvsWarps;
    if (row < a.rows) {
      const size_t off = mat * a.matrix_bytes + row * a.row_bytes;
      kern::prefetch_l1(a.w + off, a.row_bytes, lane);
      if constexpr (kGlu) kern::prefetch_l1(a.w2 + off, a.row_bytes, lane);
    }
  }
  for (int t = 0; t < n; ++t) {
    const float* xr = a.x + (g.item(t) / a.x_div) * a.x_stride;
    float* dst = sx + t * tok_pitch;
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < a.cols; c += kMvsThreads) {
      dst[(c / quant::kSubBlock) * kMvsPitch + c % quant::kSubBlock] = xr[c];
    }
  }
  __syncthreads();
  constexpr int kSubs = kElems / quant::kSubBlock;
#pragma unroll
  for (int r = 0; r < kMvsRowsPerWarp; ++r) {
    const int64_t row = row_base + r * kMvsWarps;
    if (row >= a.rows) break;
    const size_t off = mat * a.matrix_bytes + row * a.row_bytes;
    const uint8_t* wr = a.w + off;
    float acc[kMaxTok] = {};
    float acc2[kGlu ? kMaxTok : 1] = {};
    float v[quant::kSubBlock];
    for (int64_t s = lane; s < n_subs; s += 32) {
      Decode(wr + (s / kSubs) * kBlockBytes, static_cast<int>(s % kSubs), v);
#pragma unroll
      for (int t = 0; t < kMaxTok; ++t) {
        if (t < n) {
          acc[t] += dot_sub(v, sx + t * tok_pitch + s * kMvsPitch);
        }
      }
      if constexpr (kGlu) {
        Decode(a.w2 + off + (s / kSubs) * kBlockBytes, static_cast<int>(s % kSubs), v);
#pragma unroll
        for (int t = 0; t < kMaxTok; ++t) {
          if (t < n) {
            acc2[t] += dot_sub(v, sx + t * tok_pitch + s * kMvsPitch);
          }
        }
      }
    }
    if constexpr (kGlu) {
#pragma unroll
      for (int t = 0; t < kMaxTok; ++t) {
        if (t < n) {
          const float gs = kern::warp_sum(acc[t]);
          const float us = kern::warp_sum(acc2[t]);
          if (lane == 0) a.y[g.item(t) * a.y_stride + row] = kern::silu(gs) * us;
        }
      }
    } else {
      mv_finish(a, acc, g, row, lane);
    }
  }
}

template <size_t kBytes, float (*Decode)(const uint8_t*)>
__global__ void __launch_bounds__(kMvThreads) mv_plain_kernel(MvArgs a) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kMvWarps + (threadIdx.x >> 5);
  if (row >= a.rows) return;
  const MvGroup g = mv_group(a);
  const int n = g.n;
  const int64_t mat = g.mat;
  const uint8_t* wr = a.w + mat * a.matrix_bytes + row * a.row_bytes;
  float acc[kMaxTok] = {};
  for (int64_t c = lane; c < a.cols; c += 32) {
    const float wv = Decode(wr + c * kBytes);
#pragma unroll
    for (int t = 0; t < kMaxTok; ++t) {
      if (t < n) acc[t] += wv * a.x[(g.item(t) / a.x_div) * a.x_stride + c];
    }
  }
  mv_finish(a, acc, g, row, lane);
}

// f32 weights (exact mode, routers, the shared-expert gate): one thread block
// per row, so that a router's few rows (or the gate's one) still put many
// loads in flight; a warp per row read its 2048 columns as 64 loads in
// sequence (~38 us for 64 rows on an H100, measured).
constexpr int kMvF32Threads = 128;
__global__ void __launch_bounds__(kMvF32Threads) mv_f32_kernel(MvArgs a) {
  const int64_t row = blockIdx.x;
  const MvGroup g = mv_group(a);
  const int n = g.n;
  const int64_t mat = g.mat;
  const auto* wr = reinterpret_cast<const float*>(a.w + mat * a.matrix_bytes + row * a.row_bytes);
  float acc[kMaxTok] = {};
#pragma unroll 4
  for (int64_t c = threadIdx.x; c < a.cols; c += kMvF32Threads) {
    const float wv = wr[c];
#pragma unroll
    for (int t = 0; t < kMaxTok; ++t) {
      if (t < n) acc[t] += wv * a.x[(g.item(t) / a.x_div) * a.x_stride + c];
    }
  }
  constexpr int kWarps = kMvF32Threads / 32;
  __shared__ float part[kMaxTok][kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int t = 0; t < kMaxTok; ++t) {
    if (t < n) {
      const float v = kern::warp_sum(acc[t]);
      if (lane == 0) part[t][warp] = v;
    }
  }
  __syncthreads();
  if (threadIdx.x < n) {
    const int t = threadIdx.x;
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += part[t][w];
    a.y[g.item(t) * a.y_stride + row] = v;
  }
}

// out[t] = row ids[t]: one thread per (token, 32-element sub-block).
template <size_t kBlockBytes, int kElems, void (*Decode)(const uint8_t*, int, float*)>
__global__ void get_rows_block_kernel(const uint8_t* w, size_t row_bytes, const int32_t* ids, int64_t subs_per_row,
                                      int64_t total, float* out) {
  constexpr int kSubs = kElems / quant::kSubBlock;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t t = i / subs_per_row, s = i % subs_per_row;
    Decode(w + ids[t] * row_bytes + (s / kSubs) * kBlockBytes, static_cast<int>(s % kSubs), out + i * quant::kSubBlock);
  }
}

template <size_t kBytes, float (*Decode)(const uint8_t*)>
__global__ void get_rows_plain_kernel(const uint8_t* w, size_t row_bytes, const int32_t* ids, int64_t cols,
                                      int64_t total, float* out) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t t = i / cols, c = i % cols;
    out[i] = Decode(w + ids[t] * row_bytes + c * kBytes);
  }
}

}  // namespace

int CudaBackend::max_staged_items(int64_t cols_a, int64_t cols_b) {
  const int64_t per_item = std::max(cols_a, cols_b) / quant::kSubBlock * kMvsPitch * static_cast<int64_t>(sizeof(float));
  return static_cast<int>(std::clamp<int64_t>(static_cast<int64_t>(kMvsMaxShared) / std::max<int64_t>(per_item, 1), 1,
                                              kMaxTok));
}

namespace {

// Fills the grouped-form fields of `a`; returns the number of groups.
int64_t set_groups(MvArgs& a, const CudaBackend::ItemGroups& g) {
  a.order = g.order;
  a.group_first = g.first;
  a.group_mat = g.mat;
  a.per_group = g.max_items;
  a.mat_ids = nullptr;
  return g.n_groups;
}

}  // namespace

void CudaBackend::matvec(const runtime::Weight& w, int64_t mat0, const int32_t* mat_ids, const float* x,
                         int64_t x_stride, int x_div, int64_t n_items, float* y, int64_t y_stride,
                         const ItemGroups* item_groups) {
  if ((item_groups ? item_groups->n_groups : n_items) <= 0 || w.rows <= 0) return;
  MvArgs a{};
  a.w = static_cast<const uint8_t*>(w.data);
  a.matrix_bytes = w.matrix_bytes;
  a.row_bytes = w.row_bytes;
  a.rows = w.rows;
  a.cols = w.cols;
  a.x = x;
  a.x_stride = x_stride;
  a.x_div = x_div;
  a.y = y;
  a.y_stride = y_stride;
  a.n_items = n_items;
  a.per_group = mat_ids ? 1 : static_cast<int>(std::min<int64_t>(kMaxTok, n_items));
  a.mat_ids = mat_ids;
  a.mat0 = mat0;
  const int64_t groups = item_groups ? set_groups(a, *item_groups) : (n_items + a.per_group - 1) / a.per_group;
  if (groups > 65535) {
    throw Error(ErrorCode::kInternal, fmt::format("{}: mat-vec over {} items", name_, n_items));
  }
  const dim3 grid(static_cast<unsigned>((w.rows + kMvWarps - 1) / kMvWarps), static_cast<unsigned>(groups));
  cudaStream_t st = stream();
  if (w.type == Type::F32) {
    if (w.rows > 0x7FFFFFFF) throw Error(ErrorCode::kInternal, fmt::format("{}: mat-vec over {} rows", name_, w.rows));
    mv_f32_kernel<<<dim3(static_cast<unsigned>(w.rows), static_cast<unsigned>(groups)), kMvF32Threads, 0, st>>>(a);
    NLM_CUDA_LAUNCH_CHECK();
    return;
  }
  using namespace quant;
  // Shared-memory staging when the group's activations fit (always for
  // decode: one token of up to ~11.9k columns).
  const size_t smem = static_cast<size_t>(a.per_group) * static_cast<size_t>(w.cols / quant::kSubBlock) * kMvsPitch *
                      sizeof(float);
  const bool staged = w.cols % quant::kSubBlock == 0 && smem <= kMvsMaxShared;
  const dim3 grid_s(static_cast<unsigned>((w.rows + kMvsRows - 1) / kMvsRows), static_cast<unsigned>(groups));
#define NLM_CASE_BLOCK(T, B, QK, DECODE)                                                      \
  case Type::T:                                                                               \
    if (staged) {                                                                             \
      mv_block_smem_kernel<sizeof(B), QK, DECODE, false><<<grid_s, kMvsThreads, smem, st>>>(a);\
    } else {                                                                                  \
      mv_block_kernel<sizeof(B), QK, DECODE><<<grid, kMvThreads, 0, st>>>(a);                 \
    }                                                                                         \
    break;
#define NLM_CASE_PLAIN(T, BYTES, DECODE)                            \
  case Type::T:                                                     \
    mv_plain_kernel<BYTES, DECODE><<<grid, kMvThreads, 0, st>>>(a); \
    break;
  switch (w.type) {
    NLM_QUANT_BLOCK_FORMATS(NLM_CASE_BLOCK)
    NLM_QUANT_PLAIN_FORMATS(NLM_CASE_PLAIN)
    default:
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("{}: no matrix product for type {}", name_, quant::type_info(w.type).name));
  }
#undef NLM_CASE_BLOCK
#undef NLM_CASE_PLAIN
  NLM_CUDA_LAUNCH_CHECK();
}

bool CudaBackend::matvec_glu(const runtime::Weight& gate, const runtime::Weight& up, int64_t mat0,
                             const int32_t* mat_ids, const float* x, int64_t x_stride, int x_div, int64_t n_items,
                             float* y, int64_t y_stride, const ItemGroups* item_groups) {
  if ((item_groups ? item_groups->n_groups : n_items) <= 0 || gate.rows <= 0) return true;
  if (gate.type != up.type || gate.rows != up.rows || gate.cols != up.cols || gate.row_bytes != up.row_bytes ||
      gate.matrix_bytes != up.matrix_bytes || gate.cols % quant::kSubBlock != 0) {
    return false;
  }
  MvArgs a{};
  a.w = static_cast<const uint8_t*>(gate.data);
  a.w2 = static_cast<const uint8_t*>(up.data);
  a.matrix_bytes = gate.matrix_bytes;
  a.row_bytes = gate.row_bytes;
  a.rows = gate.rows;
  a.cols = gate.cols;
  a.x = x;
  a.x_stride = x_stride;
  a.x_div = x_div;
  a.y = y;
  a.y_stride = y_stride;
  a.n_items = n_items;
  a.per_group = mat_ids ? 1 : static_cast<int>(std::min<int64_t>(kMaxTok, n_items));
  a.mat_ids = mat_ids;
  a.mat0 = mat0;
  const int64_t groups = item_groups ? set_groups(a, *item_groups) : (n_items + a.per_group - 1) / a.per_group;
  const size_t smem = static_cast<size_t>(a.per_group) * static_cast<size_t>(gate.cols / quant::kSubBlock) *
                      kMvsPitch * sizeof(float);
  if (groups > 65535 || smem > kMvsMaxShared) return false;
  const dim3 grid(static_cast<unsigned>((gate.rows + kMvsRows - 1) / kMvsRows), static_cast<unsigned>(groups));
  cudaStream_t st = stream();
  using namespace quant;
#define NLM_CASE_BLOCK(T, B, QK, DECODE)                                                 \
  case Type::T:                                                                          \
    mv_block_smem_kernel<sizeof(B), QK, DECODE, true><<<grid, kMvsThreads, smem, st>>>(a); \
    break;
  switch (gate.type) {
    NLM_QUANT_BLOCK_FORMATS(NLM_CASE_BLOCK)
    default:
      return false;
  }
#undef NLM_CASE_BLOCK
  NLM_CUDA_LAUNCH_CHECK();
  return true;
}

void CudaBackend::gemm(const runtime::Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) {
  const auto* base = static_cast<const uint8_t*>(w.data) + mat * w.matrix_bytes;
  const int64_t rows = w.rows, cols = w.cols;
  const float one = 1.0f, zero = 0.0f;
  // Row-major W [rows][cols] is column-major cols x rows: y^T = W * x^T.
  auto sgemm = [&](const float* wf, int64_t r0, int64_t n) {
    NLM_CUBLAS_CHECK(cublasSgemm(ctx_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n),
                                 static_cast<int>(n_tokens), static_cast<int>(cols), &one, wf, static_cast<int>(cols),
                                 x, static_cast<int>(cols), &zero, y + r0, static_cast<int>(rows)));
  };
  if (w.type == Type::F32) {
    sgemm(reinterpret_cast<const float*>(base), 0, rows);
    return;
  }
  constexpr int64_t kChunkElems = int64_t{1} << 25;  // 128 MiB of f32
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows, kChunkElems / cols));
  float* deq = scratch_f32(kDequant, static_cast<size_t>(chunk * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    NLM_CUDA_CHECK(dequantize_rows(w.type, base + r0 * w.row_bytes, deq, cols, n, stream()));
    sgemm(deq, r0, n);
  }
}

void CudaBackend::matmul(const runtime::Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) {
  NLM_OP_SCOPE("matmul", n_tokens <= kMatVecMaxTokens ? "mat-vec" : "gemm", quant::type_info(w.type).name);
  if (n_tokens <= 0) return;
  if (n_tokens <= kMatVecMaxTokens) {
    matvec(w, mat, nullptr, x, w.cols, 1, n_tokens, y, w.rows);
  } else {
    gemm(w, mat, x, n_tokens, y);
  }
}

void CudaBackend::get_rows(const runtime::Weight& w, const int32_t* ids, int64_t n, float* out) {
  NLM_OP_SCOPE("get_rows", quant::type_info(w.type).name);
  if (n <= 0) return;
  for (int64_t t = 0; t < n; ++t) {
    if (ids[t] < 0 || ids[t] >= w.rows) {
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(ids[t]) + " out of range");
    }
  }
  const int32_t* d_ids = upload_i32(ids, n);
  const auto* base = static_cast<const uint8_t*>(w.data);
  constexpr int kThreads = 256;
  cudaStream_t st = stream();
  using namespace quant;
#define NLM_CASE_BLOCK(T, B, QK, DECODE)                                                              \
  case Type::T: {                                                                                     \
    const int64_t subs = w.cols / kSubBlock, total = subs * n;                                        \
    get_rows_block_kernel<sizeof(B), QK, DECODE>                                                      \
        <<<grid_for(total, kThreads), kThreads, 0, st>>>(base, w.row_bytes, d_ids, subs, total, out); \
    break;                                                                                            \
  }
#define NLM_CASE_PLAIN(T, BYTES, DECODE)                                                                \
  case Type::T: {                                                                                       \
    const int64_t total = w.cols * n;                                                                   \
    get_rows_plain_kernel<BYTES, DECODE>                                                                \
        <<<grid_for(total, kThreads), kThreads, 0, st>>>(base, w.row_bytes, d_ids, w.cols, total, out); \
    break;                                                                                              \
  }
  switch (w.type) {
    NLM_QUANT_BLOCK_FORMATS(NLM_CASE_BLOCK)
    NLM_QUANT_PLAIN_FORMATS(NLM_CASE_PLAIN)
    default:
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("{}: no row lookup for type {}", name_, quant::type_info(w.type).name));
  }
#undef NLM_CASE_BLOCK
#undef NLM_CASE_PLAIN
  NLM_CUDA_LAUNCH_CHECK();
}

}  // namespace nextlm::cuda
