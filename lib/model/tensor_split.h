// Tensor split: which part of every layer each device holds, and the byte
// work of cutting weights into those parts. Heads are divided in whole
// groups (attention: a KV head with the query heads that read it; DeltaNet:
// a k-head with its value heads), so that each device runs ordinary
// attention / delta-rule ops on its own heads and keeps only their KV cache
// and recurrent state; routed experts are divided as whole experts, the
// shared expert's FFN rows and the LM head's vocabulary rows as ranges.
// Every block's output is the sum of the devices' partial outputs (one
// all-reduce), since the output projections are cut by their input columns.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/qwen3next_config.h"
#include "quant/types.h"

namespace nextlm::model {

struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// One device's part. Attention query heads are kv_heads * (n_head / n_head_kv),
// DeltaNet value heads k_heads * (ssm_dt_rank / ssm_n_group).
struct TensorSlice {
  Range kv_heads, k_heads, experts, shexp, vocab;
};

// Everything: the slice of a model on one device.
TensorSlice whole_model(const Qwen3NextConfig& c);

// `n` units into contiguous ranges by `shares` (summing to 1): boundary i is
// round(n * cumulative share). Ranges may be empty.
std::vector<Range> divide(int64_t n, std::span<const double> shares);

// The slices of a tensor split. shexp_unit: the granularity of the shared
// expert's rows (the block size of ffn_down_shexp, whose columns they are).
// Throws kInvalidArgument naming the device when a device would get no
// attention or DeltaNet heads or no experts (too many devices, or a ratio too small).
std::vector<TensorSlice> plan_tensor_split(const Qwen3NextConfig& c, std::span<const double> shares,
                                           int64_t shexp_unit, std::span<const std::string> device_names);

// Rows of a row-major matrix (row_bytes each) gathered from several ranges, in order.
std::vector<uint8_t> gather_rows(const void* data, size_t row_bytes, std::span<const Range> rows);

// Columns [cols.begin, cols.end) of each row of a type-`type` matrix, as the
// same type. Quantized rows are cut between blocks only: throws
// kUnsupported (naming `what`) when a bound is not a multiple of the block size.
std::vector<uint8_t> slice_columns(quant::Type type, const void* data, int64_t n_cols, int64_t n_rows, Range cols,
                                   const std::string& what);

}  // namespace nextlm::model
