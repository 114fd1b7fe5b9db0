#include "model/placement.h"

#include <fmt/format.h>

#include <algorithm>

#include "nextlm/error.h"
#include "runtime/devices.h"
#include "util/mapped_file.h"

namespace nextlm::model {

PlacedModel load_placed(const gguf::GgufFile& file, const runtime::Topology& topo, int cpu_threads,
                        runtime::ComputeMode mode, const PlanRequest& sizing,
                        const std::function<bool(float)>& progress) {
  Qwen3NextConfig config = Qwen3NextConfig::from_gguf(file);
  const gguf::TensorInfo* emb = file.find_tensor("token_embd.weight");
  config.n_vocab = emb && emb->n_dims == 2 ? emb->ne[1] : 0;

  PlacedModel p;
  p.plan = plan_memory(file, config, topo, sizing);
  if (!p.plan.fits()) {
    throw Error(ErrorCode::kOutOfMemory, "the model does not fit the devices:\n" + p.plan.table());
  }
  if (mode == runtime::ComputeMode::kNative && !p.plan.native_refusal.empty() && topo.devices.size() > 1) {
    throw Error(ErrorCode::kUnsupported, p.plan.native_refusal);  // before any weight is touched
  }
  const auto n_cpu = std::count_if(topo.devices.begin(), topo.devices.end(),
                                   [](const runtime::DeviceSpec& d) { return d.kind == runtime::DeviceKind::kCpu; });
  ModelLayout layout;
  for (const runtime::DeviceSpec& d : topo.devices) {
    const int threads = std::max(1, cpu_threads / static_cast<int>(std::max<int64_t>(1, n_cpu)));
    // CPU devices are all "cpu" to the factory: virtual devices, each with its own threads.
    p.backends.push_back(runtime::make_backend(d.kind == runtime::DeviceKind::kCpu ? "cpu" : d.name(), threads));
    layout.backends.push_back(p.backends.back().get());
  }
  if (topo.split == runtime::SplitMode::kTensor && topo.devices.size() > 1) {
    layout.slices = p.plan.slices;
    p.comm = runtime::make_communicator(layout.backends);
    layout.comm = p.comm.get();
  } else {
    layout.layer_device.assign(static_cast<size_t>(config.n_layer), 0);
    for (size_t d = 0; d < p.plan.devices.size(); ++d) {
      const DeviceUsage& u = p.plan.devices[d];
      for (int l = u.first_layer; l >= 0 && l <= u.last_layer; ++l) layout.layer_device[l] = static_cast<int>(d);
    }
  }
  if (topo.cpu_moe_layers > 0) {
    p.expert_backend = runtime::make_backend("cpu", std::max(1, cpu_threads));
    layout.expert_backend = p.expert_backend.get();
    layout.cpu_moe_layers = static_cast<int>(std::min<int64_t>(topo.cpu_moe_layers, config.n_layer));
  }
  // Copies of mapped weights for the CPU backends (PlanRequest::cpu_huge_pages);
  // exact mode makes its own f32 copies anyway.
  bool copied = false;
  if (sizing.cpu_huge_pages && file.is_mapped() && mode == runtime::ComputeMode::kNative &&
      util::huge_pages_available()) {
    std::vector<runtime::Backend*> all = layout.backends;
    if (layout.expert_backend) all.push_back(layout.expert_backend);
    for (runtime::Backend* b : all) copied = b->copy_mapped_weights(file.mapped_data(), file.file_size()) || copied;
  }
  p.model = std::make_unique<Qwen3NextModel>(file, std::move(layout), mode, progress);
  if (copied) file.release_pages();
  return p;
}

}  // namespace nextlm::model
