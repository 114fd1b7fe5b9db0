// Per-op GPU time, for finding what limits a figure without a system
// profiler: with NEXTLM_CUDA_OP_PROFILE=1 in the environment, every op the
// model calls on a CudaBackend is bracketed by two CUDA events on its stream
// (no host synchronisation per op), and the backend prints, when destroyed,
// each op's count, total and mean GPU time, share of the timed total, and the
// host time spent issuing it to stderr (GPU time close to host time means the
// GPU waited for the host: launch-bound). Ops an op calls internally (the matmuls inside moe) are not timed
// separately. Off, a scope costs one branch.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace nextlm::cuda {

class OpProfile {
 public:
  explicit OpProfile(int device);  // enabled by the environment variable
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;
  bool enabled() const { return enabled_; }

  // Times the ops between construction and destruction under "name a b"
  // (only the outermost scope of a nest is timed).
  class Scope {
   public:
    Scope(OpProfile& p, cudaStream_t s, const char* name, const char* a = nullptr, const char* b = nullptr);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    OpProfile* p_ = nullptr;  // null: profiling off
    bool timed_ = false;      // the outermost scope, with its start event
    cudaStream_t stream_ = nullptr;
    std::string name_;
    cudaEvent_t start_ = nullptr;
    std::chrono::steady_clock::time_point host0_;
  };

  // Prints the table (and forgets what it printed).
  void report();

 private:
  struct Pending {
    std::string name;
    cudaEvent_t start, stop;
    double host_ms;
  };
  struct Total {
    long count = 0;
    double ms = 0, host_ms = 0;
  };
  cudaEvent_t take_event();
  void settle();  // waits for the pending events and adds them to the totals

  bool enabled_ = false;
  int device_ = 0;
  int depth_ = 0;
  std::vector<cudaEvent_t> free_;
  std::vector<Pending> pending_;
  std::map<std::string, Total> totals_;
};

}  // namespace nextlm::cuda
