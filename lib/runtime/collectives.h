// Collectives over the devices of one process: a communicator of N ranks,
// rank r being backend r. Every call takes all ranks' buffers at once (one
// host thread drives every device in rank order, as the forward pass does),
// so no rank ever waits for another thread: the CPU implementation is plain
// copies and the NCCL one groups the per-rank calls (ncclGroupStart/End).
// Buffers are memory of the rank's backend. Results are identical on every
// rank (the reduction is computed once, in rank order, then copied), so
// replicated activations stay bit-identical across devices.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "runtime/backend.h"

namespace nextlm::runtime {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int size() const = 0;
  // bufs[r] (n floats on rank r) becomes the elementwise sum over all ranks.
  virtual void all_reduce_sum(std::span<float* const> bufs, size_t n) = 0;
  // recv[r] (size() * bytes on rank r) becomes send[0] | send[1] | ... | send[N-1].
  virtual void all_gather(std::span<const void* const> send, std::span<void* const> recv, size_t bytes) = 0;
  // bufs[r] becomes a copy of bufs[root].
  virtual void broadcast(int root, std::span<void* const> bufs, size_t bytes) = 0;
  // Returns when every rank's queued work is done.
  virtual void barrier() = 0;
};

// Staged through host memory with the backends' to_host/from_host: works for
// any mix of backends (for CPU backends it is memcpy). The ranks' backends
// must outlive the communicator.
std::unique_ptr<Communicator> make_host_communicator(std::vector<Backend*> ranks);

// The best communicator for these backends: NCCL when every rank is a CUDA
// backend of a build with CUDA, else the host one.
std::unique_ptr<Communicator> make_communicator(std::vector<Backend*> ranks);

}  // namespace nextlm::runtime
