// Choosing a backend by device name: "cpu", "cuda" (device 0) or "cuda:N".
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.h"

namespace nextlm::runtime {

// Throws nextlm::Error: kInvalidArgument for a malformed name, kUnsupported
// for CUDA in a build without it, and what the backend throws (no such device).
std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads);

}  // namespace nextlm::runtime
