// The NCCL communicator with one rank on one GPU (all a single-GPU machine
// can run): the collectives are identities, on the backend's stream. Tagged
// [gpu]; test_main.cpp reports SKIPPED without a CUDA device.
#include <catch2/catch.hpp>

#include <vector>

#include "cuda/backend_factory.h"
#include "runtime/collectives.h"
#include "runtime/cpu/cpu_backend.h"

using namespace nextlm;

TEST_CASE("cuda: NCCL communicator with one rank", "[.][gpu][nccl]") {
  REQUIRE(cuda::backend_device_count() > 0);
  auto gpu = cuda::make_cuda_backend(0);
  std::vector<runtime::Backend*> ranks{gpu.get()};
  auto comm = cuda::make_nccl_communicator(ranks);
  REQUIRE(comm);
  REQUIRE(comm->size() == 1);
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  auto buf = gpu->alloc(host.size() * sizeof(float));
  gpu->from_host(host.data(), buf->data(), host.size() * sizeof(float));
  float* p = buf->f32();
  comm->all_reduce_sum(std::span<float* const>(&p, 1), host.size());
  void* v = buf->data();
  comm->broadcast(0, std::span<void* const>(&v, 1), host.size() * sizeof(float));
  auto gathered = gpu->alloc(host.size() * sizeof(float));
  const void* s = buf->data();
  void* g = gathered->data();
  comm->all_gather(std::span<const void* const>(&s, 1), std::span<void* const>(&g, 1), host.size() * sizeof(float));
  comm->barrier();
  std::vector<float> back(host.size());
  gpu->to_host(gathered->data(), back.data(), back.size() * sizeof(float));
  gpu->synchronize();
  CHECK(back == host);
  // A CPU rank is not NCCL's: the factory declines, and make_communicator falls back to the host one.
  runtime::CpuBackend cpu(1);
  std::vector<runtime::Backend*> mixed{gpu.get(), &cpu};
  CHECK(cuda::make_nccl_communicator(mixed) == nullptr);
  CHECK(runtime::make_communicator(mixed)->size() == 2);
}
