// GPU dequantization (cuda::dequantize_rows) against the CPU
// (quant::dequantize_row), bit for bit. The test cases are tagged [gpu] and
// hidden ([.]) so that a plain run leaves them out; test_main.cpp reports
// SKIPPED (exit 77) for a "[gpu]" run on a machine without a CUDA device.
// Built only with the CUDA backend; uses its host API (no kernels here).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cuda/cuda_status.h"
#include "cuda/dequant.h"
#include "cuda/device.h"
#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "nextlm/error.h"
#include "quant/dequant.h"
#include "quant/random_blocks.h"
#include "quant/types.h"
#include "util/rng.h"

// Asked by test_main.cpp before a "[gpu]" run.
bool nextlm_test_have_gpu() {
  return nextlm::cuda::device_count() > 0;
}

using namespace nextlm;

namespace {

constexpr uint32_t kSentinel = 0xFFFFFFFFu;  // a NaN no decoder produces from valid data
constexpr size_t kGuardFloats = 64;          // checked after dst: no writes past the end

// Copies `n_bytes` at `bytes` to the device `misalign` bytes past an
// allocation's start (unaligned rows when misalign != 0), dequantizes them as
// n_rows x n_per_row elements of type t and returns the floats. The output
// starts as sentinel NaNs, and a guard region after it must stay untouched.
std::vector<float> gpu_dequant(quant::Type t, const void* bytes, size_t n_bytes, int64_t n_per_row, int64_t n_rows,
                               size_t misalign) {
  const size_t n = static_cast<size_t>(n_per_row) * static_cast<size_t>(n_rows);
  cuda::Stream stream(0);
  cuda::DeviceBuffer src(0, n_bytes + misalign + 1);
  cuda::DeviceBuffer dst(0, (n + kGuardFloats) * sizeof(float));
  NLM_CUDA_CHECK(cudaMemcpyAsync(src.as<uint8_t>() + misalign, bytes, n_bytes, cudaMemcpyHostToDevice, stream.get()));
  NLM_CUDA_CHECK(cudaMemsetAsync(dst.data(), 0xFF, dst.size(), stream.get()));
  const cudaError_t err =
      cuda::dequantize_rows(t, src.as<uint8_t>() + misalign, dst.as<float>(), n_per_row, n_rows, stream.get());
  REQUIRE(err == cudaSuccess);
  std::vector<float> out(n + kGuardFloats);
  NLM_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), dst.data(), out.size() * sizeof(float), cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  size_t guard_touched = 0;
  for (size_t i = n; i < out.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &out[i], 4);
    guard_touched += bits != kSentinel;
  }
  CHECK(guard_touched == 0);
  out.resize(n);
  return out;
}

std::vector<float> cpu_dequant(quant::Type t, const uint8_t* bytes, int64_t n_per_row, int64_t n_rows) {
  std::vector<float> out(static_cast<size_t>(n_per_row) * static_cast<size_t>(n_rows));
  const size_t rb = quant::row_bytes(t, n_per_row);
  for (int64_t r = 0; r < n_rows; ++r) quant::dequantize_row(t, bytes + r * rb, out.data() + r * n_per_row, n_per_row);
  return out;
}

// Values whose bit patterns differ (so -0.0 vs 0.0 and NaN payloads count);
// with any_nan, a NaN matches any NaN (GPUs return a canonical NaN from
// arithmetic on NaNs, x86 propagates the input's payload).
size_t mismatches(const std::vector<float>& a, const std::vector<float>& b, bool any_nan = false) {
  REQUIRE(a.size() == b.size());
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x == y || (any_nan && std::isnan(a[i]) && std::isnan(b[i]))) continue;
    if (bad == 0) UNSCOPED_INFO("first mismatch at " << i << ": cpu " << a[i] << " gpu " << b[i]);
    ++bad;
  }
  return bad;
}

// Every type that the CPU dequantizes.
std::vector<const quant::TypeInfo*> cpu_types() {
  std::vector<const quant::TypeInfo*> out;
  for (uint32_t id = 0; id < 64; ++id)
    if (const quant::TypeInfo* ti = quant::type_info(id); ti && ti->can_dequantize) out.push_back(ti);
  return out;
}

}  // namespace

TEST_CASE("gpu dequant: random blocks of every type match the CPU bit for bit", "[.][gpu]") {
  const auto types = cpu_types();
  REQUIRE(types.size() >= 30);
  int case_no = 0;
  for (const quant::TypeInfo* ti : types) {
    // Row lengths of 1, 3 and 16 blocks, and one long row set (1M elements per
    // row, many thread blocks); odd row counts; rows unaligned on the device.
    struct Shape {
      int64_t n_per_row, n_rows;
    };
    std::vector<Shape> shapes;
    for (int64_t k : {1, 3, 16})
      for (int64_t rows : {1, 7, 33}) shapes.push_back({k * ti->block_size, rows});
    shapes.push_back({int64_t{1} << 20, 3});
    for (const Shape& s : shapes) {
      ++case_no;
      INFO("type " << ti->name << ", " << s.n_rows << " rows of " << s.n_per_row);
      const size_t rb = quant::row_bytes(ti->type, s.n_per_row);
      std::vector<uint8_t> bytes(rb * s.n_rows);
      util::Rng rng(1000 + case_no);
      for (int64_t r = 0; r < s.n_rows; ++r) {
        const float scale = (r % 3 == 0) ? 1.0f : (r % 3 == 1) ? 0.03f : 200.0f;
        quant::fill_random_row(ti->type, rng, bytes.data() + r * rb, s.n_per_row, scale);
      }
      const auto cpu = cpu_dequant(ti->type, bytes.data(), s.n_per_row, s.n_rows);
      const auto gpu = gpu_dequant(ti->type, bytes.data(), bytes.size(), s.n_per_row, s.n_rows, case_no % 4);
      CHECK(mismatches(cpu, gpu) == 0);
    }
  }
}

TEST_CASE("gpu dequant: arbitrary bytes match the CPU (any NaN matches any NaN)", "[.][gpu]") {
  // Random bit patterns give NaN/Inf/subnormal scales and every code value.
  for (const quant::TypeInfo* ti : cpu_types()) {
    INFO("type " << ti->name);
    const int64_t n_per_row = 64 * 256, n_rows = 5;
    std::vector<uint8_t> bytes(quant::row_bytes(ti->type, n_per_row) * n_rows);
    util::Rng rng(77 + static_cast<uint64_t>(ti->type));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng.next_u64() >> 56);
    const auto cpu = cpu_dequant(ti->type, bytes.data(), n_per_row, n_rows);
    const auto gpu = gpu_dequant(ti->type, bytes.data(), bytes.size(), n_per_row, n_rows, 1);
    CHECK(mismatches(cpu, gpu, /*any_nan=*/true) == 0);
  }
}

TEST_CASE("gpu dequant: rejects unsupported types and bad sizes", "[.][gpu]") {
  cuda::Stream stream(0);
  cuda::DeviceBuffer src(0, 4096), dst(0, 4096 * sizeof(float));
  const auto* s = src.as<uint8_t>();
  float* d = dst.as<float>();
  // Types without a CPU dequantizer have none on the GPU either.
  for (uint32_t id = 0; id < 64; ++id) {
    const quant::TypeInfo* ti = quant::type_info(id);
    if (!ti || ti->can_dequantize) continue;
    INFO("type " << ti->name);
    CHECK(cuda::dequantize_rows(ti->type, s, d, ti->block_size, 1, stream.get()) == cudaErrorInvalidValue);
  }
  CHECK(cuda::dequantize_rows(static_cast<quant::Type>(999), s, d, 32, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_K, s, d, 100, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, s, d, 48, 0, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, s, d, -32, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, s, d, 32, -1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, nullptr, d, 32, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::F16, s, nullptr, 8, 1, stream.get()) == cudaErrorInvalidValue);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, s, d, int64_t{1} << 40, int64_t{1} << 40, stream.get()) ==
        cudaErrorInvalidValue);
  // Nothing to do is fine, even with null pointers.
  CHECK(cuda::dequantize_rows(quant::Type::Q4_0, nullptr, nullptr, 32, 0, stream.get()) == cudaSuccess);
  CHECK(cuda::dequantize_rows(quant::Type::Q4_K, nullptr, nullptr, 0, 5, stream.get()) == cudaSuccess);
  stream.synchronize();
}

TEST_CASE("gpu dequant: zoo tensors match the CPU and ggml bit for bit", "[.][gpu][fixtures]") {
  if (!test::have_fixtures())
    FAIL("fixtures not found at " << test::fixtures_dir() << " (set NEXTLM_FIXTURES, or run \"[gpu]~[fixtures]\")");
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-zoo.gguf"));
  size_t checked = 0, i = 0;
  for (const gguf::TensorInfo& t : f->tensors()) {
    INFO("tensor " << t.name << " (" << quant::type_info(t.type).name << ")");
    REQUIRE(quant::type_info(t.type).can_dequantize);
    const auto cpu = cpu_dequant(t.type, t.data, t.ne[0], t.n_rows());
    const auto gpu = gpu_dequant(t.type, t.data, t.n_bytes, t.ne[0], t.n_rows(), i++ % 4);
    CHECK(mismatches(cpu, gpu) == 0);
    checked += gpu.size();
  }
  CHECK(checked > 0);

  // And the rows that ggml dequantized itself (the fixtures' reference).
  auto index_bytes = test::read_file(test::fixture("refs/tiny-qwen3next-zoo.dequant-rows.json"));
  auto index = nlohmann::json::parse(index_bytes.begin(), index_bytes.end());
  auto ref_bytes = test::read_file(test::fixture("refs/tiny-qwen3next-zoo.dequant-rows.f32"));
  for (const auto& e : index["tensors"]) {
    const std::string name = e["name"];
    INFO("reference rows of " << name);
    const gguf::TensorInfo* t = f->find_tensor(name);
    REQUIRE(t);
    const int64_t ne0 = e["ne0"], rows = e["rows"];
    const size_t off = e["offset_floats"];
    REQUIRE((off + rows * ne0) * 4 <= ref_bytes.size());
    std::vector<float> ref(rows * ne0);
    std::memcpy(ref.data(), ref_bytes.data() + off * 4, ref.size() * 4);
    const auto gpu = gpu_dequant(t->type, t->data, rows * t->row_bytes(), ne0, rows, 3);
    CHECK(mismatches(ref, gpu) == 0);
  }
}

TEST_CASE("gpu: an impossible allocation throws kOutOfMemory with the free memory", "[.][gpu]") {
  try {
    cuda::DeviceBuffer huge(0, size_t{1} << 50);  // 1 PiB
    FAIL("allocated 1 PiB");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kOutOfMemory);
    CHECK_THAT(e.what(), Catch::Contains("free"));
  }
  // The failure leaves no sticky error behind: the device still works.
  std::vector<uint8_t> bytes(quant::row_bytes(quant::Type::Q8_0, 256));
  util::Rng rng(5);
  quant::fill_random_row(quant::Type::Q8_0, rng, bytes.data(), 256, 1.0f);
  CHECK(mismatches(cpu_dequant(quant::Type::Q8_0, bytes.data(), 256, 1),
                   gpu_dequant(quant::Type::Q8_0, bytes.data(), bytes.size(), 256, 1, 0)) == 0);
}
