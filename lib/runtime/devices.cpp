#include "runtime/devices.h"

#include "nextlm/error.h"
#include "runtime/cpu/cpu_backend.h"

#ifdef NEXTLM_HAVE_CUDA
#include "backend_factory.h"  // cuda/: plain C++, no CUDA headers
#endif

namespace nextlm::runtime {

std::unique_ptr<Backend> make_backend(const std::string& device, int cpu_threads) {
  if (device == "cpu") return std::make_unique<CpuBackend>(cpu_threads);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 4) {
      const std::string n = device.substr(5);
      if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos) {
        throw Error(ErrorCode::kInvalidArgument, "bad device '" + device + "' (cpu, cuda or cuda:N)");
      }
      index = std::stoi(n);
    }
#ifdef NEXTLM_HAVE_CUDA
    return cuda::make_cuda_backend(index);
#else
    (void)index;
    throw Error(ErrorCode::kUnsupported, "device " + device + ": this nextlm was built without CUDA support");
#endif
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown device '" + device + "' (cpu, cuda or cuda:N)");
}

double cuda_read_bandwidth_gbs(int index) {
#ifdef NEXTLM_HAVE_CUDA
  return cuda::measure_read_bandwidth_gbs(index);
#else
  throw Error(ErrorCode::kUnsupported,
              "cuda:" + std::to_string(index) + ": this nextlm was built without CUDA support");
#endif
}

}  // namespace nextlm::runtime
