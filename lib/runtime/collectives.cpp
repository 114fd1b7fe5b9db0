#include "runtime/collectives.h"

#include <cstring>
#include <string>

#include "nextlm/error.h"

#ifdef NEXTLM_HAVE_CUDA
#include "backend_factory.h"  // cuda/: plain C++, no CUDA headers
#endif

namespace nextlm::runtime {

namespace {

class HostCommunicator final : public Communicator {
 public:
  explicit HostCommunicator(std::vector<Backend*> ranks) : ranks_(std::move(ranks)) {
    if (ranks_.empty()) throw Error(ErrorCode::kInvalidArgument, "communicator: no ranks");
  }
  int size() const override { return static_cast<int>(ranks_.size()); }

  void all_reduce_sum(std::span<float* const> bufs, size_t n) override {
    check(bufs.size());
    sum_.resize(n);
    part_.resize(n);
    // Rank order, once: every rank receives the same bits.
    ranks_[0]->to_host(bufs[0], sum_.data(), n * sizeof(float));
    ranks_[0]->synchronize();
    for (size_t r = 1; r < bufs.size(); ++r) {
      ranks_[r]->to_host(bufs[r], part_.data(), n * sizeof(float));
      ranks_[r]->synchronize();
      for (size_t i = 0; i < n; ++i) sum_[i] += part_[i];
    }
    for (size_t r = 0; r < bufs.size(); ++r) ranks_[r]->from_host(sum_.data(), bufs[r], n * sizeof(float));
    barrier();
  }

  void all_gather(std::span<const void* const> send, std::span<void* const> recv, size_t bytes) override {
    check(send.size());
    check(recv.size());
    bytes_.resize(bytes * send.size());
    for (size_t r = 0; r < send.size(); ++r) ranks_[r]->to_host(send[r], bytes_.data() + r * bytes, bytes);
    barrier();
    for (size_t r = 0; r < recv.size(); ++r) ranks_[r]->from_host(bytes_.data(), recv[r], bytes_.size());
    barrier();
  }

  void broadcast(int root, std::span<void* const> bufs, size_t bytes) override {
    check(bufs.size());
    if (root < 0 || root >= size()) throw Error(ErrorCode::kInvalidArgument, "broadcast: bad root rank");
    bytes_.resize(bytes);
    ranks_[root]->to_host(bufs[root], bytes_.data(), bytes);
    ranks_[root]->synchronize();
    for (size_t r = 0; r < bufs.size(); ++r) {
      if (static_cast<int>(r) != root) ranks_[r]->from_host(bytes_.data(), bufs[r], bytes);
    }
    barrier();
  }

  void barrier() override {
    for (Backend* b : ranks_) b->synchronize();
  }

 private:
  void check(size_t n) const {
    if (n != ranks_.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "collective: " + std::to_string(n) + " buffers for " + std::to_string(ranks_.size()) + " ranks");
    }
  }
  std::vector<Backend*> ranks_;
  std::vector<float> sum_, part_;
  std::vector<uint8_t> bytes_;
};

}  // namespace

std::unique_ptr<Communicator> make_host_communicator(std::vector<Backend*> ranks) {
  return std::make_unique<HostCommunicator>(std::move(ranks));
}

std::unique_ptr<Communicator> make_communicator(std::vector<Backend*> ranks) {
#ifdef NEXTLM_HAVE_CUDA
  if (auto nccl = cuda::make_nccl_communicator(ranks)) return nccl;
#endif
  return make_host_communicator(std::move(ranks));
}

}  // namespace nextlm::runtime
