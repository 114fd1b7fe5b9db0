// runtime::Communicator over NCCL: one communicator per rank from
// ncclCommInitAll, every collective issued for all ranks from this thread
// inside ncclGroupStart/End (required when one thread drives several
// devices), on each rank's backend stream, so it is ordered with the ops
// around it without extra synchronization.
#include <nccl.h>

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "backend_factory.h"
#include "cuda_backend.h"
#include "nextlm/error.h"

namespace nextlm::cuda {

namespace {

void check_nccl(ncclResult_t r, const char* call) {
  if (r != ncclSuccess) {
    throw Error(ErrorCode::kInternal, fmt::format("{} failed: {}", call, ncclGetErrorString(r)));
  }
}
#define NLM_NCCL_CHECK(call) check_nccl((call), #call)

class NcclCommunicator final : public runtime::Communicator {
 public:
  explicit NcclCommunicator(std::vector<CudaBackend*> ranks) : ranks_(std::move(ranks)), comms_(ranks_.size()) {
    std::vector<int> devices;
    for (CudaBackend* b : ranks_) devices.push_back(b->device());
    NLM_NCCL_CHECK(ncclCommInitAll(comms_.data(), static_cast<int>(comms_.size()), devices.data()));
  }
  ~NcclCommunicator() override {
    for (ncclComm_t c : comms_) ncclCommDestroy(c);
  }
  int size() const override { return static_cast<int>(ranks_.size()); }

  void all_reduce_sum(std::span<float* const> bufs, size_t n) override {
    check(bufs.size());
    NLM_NCCL_CHECK(ncclGroupStart());
    for (size_t r = 0; r < ranks_.size(); ++r) {
      NLM_NCCL_CHECK(ncclAllReduce(bufs[r], bufs[r], n, ncclFloat32, ncclSum, comms_[r], ranks_[r]->stream()));
    }
    NLM_NCCL_CHECK(ncclGroupEnd());
  }

  void all_gather(std::span<const void* const> send, std::span<void* const> recv, size_t bytes) override {
    check(send.size());
    check(recv.size());
    NLM_NCCL_CHECK(ncclGroupStart());
    for (size_t r = 0; r < ranks_.size(); ++r) {
      NLM_NCCL_CHECK(ncclAllGather(send[r], recv[r], bytes, ncclUint8, comms_[r], ranks_[r]->stream()));
    }
    NLM_NCCL_CHECK(ncclGroupEnd());
  }

  void broadcast(int root, std::span<void* const> bufs, size_t bytes) override {
    check(bufs.size());
    if (root < 0 || root >= size()) throw Error(ErrorCode::kInvalidArgument, "broadcast: bad root rank");
    NLM_NCCL_CHECK(ncclGroupStart());
    for (size_t r = 0; r < ranks_.size(); ++r) {
      // In place: the send buffer is read on the root only.
      NLM_NCCL_CHECK(ncclBroadcast(bufs[r], bufs[r], bytes, ncclUint8, root, comms_[r], ranks_[r]->stream()));
    }
    NLM_NCCL_CHECK(ncclGroupEnd());
  }

  void barrier() override {
    for (CudaBackend* b : ranks_) b->synchronize();
  }

 private:
  void check(size_t n) const {
    if (n != ranks_.size()) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("collective: {} buffers for {} ranks", n, ranks_.size()));
    }
  }
  std::vector<CudaBackend*> ranks_;
  std::vector<ncclComm_t> comms_;
};

}  // namespace

std::unique_ptr<runtime::Communicator> make_nccl_communicator(const std::vector<runtime::Backend*>& ranks) {
  std::vector<CudaBackend*> cuda;
  std::vector<int> devices;
  for (runtime::Backend* b : ranks) {
    auto* c = dynamic_cast<CudaBackend*>(b);
    if (!c) return nullptr;
    cuda.push_back(c);
    devices.push_back(c->device());
  }
  std::sort(devices.begin(), devices.end());
  if (cuda.empty() || std::adjacent_find(devices.begin(), devices.end()) != devices.end()) return nullptr;
  return std::make_unique<NcclCommunicator>(std::move(cuda));
}

}  // namespace nextlm::cuda
