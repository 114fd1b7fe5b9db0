// Integer dot-product kernels for quantized weight rows (issue 10).
//
// Activations are quantized once per matmul to int8 per 32 elements
// (qx, dx = scale, sx = dx * sum(qx)), as ggml's q8_0. A weight row is
// unpacked to int8 codes with per-16 scales and per-32 offsets,
//   w[i] = ws[i / 16] * q[i] - m[i / 32],
// once per row (and reused across the tokens of a batch), then dotted with
// integer multiply-adds. Results match the f32 path to the activation
// quantization error (the `native` tolerance).
//
// Canonical order: every kernel (scalar, AVX2, AVX-512, the AMX tile kernel,
// fused or unpacked) computes, per unit u of U elements (U = 16 for types
// with a scale per 16 elements, Q6_K, Q3_K and Q2_K; U = 32 for the others:
// the kernels' `unit`), the exact int32 sum S_u of q * qx, then
// acc[u % 8] = fma(float(S_u), dx[u * U / 32] * ws[u * U / 16], acc[u % 8])
// in unit order, and returns
// ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)) minus the
// offsets summed the same way over lanes b[j % 8] = fma(m[j], sx[j], b[j % 8]) (j in
// order); Q2_K's offsets are per 16 (m_unit) and meet exact per-16 sums T of
// the codes: b[u % 8] = fma(m[u], dx[u / 2] * float(T_u), b[u % 8]). So a row's result is
// bit-identical on every path and ISA: a token's logits never depend on its
// batch or on the kernel.
//
// The superblock form (Q4_K: DotKernels::act_k). Its activations have one
// scale per 256 elements (quantize_act_q8k: the block's scale in each of its 8
// dx entries; sx as above), which lets a whole block's products stay integer:
// per block b the exact int32 T_b = sum_i (q_i * sc_i) qx_i and
// M_b = sum_u mn_u B_u (B_u the exact sum of unit u's codes), then
// acc[b % 8] = fma(float(M_b), -(dmin_b * dx_b), fma(float(T_b), d_b * dx_b, acc[b % 8]))
// and the result is the tree above over acc. Its float work is two fmas per
// 256 elements instead of eight plus the offsets (the tile kernel's limit on
// this VM).
//
// Kernels are compiled per ISA (scalar, AVX2, AVX-512 VNNI, AMX-INT8) with
// target attributes and chosen at run time by cpu_features.h.
#pragma once

#include <cstdint>

#include "quant/cpu_features.h"
#include "quant/types.h"

namespace nextlm::quant {

// n must be a multiple of 32; writes n int8s to q and n / 32 floats to d, s.
void quantize_act_q8(const float* x, int64_t n, int8_t* q, float* d, float* s);
// The superblock form's activations: n a multiple of 256; one scale per 256
// elements, written to all 8 of its d entries; s as quantize_act_q8's.
void quantize_act_q8k(const float* x, int64_t n, int8_t* q, float* d, float* s);

// The exact sum of 32 activation codes (a unit's B_u in the superblock form).
inline int code_sum32(const int8_t* q) {
  int s = 0;
  for (int l = 0; l < 32; ++l) s += q[l];
  return s;
}

// Unpacks a row of n elements (n a multiple of the type's block size):
// n int8s to q, n / 16 floats to ws, n / m_unit floats to m (DotKernels).
using UnpackFn = void (*)(const uint8_t* row, int64_t n, int8_t* q, float* ws, float* m);
// sum_i w[i] * x[i] with w as above and x[i] ~= dx[i / 32] * qx[i].
using DotFn = float (*)(const int8_t* q, const float* ws, const float* m, const int8_t* qx, const float* dx,
                        const float* sx, int64_t n);

// The same sum straight from a packed row (no unpacked copy): each block is
// decoded in registers and used at once. For one or two tokens (decode),
// where an unpacked row would not be reused.
using VecDotFn = float (*)(const uint8_t* row, const int8_t* qx, const float* dx, const float* sx, int64_t n);
// vec_dot of n_rows rows row_bytes apart: out[r] for r < n_rows, bit-identical.
using VecDotRowsFn = void (*)(const uint8_t* row, size_t row_bytes, int64_t n_rows, const int8_t* qx, const float* dx,
                              const float* sx, int64_t n, float* out);
// Four tokens against one unpacked row (prefill without tiles): token k's
// activations at qx + k * stride, its scales at dx + k * stride / 32 and sums
// at sx + k * stride / 32; results to out[0..4).
using Dot4Fn = void (*)(const int8_t* q, const float* ws, const float* m, const int8_t* qx, const float* dx,
                        const float* sx, int64_t n, int64_t stride, float* out);

using QuantizeFn = void (*)(const float* x, int64_t n, int8_t* q, float* d, float* s);
// Lays out n q8 activations (n a multiple of 256; dx their scales) for a
// kernel that reads them in its own order (DotKernels::vec_dot_layout),
// writing at most kActLayoutBytes * n bytes to out.
using ActLayoutFn = void (*)(const int8_t* qx, const float* dx, int64_t n, int8_t* out);
constexpr int64_t kActLayoutBytes = 2;

struct DotKernels {
  QuantizeFn quantize = nullptr;  // quantize_act_q8 for this ISA (the same bytes on every ISA)
  UnpackFn unpack = nullptr;      // nullptr: no integer kernel for this type
  DotFn dot = nullptr;
  VecDotFn vec_dot = nullptr;
  VecDotRowsFn vec_dot_rows = nullptr;  // vec_dot of consecutive rows, set with it
  Dot4Fn dot4 = nullptr;
  // When set, vec_dot reads the activations in its own order: the caller
  // passes what vec_dot_layout made (kActLayoutBytes * n bytes) instead of qx;
  // dx and sx are unchanged.
  ActLayoutFn vec_dot_layout = nullptr;
  int unit = 16;  // elements per exact integer sum in the canonical order (16 or 32)
  // Elements per offset m of an unpacked row: 32, or 16 for Q2_K, whose mins
  // meet exact per-16 activation sums (b[u % 8] = fma(m[u], dx * T_u, b[u % 8])); such
  // rows have no tile kernel.
  int m_unit = 32;
  // The superblock form (above): activations from quantize_act_q8k, and an
  // unpacked row of q_bytes = 2 per element: per 64 elements, 64 bytes
  // lo(v) then 64 bytes hi(v), v = code * sc (0..945), lo = v & 255,
  // hi = v >> 8; ws per block 64 bytes: the 8 mins as bytes, then zeros (an
  // AMX row: K 8..63 multiply nothing); m per block 8 floats: d, dmin, zeros.
  bool act_k = false;
  int q_bytes = 1;  // bytes of unpacked codes per element
};

// The kernels of a type for an ISA the machine supports (else empty).
DotKernels dot_kernels(Type t, Isa isa);
// For the active ISA (cached per type); none when NEXTLM_INT_DOT=0.
DotKernels dot_kernels(Type t);

// ---- tiles of 16 rows x 16 tokens (prefill; AMX-INT8) -----------------------

constexpr int kTileRows = 16, kTileTokens = 16;

// Up to 16 tokens' q8 activations (n elements each; token k at qx + k * n,
// dx + k * n / 32, sx + k * n / 32) repacked for the tile kernel: b gets
// n * 16 bytes (for each 4 elements, 16 tokens x 4 bytes), dxt and sxt
// n / 32 * 16 floats (per sub-block, 16 tokens); missing tokens are zero.
void pack_act_tile(const int8_t* qx, const float* dx, const float* sx, int64_t n, int64_t n_tokens, int8_t* b,
                   float* dxt, float* sxt);

// 16 unpacked rows (codes at q + r * n, scales at ws + r * n / 16, offsets at
// m + r * n / 32; m may be null when every offset is zero) against one packed
// activation tile: out[k * 16 + r] = dot_row(row r, token k), bit for bit
// (token-major: a token's 16 results are one run of the matmul's output).
using TileDotFn = void (*)(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt,
                           const float* sxt, int64_t n, float* out);

// The AMX tile kernel for a kernels' `unit` (16 or 32) where the CPU has
// AMX-INT8 and the OS grants this process the tile state (requested once;
// NEXTLM_AMX=0, or NEXTLM_CPU_ISA below avx512, turns it off), else null.
TileDotFn tile_dot(int unit);

// The superblock form's tile kernel (AMX: v = lo + 256 hi as two TDPBUSD per
// 64 elements; the mins as TDPBUSD of the 8 mins against the unit sums), or
// null: 16 rows (codes at q + r * 2n, ws at ws + r * n / 16, m at
// m + r * n / 32) against n_tiles (1 or 2) packed activation tiles from
// pack_act_tile_k, tile i at b + i * 16n, dxt + i * n / 2 and sxt + i * n / 2;
// two tiles share each load of the rows. Results token-major:
// out[k * 16 + r] = dot_row(row r, token k), bit for bit.
using TileDotKFn = void (*)(const int8_t* q, const float* ws, const float* m, const int8_t* b, const float* dxt,
                            const float* sxt, int64_t n, int n_tiles, float* out);
TileDotKFn tile_dot_k();
// As pack_act_tile (which skips sxt when sx is null), but sxt (n / 32 * 16
// floats) gets each block's unit sums as two byte tiles. The kernel reads 16 rows of 64 bytes from them: keep
// kTileSumsPad floats readable past the last tile's sxt.
void pack_act_tile_k(const int8_t* qx, const float* dx, int64_t n, int64_t n_tokens, int8_t* b, float* dxt, float* sxt);
constexpr int64_t kTileSumsPad = 256;

namespace detail {
DotKernels dot_kernels_scalar(Type t);
DotKernels dot_kernels_avx2(Type t);
DotKernels dot_kernels_avx512(Type t);
// AVX-512 VBMI + BITALG forms that replace dot_kernels_avx512's where the CPU
// has them (IQ3_S: grid lookups by byte permutes instead of gathers).
void add_vbmi_kernels(Type t, DotKernels& k);
}  // namespace detail

}  // namespace nextlm::quant
