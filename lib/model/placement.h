// Loading a model onto a topology: one backend per device, layers placed by
// the memory planner (layer split), the plan checked before any weight is
// touched (a model that does not fit is refused with the plan's table).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/memory_plan.h"
#include "model/qwen3next.h"
#include "runtime/backend.h"
#include "runtime/topology.h"

namespace nextlm::model {

struct PlacedModel {
  std::vector<std::unique_ptr<runtime::Backend>> backends;  // one per topology device
  std::unique_ptr<runtime::Backend> expert_backend;         // --cpu-moe: the host CPU
  std::unique_ptr<runtime::Communicator> comm;              // tensor split
  MemoryPlan plan;
  std::unique_ptr<Qwen3NextModel> model;  // declared last: destroyed before what it uses
};

// Layer split: layers placed by the plan. Tensor split: every device holds
// its slice (the plan's slices) of every layer. --cpu-moe N: the routed
// experts of layers [0, N) on a CPU backend of their own. cpu_threads is
// shared among the CPU devices of the topology (the expert backend uses
// them all: it runs while the devices wait). Throws kInvalidArgument for a
// split that cannot be made (a device without heads) and kOutOfMemory when
// the plan does not fit.
PlacedModel load_placed(const gguf::GgufFile& file, const runtime::Topology& topology, int cpu_threads,
                        runtime::ComputeMode mode, const PlanRequest& sizing,
                        const std::function<bool(float)>& progress = {});

}  // namespace nextlm::model
