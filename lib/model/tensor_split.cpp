#include "model/tensor_split.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "nextlm/error.h"

namespace nextlm::model {

TensorSlice whole_model(const Qwen3NextConfig& c) {
  return {{0, c.n_head_kv}, {0, c.ssm_n_group}, {0, c.n_expert}, {0, c.n_ff_shexp}, {0, c.n_vocab}};
}

std::vector<Range> divide(int64_t n, std::span<const double> shares) {
  std::vector<Range> out;
  double cum = 0;
  int64_t at = 0;
  for (size_t i = 0; i < shares.size(); ++i) {
    cum += shares[i];
    int64_t end = i + 1 == shares.size() ? n : std::llround(cum * static_cast<double>(n));
    end = std::min(n, std::max(at, end));
    out.push_back({at, end});
    at = end;
  }
  return out;
}

std::vector<TensorSlice> plan_tensor_split(const Qwen3NextConfig& c, std::span<const double> shares,
                                           int64_t shexp_unit, std::span<const std::string> names) {
  const size_t nd = shares.size();
  if (nd == 0 || names.size() != nd) throw Error(ErrorCode::kInvalidArgument, "tensor split: no devices");
  auto need = [&](const std::vector<Range>& r, int64_t n, const char* what) {
    for (size_t d = 0; d < nd; ++d) {
      if (r[d].size() > 0) continue;
      throw Error(ErrorCode::kInvalidArgument,
                  nd > static_cast<size_t>(n)
                      ? fmt::format("tensor split: {} devices but only {} {}; use fewer devices or --split layer", nd,
                                    n, what)
                      : fmt::format("tensor split: {} gets none of the {} {} at these ratios; raise its ratio",
                                    names[d], n, what));
    }
  };
  const bool has_attn = std::find(c.recurrent.begin(), c.recurrent.end(), false) != c.recurrent.end();
  const bool has_delta = std::find(c.recurrent.begin(), c.recurrent.end(), true) != c.recurrent.end();
  const auto kv = divide(c.n_head_kv, shares);
  const auto kh = divide(c.ssm_n_group, shares);
  const auto ex = divide(c.n_expert, shares);
  if (has_attn) need(kv, c.n_head_kv, "attention KV-head groups");
  if (has_delta) need(kh, c.ssm_n_group, "DeltaNet k-head groups");
  need(ex, c.n_expert, "routed experts");
  const int64_t unit = shexp_unit > 0 && c.n_ff_shexp % shexp_unit == 0 ? shexp_unit : c.n_ff_shexp;
  const auto sh = unit > 0 ? divide(c.n_ff_shexp / unit, shares) : std::vector<Range>(nd);
  const auto vo = divide(c.n_vocab, shares);
  std::vector<TensorSlice> out(nd);
  for (size_t d = 0; d < nd; ++d) {
    out[d].kv_heads = kv[d];
    out[d].k_heads = kh[d];
    out[d].experts = ex[d];
    out[d].shexp = {sh[d].begin * unit, sh[d].end * unit};
    out[d].vocab = vo[d];
  }
  return out;
}

std::vector<uint8_t> gather_rows(const void* data, size_t row_bytes, std::span<const Range> rows) {
  size_t n = 0;
  for (const Range& r : rows) n += static_cast<size_t>(r.size());
  std::vector<uint8_t> out(n * row_bytes);
  size_t at = 0;
  for (const Range& r : rows) {
    const size_t bytes = static_cast<size_t>(r.size()) * row_bytes;
    if (bytes) std::memcpy(out.data() + at, static_cast<const uint8_t*>(data) + r.begin * row_bytes, bytes);
    at += bytes;
  }
  return out;
}

std::vector<uint8_t> slice_columns(quant::Type type, const void* data, int64_t n_cols, int64_t n_rows, Range cols,
                                   const std::string& what) {
  const quant::TypeInfo& ti = quant::type_info(type);
  if (cols.begin < 0 || cols.end > n_cols || cols.begin > cols.end) {
    throw Error(ErrorCode::kInternal, fmt::format("{}: column range outside the matrix", what));
  }
  if (cols.begin % ti.block_size || cols.end % ti.block_size) {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("tensor split: {} is {} ({}-element blocks) and would be cut at columns [{}, {}), inside a "
                            "block; use --split layer (or --exact, which computes on f32 copies)",
                            what, ti.name, ti.block_size, cols.begin, cols.end));
  }
  const size_t src_row = quant::row_bytes(type, n_cols);
  const size_t off = quant::row_bytes(type, cols.begin);
  const size_t len = quant::row_bytes(type, cols.size());
  std::vector<uint8_t> out(len * static_cast<size_t>(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    std::memcpy(out.data() + r * len, static_cast<const uint8_t*>(data) + r * src_row + off, len);
  }
  return out;
}

}  // namespace nextlm::model
