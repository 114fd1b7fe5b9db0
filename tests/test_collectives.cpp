// The host communicator over 2 and 3 virtual CPU devices: every collective
// gives the same bits on every rank, and the sum is taken in rank order.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "nextlm/error.h"
#include "runtime/collectives.h"
#include "runtime/cpu/cpu_backend.h"

using namespace nextlm;

TEST_CASE("collectives: host communicator over 2 and 3 CPU ranks", "[collectives]") {
  for (int n : {2, 3}) {
    INFO(n << " ranks");
    std::vector<std::unique_ptr<runtime::CpuBackend>> own;
    std::vector<runtime::Backend*> ranks;
    for (int r = 0; r < n; ++r) ranks.push_back(own.emplace_back(std::make_unique<runtime::CpuBackend>(1)).get());
    auto comm = runtime::make_host_communicator(ranks);
    REQUIRE(comm->size() == n);

    const size_t len = 37;
    std::vector<std::unique_ptr<runtime::Buffer>> bufs;
    std::vector<float*> ptrs;
    for (int r = 0; r < n; ++r) {
      bufs.push_back(ranks[r]->alloc(len * sizeof(float)));
      ptrs.push_back(bufs.back()->f32());
      for (size_t i = 0; i < len; ++i) ptrs[r][i] = 0.1f * static_cast<float>(r + 1) + static_cast<float>(i);
    }
    comm->all_reduce_sum(ptrs, len);
    for (size_t i = 0; i < len; ++i) {
      float want = 0.1f + static_cast<float>(i);  // rank 0, then ranks 1.. added in order
      for (int r = 1; r < n; ++r) want += 0.1f * static_cast<float>(r + 1) + static_cast<float>(i);
      for (int r = 0; r < n; ++r) REQUIRE(ptrs[r][i] == want);
    }

    // all_gather: rank r sends 5 bytes of value r; everyone receives 0..n-1 in order.
    std::vector<std::unique_ptr<runtime::Buffer>> send, recv;
    std::vector<const void*> sp;
    std::vector<void*> rp;
    for (int r = 0; r < n; ++r) {
      send.push_back(ranks[r]->alloc(5));
      std::memset(send.back()->data(), r, 5);
      sp.push_back(send.back()->data());
      recv.push_back(ranks[r]->alloc(5 * n));
      rp.push_back(recv.back()->data());
    }
    comm->all_gather(sp, rp, 5);
    for (int r = 0; r < n; ++r) {
      const auto* b = static_cast<const uint8_t*>(rp[r]);
      for (int i = 0; i < 5 * n; ++i) REQUIRE(b[i] == i / 5);
    }

    // broadcast from the last rank.
    std::vector<void*> bp;
    for (int r = 0; r < n; ++r) {
      std::memset(recv[r]->data(), 10 + r, 5);
      bp.push_back(recv[r]->data());
    }
    comm->broadcast(n - 1, bp, 5);
    for (int r = 0; r < n; ++r) {
      for (int i = 0; i < 5; ++i) REQUIRE(static_cast<const uint8_t*>(bp[r])[i] == 10 + n - 1);
    }
    comm->barrier();

    // Wrong rank counts and roots are errors, not crashes.
    CHECK_THROWS_AS(comm->all_reduce_sum(std::span<float* const>(ptrs.data(), 1), len), Error);
    CHECK_THROWS_AS(comm->broadcast(n, bp, 5), Error);
  }
  CHECK_THROWS_AS(runtime::make_host_communicator({}), Error);
}
