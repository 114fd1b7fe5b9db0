// The bandwidth kernel behind `nextlm bench --device cuda`'s roofline: its
// sum proves that every byte was read (else the timing would flatter), for
// any grid size and a length that is no multiple of the grid's stride.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/backend_factory.h"
#include "cuda/bandwidth.h"
#include "cuda/cuda_status.h"
#include "cuda/device.h"
#include "nextlm/error.h"
#include "util/rng.h"

using namespace nextlm;

TEST_CASE("gpu bandwidth: read_sum_u32 adds every word for any grid", "[.][gpu]") {
  const size_t n_words = 4 * 12345 + 4;  // whole 16-byte groups, an odd count of them
  std::vector<uint32_t> host(n_words);
  util::Rng rng(7);
  unsigned long long want = 0;
  for (auto& w : host) {
    w = static_cast<uint32_t>(rng.below(uint64_t{1} << 32));
    want += w;
  }
  cuda::Stream stream(0);
  cuda::DeviceBuffer buf(0, n_words * 4), sum(0, sizeof(unsigned long long));
  NLM_CUDA_CHECK(cudaMemcpyAsync(buf.data(), host.data(), n_words * 4, cudaMemcpyHostToDevice, stream.get()));
  for (int blocks : {1, 3, 7, 1000}) {
    INFO("blocks " << blocks);
    NLM_CUDA_CHECK(cudaMemsetAsync(sum.data(), 0, sizeof(unsigned long long), stream.get()));
    REQUIRE(cuda::read_sum_u32(buf.data(), n_words * 4, sum.as<unsigned long long>(), blocks, stream.get()) ==
            cudaSuccess);
    unsigned long long got = 0;
    NLM_CUDA_CHECK(cudaMemcpyAsync(&got, sum.data(), sizeof got, cudaMemcpyDeviceToHost, stream.get()));
    stream.synchronize();
    CHECK(got == want);
  }
  auto* s = sum.as<unsigned long long>();
  CHECK(cuda::read_sum_u32(buf.data(), 8, s, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::read_sum_u32(buf.as<uint8_t>() + 4, 16, s, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::read_sum_u32(buf.data(), 16, s, 0, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::read_sum_u32(buf.data(), 16, nullptr, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::read_sum_u32(nullptr, 0, s, 1, stream.get()) == cudaSuccess);
}

TEST_CASE("gpu bandwidth: measured on a device, refused for a missing one", "[.][gpu]") {
  const double gbs = cuda::measure_read_bandwidth_gbs(0);
  INFO("cuda:0 reads at " << gbs << " GB/s");
  CHECK(std::isfinite(gbs));
  CHECK(gbs > 10.0);  // any CUDA GPU's memory; a broken timing gives ~0 or inf
  CHECK_THROWS_AS(cuda::measure_read_bandwidth_gbs(cuda::device_count()), Error);
  CHECK_THROWS_AS(cuda::measure_read_bandwidth_gbs(-1), Error);
}
