// Choosing a backend by device name: "cpu", "cuda" (device 0) or "cuda:N".
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace nextlm::runtime {

// Throws nextlm::Error: kInvalidArgument for a malformed name, kUnsupported
// for CUDA in a build without it, and what the backend throws (no such device).
std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads);

// CUDA device `index`'s measured streaming-read bandwidth in GB/s, for
// roofline figures. Throws nextlm::Error: kUnsupported in a build without
// CUDA, else what cuda/'s measurement throws (no such device, no memory).
double cuda_read_bandwidth_gbs(int index);

}  // namespace nextlm::runtime
