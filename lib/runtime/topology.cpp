#include "runtime/topology.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>

#include "nextlm/error.h"

namespace nextlm::runtime {

namespace {

[[noreturn]] void bad(std::string_view what) { throw Error(ErrorCode::kInvalidArgument, std::string(what)); }

std::vector<std::string> split_csv(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

double parse_number(const std::string& s, const char* what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(v) || v < 0) bad(fmt::format("bad {} '{}'", what, s));
  return v;
}

}  // namespace

std::string DeviceSpec::name() const { return fmt::format("{}:{}", kind == DeviceKind::kCpu ? "cpu" : "cuda", index); }

uint64_t parse_bytes(std::string_view text) {
  std::string s(text);
  double scale = 1;
  auto strip = [&](std::string_view suffix, double mult) {
    if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0) {
      s.resize(s.size() - suffix.size());
      scale = mult;
      return true;
    }
    return false;
  };
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  strip("IB", 1) || strip("B", 1);
  strip("K", 1024.0) || strip("M", 1048576.0) || strip("G", 1073741824.0) || strip("T", 1099511627776.0);
  const double v = parse_number(s, "memory size") * scale;
  if (v > 1e18) bad(fmt::format("memory size '{}' is too large", text));
  return static_cast<uint64_t>(v);
}

std::string format_bytes(uint64_t bytes) { return fmt::format("{:.2f} GiB", bytes / 1073741824.0); }

Topology Topology::parse(std::string_view devices, std::string_view split, std::string_view ratios,
                         std::string_view memory, int cpu_moe_layers) {
  Topology t;
  for (const std::string& d : split_csv(devices.empty() ? "cpu:0" : devices)) {
    DeviceSpec spec;
    std::string idx;
    if (d == "cpu" || d.rfind("cpu:", 0) == 0) {
      spec.kind = DeviceKind::kCpu;
      idx = d.size() > 3 ? d.substr(4) : "0";
    } else if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
      spec.kind = DeviceKind::kCuda;
      idx = d.size() > 4 ? d.substr(5) : "0";
    } else {
      bad(fmt::format("unknown device '{}' (cpu:N or cuda:N)", d));
    }
    if (idx.empty() || idx.size() > 3 || idx.find_first_not_of("0123456789") != std::string::npos) {
      bad(fmt::format("bad device index in '{}'", d));
    }
    spec.index = std::stoi(idx);
    for (const DeviceSpec& other : t.devices) {
      if (other.kind == spec.kind && other.index == spec.index) bad(fmt::format("device '{}' listed twice", d));
    }
    t.devices.push_back(spec);
  }
  if (split == "layer") t.split = SplitMode::kLayer;
  else if (split == "tensor") t.split = SplitMode::kTensor;
  else bad(fmt::format("unknown split mode '{}' (layer or tensor)", split));
  for (const std::string& r : split_csv(ratios)) t.ratios.push_back(parse_number(r, "split ratio"));
  if (!t.ratios.empty() && t.ratios.size() != t.devices.size()) bad("--tensor-split needs one ratio per device");
  if (!t.ratios.empty() && std::accumulate(t.ratios.begin(), t.ratios.end(), 0.0) <= 0) bad("split ratios sum to 0");
  const auto mem = split_csv(memory);
  if (!mem.empty() && mem.size() != t.devices.size()) bad("--device-memory needs one size per device");
  for (size_t i = 0; i < mem.size(); ++i) t.devices[i].memory_bytes = parse_bytes(mem[i]);
  if (cpu_moe_layers < 0) bad("--cpu-moe must not be negative");
  t.cpu_moe_layers = cpu_moe_layers;
  return t;
}

std::vector<double> Topology::shares() const {
  std::vector<double> w = ratios;
  if (w.empty()) {
    const bool all_known = std::all_of(devices.begin(), devices.end(), [](const DeviceSpec& d) { return d.memory_bytes > 0; });
    for (const DeviceSpec& d : devices) w.push_back(all_known ? static_cast<double>(d.memory_bytes) : 1.0);
  }
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w) x /= sum;
  return w;
}

}  // namespace nextlm::runtime
