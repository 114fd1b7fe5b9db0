// Where a model runs: a value type naming the devices (with their memory),
// how the model is split over them, the split ratios, and which layers keep
// their routed experts on the CPU. Parsed from the same option strings for
// every program: --devices cuda:0,cuda:1 --split layer --tensor-split 1,1
// --device-memory 12G,12G --cpu-moe N.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::runtime {

enum class DeviceKind { kCpu, kCuda };
enum class SplitMode { kLayer, kTensor };

struct DeviceSpec {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;
  uint64_t memory_bytes = 0;  // 0: not limited (host memory) or unknown
  std::string name() const;   // "cpu:0", "cuda:1"
};

struct Topology {
  std::vector<DeviceSpec> devices;
  SplitMode split = SplitMode::kLayer;
  std::vector<double> ratios;  // one per device; empty: by memory, else equal
  int cpu_moe_layers = 0;      // routed experts of layers [0, N) run on the CPU

  // Throws nextlm::Error(kInvalidArgument) naming the bad option.
  static Topology parse(std::string_view devices, std::string_view split = "layer", std::string_view ratios = "",
                        std::string_view memory = "", int cpu_moe_layers = 0);
  // Ratios summing to 1 (from `ratios`, else from memory, else equal).
  std::vector<double> shares() const;
};

// "12G", "12GiB", "512M", "1.5g", "4096" (bytes); binary units.
uint64_t parse_bytes(std::string_view text);
std::string format_bytes(uint64_t bytes);  // "11.38 GiB"

}  // namespace nextlm::runtime
