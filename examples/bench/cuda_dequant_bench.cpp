// GPU dequantization throughput per type: a 4096 x 4096 random matrix of
// each type is dequantized to f32 repeatedly. Prints one line per type with
// time, GB/s read (quantized bytes), GB/s written (f32) and a hash of the
// output, so runs can be compared for equality as well as speed.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cstdio>
#include <vector>

#include "dequant.h"
#include "device.h"
#include "cuda_status.h"
#include "nextlm/error.h"
#include "quant/random_blocks.h"
#include "quant/types.h"

using namespace nextlm;

namespace {

uint64_t fnv1a(const void* data, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

int main() {
  try {
    auto devices = cuda::list_devices();
    if (devices.empty()) {
      std::printf("no CUDA device\n");
      return 0;
    }
    const auto& d = devices[0];
    fmt::print("device: {} (sm_{}{}, {} SMs, {:.1f} GiB)\n", d.name, d.cc_major, d.cc_minor, d.multiprocessors,
               d.total_bytes / double(1ull << 30));
    const int64_t n_per_row = 4096, n_rows = 4096, iters = 20;
    cuda::Stream stream(0);
    cudaEvent_t e0, e1;
    NLM_CUDA_CHECK(cudaEventCreate(&e0));
    NLM_CUDA_CHECK(cudaEventCreate(&e1));
    cuda::DeviceBuffer out(0, n_per_row * n_rows * sizeof(float));
    fmt::print("{:<8} {:>10} {:>12} {:>12} {:>18}\n", "type", "us/matrix", "read GB/s", "write GB/s", "output hash");
    for (uint32_t id = 0; id < 64; ++id) {
      const quant::TypeInfo* ti = quant::type_info(id);
      if (!ti || !ti->can_dequantize || ti->type == quant::Type::F32 || ti->block_size > n_per_row) continue;
      size_t row = quant::row_bytes(ti->type, n_per_row);
      std::vector<uint8_t> host(row * n_rows);
      util::Rng rng(id);
      for (int64_t r = 0; r < n_rows; ++r) quant::fill_random_row(ti->type, rng, host.data() + r * row, n_per_row, 0.05f);
      cuda::DeviceBuffer src(0, host.size());
      NLM_CUDA_CHECK(cudaMemcpy(src.data(), host.data(), host.size(), cudaMemcpyHostToDevice));
      auto run = [&] {
        NLM_CUDA_CHECK(cuda::dequantize_rows(ti->type, src.data(), out.as<float>(), n_per_row, n_rows, stream.get()));
      };
      run();  // warm-up
      NLM_CUDA_CHECK(cudaEventRecord(e0, stream.get()));
      for (int i = 0; i < iters; ++i) run();
      NLM_CUDA_CHECK(cudaEventRecord(e1, stream.get()));
      stream.synchronize();
      float ms = 0;
      NLM_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
      double s = ms / 1e3 / iters;
      std::vector<float> back(n_per_row * n_rows);
      NLM_CUDA_CHECK(cudaMemcpy(back.data(), out.data(), back.size() * 4, cudaMemcpyDeviceToHost));
      fmt::print("{:<8} {:>10.1f} {:>12.1f} {:>12.1f} {:>18x}\n", ti->name, s * 1e6, host.size() / s / 1e9,
                 back.size() * 4 / s / 1e9, fnv1a(back.data(), back.size() * 4));
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
