#include "model/memory_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "nextlm/error.h"
#include "quant/repack.h"
#include "util/mapped_file.h"

namespace nextlm::model {

namespace {

using runtime::DeviceKind;

// Layer index of "blk.N.*", or -1 for the global tensors.
int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

bool is_routed_expert(const std::string& name) { return name.find("_exps.") != std::string::npos; }
bool has(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

// The bytes of a tensor that a device with `slice` holds under a tensor
// split, by the same cuts as Qwen3NextWeights::load: attention tensors by
// KV-head groups, DeltaNet tensors by k-head groups (each with its value
// heads), experts whole, shared-expert rows, LM-head vocabulary rows; the rest
// (norms, routers) replicated.
uint64_t tensor_split_bytes(const std::string& name, uint64_t bytes, const Qwen3NextConfig& c, const TensorSlice& s) {
  auto part = [&](int64_t num, int64_t den) { return den > 0 ? bytes / static_cast<uint64_t>(den) * num : 0; };
  if (is_routed_expert(name)) return part(s.experts.size(), c.n_expert);
  if (has(name, "_shexp.weight")) {
    if (has(name, "gate_inp")) return s.shexp.size() > 0 ? bytes : 0;
    return part(s.shexp.size(), c.n_ff_shexp);
  }
  for (const char* t : {"attn_q.", "attn_k.", "attn_v.", "attn_output."}) {
    if (has(name, t)) return part(s.kv_heads.size(), c.n_head_kv);
  }
  for (const char* t : {"attn_qkv.", "attn_gate.", "ssm_in.", "ssm_ba.", "ssm_conv1d.", "ssm_dt.", "ssm_a", "ssm_out."}) {
    if (has(name, t)) return part(s.k_heads.size(), c.ssm_n_group);
  }
  if (name == "output.weight") return part(s.vocab.size(), c.n_vocab);
  return bytes;
}

// What a CPU device holds of a tensor beyond its file bytes: copied weights
// of a type with a repacked kernel are repacked (quant/repack.h; IQ3_S grows
// from 110 to 134 bytes per 256 values). Zero where weights stay in place.
uint64_t cpu_repack_growth(const gguf::TensorInfo& t, bool copied) {
  const quant::Repack r = copied ? quant::repack_for(t.type, t.ne[0]) : quant::Repack::kNone;
  if (r == quant::Repack::kNone) return 0;
  const uint64_t rows = static_cast<uint64_t>(t.n_rows());
  const uint64_t grown = rows * quant::repacked_row_bytes(r, t.ne[0]);
  return grown > t.n_bytes ? grown - t.n_bytes : 0;
}

// Activations of one ubatch plus, on GPUs, the dequantization tile of the
// prefill GEMM and the CUDA context with cuBLAS handles.
uint64_t workspace_bytes(const Qwen3NextConfig& c, DeviceKind kind, int64_t n_batch) {
  const int64_t wide = std::max<int64_t>({c.conv_dim(), 2 * int64_t{c.n_head} * c.head_dim, c.n_embd});
  const uint64_t act = static_cast<uint64_t>(n_batch) * (3 * c.n_embd + 6 * wide) * 4 +
                       static_cast<uint64_t>(c.n_vocab) * 4 * 8;
  return act + (kind == DeviceKind::kCuda ? (128ull + 512ull) << 20 : 0);
}

}  // namespace

bool MemoryPlan::fits() const {
  return std::all_of(devices.begin(), devices.end(), [](const DeviceUsage& d) { return d.fits(); });
}

uint64_t MemoryPlan::shortfall() const {
  uint64_t s = 0;
  for (const DeviceUsage& d : devices) {
    if (!d.fits()) s = std::max(s, d.total() - d.device.memory_bytes);
  }
  return s;
}

std::string MemoryPlan::table() const {
  using runtime::format_bytes;
  std::string out = fmt::format("{:<8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}  {}\n", "device", "memory",
                                "weights", "kv cache", "recurrent", "workspace", "total", "free", "layers");
  for (const DeviceUsage& d : devices) {
    const std::string mem = d.device.memory_bytes ? format_bytes(d.device.memory_bytes) : "-";
    const std::string free = !d.device.memory_bytes   ? "-"
                             : d.fits()               ? format_bytes(d.device.memory_bytes - d.total())
                                                      : fmt::format("-{}", format_bytes(d.total() - d.device.memory_bytes));
    std::string layers = d.first_layer < 0 ? "-" : fmt::format("{}-{}", d.first_layer, d.last_layer);
    const size_t i = static_cast<size_t>(&d - devices.data());
    if (i < slices.size()) {
      const TensorSlice& s = slices[i];
      auto r = [](Range x) { return x.size() ? fmt::format("{}-{}", x.begin, x.end - 1) : std::string("none"); };
      layers = fmt::format("all: kv heads {}, k-heads {}, experts {}, shexp rows {}, vocab {}", r(s.kv_heads),
                           r(s.k_heads), r(s.experts), r(s.shexp), r(s.vocab));
    }
    out += fmt::format("{:<8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}  {}\n", d.device.name(), mem,
                       format_bytes(d.weights), format_bytes(d.kv_cache), format_bytes(d.recurrent),
                       format_bytes(d.workspace), format_bytes(d.total()), free, layers);
  }
  if (cpu_expert_bytes) {
    out += fmt::format("host     routed experts of the first {} layers: {}\n", topology.cpu_moe_layers,
                       format_bytes(cpu_expert_bytes));
  }
  out += fmt::format("model tensors {} ({:.2f} GB), KV cache {} ({:.2f} GB)\n", format_bytes(model_bytes),
                     model_bytes / 1e9, format_bytes(kv_cache_bytes), kv_cache_bytes / 1e9);
  if (!native_refusal.empty()) out += "quantized (native) load refused: " + native_refusal + "\n";
  out += fits() ? "fits\n" : fmt::format("does not fit: {} more needed on the fullest device\n", format_bytes(shortfall()));
  return out;
}

MemoryPlan plan_memory(const gguf::GgufFile& file, const Qwen3NextConfig& c, const runtime::Topology& topo,
                       const PlanRequest& req) {
  if (topo.devices.empty()) throw Error(ErrorCode::kInvalidArgument, "plan: no devices");
  if (req.n_ctx <= 0 || req.n_batch <= 0 || req.n_sequences <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "plan: context, batch and sequence counts must be positive");
  }
  MemoryPlan plan;
  plan.topology = topo;
  const size_t nd = topo.devices.size();
  for (const auto& d : topo.devices) plan.devices.push_back({d});
  const std::vector<double> share = topo.shares();

  // Per-layer costs: weights (without CPU-offloaded experts), KV cache, recurrent state.
  const uint64_t kv_row = quant::row_bytes(req.cache_k, c.head_dim) + quant::row_bytes(req.cache_v, c.head_dim);
  const uint64_t kv_layer = static_cast<uint64_t>(req.n_ctx) * req.n_sequences * c.n_head_kv * kv_row;
  const uint64_t rec_layer = static_cast<uint64_t>(req.n_sequences) * 4 *
                             (static_cast<uint64_t>(c.conv_kernel - 1) * c.conv_dim() +
                              static_cast<uint64_t>(c.ssm_dt_rank) * c.ssm_d_state * c.ssm_d_state);
  // CPU devices hold repacked copies of some weights (cpu_repack_growth), as load_placed makes them.
  const bool cpu_copied = req.cpu_huge_pages && file.is_mapped() && util::huge_pages_available();
  std::vector<uint64_t> layer_w(c.n_layer, 0), layer_grow(c.n_layer, 0);
  uint64_t global_first = 0, global_last = 0, first_grow = 0, last_grow = 0;
  for (const auto& t : file.tensors()) {
    plan.model_bytes += t.n_bytes;
    const int l = layer_of(t.name);
    if (l >= c.n_layer) throw Error(ErrorCode::kCorruptFile, fmt::format("plan: tensor '{}' beyond block_count", t.name));
    const uint64_t grow = cpu_repack_growth(t, cpu_copied);
    if (l >= 0 && is_routed_expert(t.name) && l < topo.cpu_moe_layers) {
      plan.cpu_expert_bytes += t.n_bytes + grow;
      continue;
    }
    // The CPU experts route for themselves: a copy of the router goes with them.
    if (l >= 0 && l < topo.cpu_moe_layers && t.name == fmt::format("blk.{}.ffn_gate_inp.weight", l)) {
      plan.cpu_expert_bytes += t.n_bytes;
    }
    if (l >= 0) {
      layer_w[l] += t.n_bytes;
      layer_grow[l] += grow;
    } else if (t.name == "token_embd.weight") {
      global_first += t.n_bytes;
      first_grow += grow;
    } else {
      global_last += t.n_bytes;
      last_grow += grow;
    }
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    if (!c.recurrent[l]) plan.kv_cache_bytes += kv_layer;
  }

  if (topo.split == runtime::SplitMode::kLayer) {
    // Contiguous layers; each device's share of the total cost, in order.
    auto cost = [&](int64_t l) { return layer_w[l] + (c.recurrent[l] ? rec_layer : kv_layer); };
    uint64_t total = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) total += cost(l);
    int64_t l = 0;
    double target = 0;
    for (size_t d = 0; d < nd; ++d) {
      target += share[d] * static_cast<double>(total);
      DeviceUsage& u = plan.devices[d];
      uint64_t done = 0;
      for (size_t k = 0; k < d; ++k) done += plan.devices[k].weights + plan.devices[k].kv_cache + plan.devices[k].recurrent;
      const int64_t remaining_devices = static_cast<int64_t>(nd - d - 1);
      while (l < c.n_layer - remaining_devices &&
             (d + 1 == nd || u.first_layer < 0 || static_cast<double>(done + cost(l)) <= target + cost(l) / 2.0)) {
        if (u.first_layer < 0) u.first_layer = static_cast<int>(l);
        u.last_layer = static_cast<int>(l);
        u.weights += layer_w[l];
        (c.recurrent[l] ? u.recurrent : u.kv_cache) += cost(l) - layer_w[l];
        done += cost(l);
        if (u.device.kind == DeviceKind::kCpu) u.weights += layer_grow[l];
        ++l;
      }
    }
    auto cpu_grow = [&](const DeviceUsage& u, uint64_t g) { return u.device.kind == DeviceKind::kCpu ? g : 0; };
    plan.devices.front().weights += global_first + cpu_grow(plan.devices.front(), first_grow);
    plan.devices.back().weights += global_last + cpu_grow(plan.devices.back(), last_grow);
    // A tied LM head on another device than the embedding is a second copy there.
    if (nd > 1 && !file.find_tensor("output.weight")) {
      plan.devices.back().weights += global_first + cpu_grow(plan.devices.back(), first_grow);
    }
  } else {
    // Each device's slice of every tensor, KV cache and recurrent state, cut as the loader cuts them.
    const gguf::TensorInfo* down = file.find_tensor("blk.0.ffn_down_shexp.weight");
    const int64_t unit = down ? quant::type_info(down->type).block_size : 1;
    std::vector<std::string> names;
    for (const auto& d : topo.devices) names.push_back(d.name());
    plan.slices = plan_tensor_split(c, share, unit, names);
    const bool tied = file.find_tensor("output.weight") == nullptr;
    // The output projections are cut by input columns: in native mode only between blocks.
    const int64_t grp = c.n_head_kv ? c.n_head / c.n_head_kv : 0, r = c.ssm_n_group ? c.ssm_dt_rank / c.ssm_n_group : 0;
    for (const auto& t : file.tensors()) {
      const bool attn = has(t.name, "attn_output."), delta = has(t.name, "ssm_out.");
      if (!(attn || delta) || !plan.native_refusal.empty()) continue;
      const int64_t group_cols = attn ? grp * c.head_dim : r * c.ssm_d_state;
      const int64_t block = quant::type_info(t.type).block_size;
      for (const TensorSlice& s : plan.slices) {
        const Range heads = attn ? s.kv_heads : s.k_heads;
        if ((heads.begin * group_cols) % block || (heads.end * group_cols) % block) {
          plan.native_refusal = fmt::format(
              "tensor split: {} is {} ({}-element blocks) and would be cut at columns [{}, {}), inside a block; use "
              "--split layer (or --exact, which computes on f32 copies)",
              t.name, quant::type_info(t.type).name, block, heads.begin * group_cols, heads.end * group_cols);
          break;
        }
      }
    }
    for (size_t d = 0; d < nd; ++d) {
      DeviceUsage& u = plan.devices[d];
      const TensorSlice& s = plan.slices[d];
      for (const auto& t : file.tensors()) {
        const int l = layer_of(t.name);
        if (l >= 0 && l < topo.cpu_moe_layers && is_routed_expert(t.name)) continue;
        const uint64_t bytes = t.n_bytes + (u.device.kind == DeviceKind::kCpu ? cpu_repack_growth(t, cpu_copied) : 0);
        if (t.name == "token_embd.weight") {
          if (d == 0) u.weights += bytes;
          if (tied && nd > 1) u.weights += bytes / static_cast<uint64_t>(c.n_vocab) * s.vocab.size();
          continue;
        }
        u.weights += tensor_split_bytes(t.name, bytes, c, s);
      }
      for (int64_t l = 0; l < c.n_layer; ++l) {
        if (c.recurrent[l]) u.recurrent += rec_layer / static_cast<uint64_t>(c.ssm_n_group) * s.k_heads.size();
        else u.kv_cache += kv_layer / static_cast<uint64_t>(c.n_head_kv) * s.kv_heads.size();
      }
    }
  }
  for (DeviceUsage& u : plan.devices) u.workspace = workspace_bytes(c, u.device.kind, req.n_batch);
  return plan;
}

}  // namespace nextlm::model
