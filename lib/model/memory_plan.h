// Memory planning before loading: from the file's tensor table, the
// hyperparameters, a topology, the context size and the cache types, what
// each device would hold (weights, KV cache, recurrent state, workspace),
// which layers go where, and whether it fits. A model that does not fit is
// refused with this table and the shortfall.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/qwen3next_config.h"
#include "model/tensor_split.h"
#include "quant/types.h"
#include "runtime/topology.h"

namespace nextlm::model {

struct DeviceUsage {
  runtime::DeviceSpec device;
  uint64_t weights = 0, kv_cache = 0, recurrent = 0, workspace = 0;
  int first_layer = -1, last_layer = -1;  // layer split: the device's layers (inclusive); -1: none
  uint64_t total() const { return weights + kv_cache + recurrent + workspace; }
  bool fits() const { return device.memory_bytes == 0 || total() <= device.memory_bytes; }
};

struct MemoryPlan {
  runtime::Topology topology;
  std::vector<DeviceUsage> devices;
  std::vector<TensorSlice> slices;  // tensor split: what each device holds (load_placed uses these)
  uint64_t cpu_expert_bytes = 0;  // --cpu-moe: routed experts (and their routers) kept in host memory
  // Tensor split: why the native (quantized) mode cannot cut these weights
  // (an output projection cut inside a quantization block); empty when it can.
  std::string native_refusal;
  uint64_t model_bytes = 0;       // all tensor data in the file
  uint64_t kv_cache_bytes = 0;    // all devices together
  bool fits() const;
  uint64_t shortfall() const;     // largest missing amount on one device
  std::string table() const;      // the human-readable report
};

struct PlanRequest {
  int64_t n_ctx = 4096;
  quant::Type cache_k = quant::Type::F16, cache_v = quant::Type::F16;
  int64_t n_batch = 512;
  int n_sequences = 1;
  // Weights the CPU computes with are copied from a mapped file into 2 MiB
  // pages (load_placed): decode reads all of them every token, and on 4 KiB
  // file pages TLB misses cost ~40% of its speed. Off: used in place.
  bool cpu_huge_pages = true;
};

// Throws kInvalidArgument for a tensor split that cannot be made (a device
// would get no heads or no experts).
MemoryPlan plan_memory(const gguf::GgufFile& file, const Qwen3NextConfig& config, const runtime::Topology& topology,
                       const PlanRequest& request);

}  // namespace nextlm::model
