// The CPU backend's element-wise math (runtime/cpu/cpu_math.h) against libm.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "quant/fp16.h"
#include "runtime/cpu/cpu_math.h"
#include "util/rng.h"

using namespace nextlm::runtime;

namespace {
// Distance in units in the last place between two finite floats of one sign.
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  return std::llabs(static_cast<int64_t>(ia) - ib);
}
}  // namespace

TEST_CASE("math: fast_exp is within 2 ulp of exp, edges included", "[math]") {
  int64_t worst = 0;
  float worst_x = 0.0f;
  for (float x = -110.0f; x < 90.0f; x += 0.000731f) {
    const float want = static_cast<float>(std::exp(static_cast<double>(x)));
    const float got = cpu::fast_exp(x);
    if (std::isinf(want)) {
      REQUIRE(std::isinf(got));
      continue;
    }
    REQUIRE(std::isfinite(got));
    REQUIRE(got >= 0.0f);
    const int64_t u = ulps(got, want);  // subnormals too: 1 ulp = 2^-149 there
    if (u > worst) worst = u, worst_x = x;
  }
  INFO("worst " << worst << " ulp at x = " << worst_x);
  CHECK(worst <= 2);
  CHECK(cpu::fast_exp(0.0f) == 1.0f);
  CHECK(cpu::fast_exp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(cpu::fast_exp(-200.0f) == 0.0f);
  CHECK(std::isinf(cpu::fast_exp(std::numeric_limits<float>::infinity())));
  CHECK(std::isinf(cpu::fast_exp(89.0f)));
  CHECK(std::isnan(cpu::fast_exp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(ulps(cpu::fast_exp(88.7f), static_cast<float>(std::exp(double{88.7f}))) <= 2);
}

TEST_CASE("math: activation loops equal their scalar form in every lane", "[math]") {
  nextlm::util::Rng rng(7);
  const int64_t n = 1000;  // not a multiple of any vector width: the tail runs too
  std::vector<float> g(n), u(n), y(n);
  for (int64_t i = 0; i < n; ++i) {
    g[i] = rng.uniform(-30.0f, 30.0f);
    u[i] = rng.uniform(-2.0f, 2.0f);
  }
  g[3] = std::numeric_limits<float>::quiet_NaN();
  g[5] = -1000.0f;
  g[6] = 1000.0f;
  std::vector<float> out(n);
  cpu::silu_mul(g.data(), u.data(), n, out.data());
  for (int64_t i = 0; i < n; ++i) {
    const float want = cpu::fast_silu(g[i]) * u[i];
    if (std::isnan(want)) {
      REQUIRE(std::isnan(out[i]));
      continue;
    }
    REQUIRE(out[i] == want);
    const double exact = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    REQUIRE(std::fabs(out[i] - exact) <= 1e-6 * std::fabs(exact) + 1e-30);
  }
  cpu::mul_sigmoid(u.data(), g.data(), n, y.data());
  for (int64_t i = 0; i < n; ++i) {
    if (i == 3) {
      REQUIRE(std::isnan(y[i]));
      continue;
    }
    REQUIRE(y[i] == u[i] * cpu::fast_sigmoid(g[i]));
    REQUIRE(std::fabs(y[i] - u[i] / (1.0 + std::exp(-static_cast<double>(g[i])))) <= 1e-6);
  }
  std::vector<float> z = u;
  cpu::mul_silu(g.data(), n, z.data());
  std::vector<float> s = g;
  cpu::silu_inplace(s.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    if (i == 3) continue;
    REQUIRE(z[i] == u[i] * cpu::fast_silu(g[i]));
    REQUIRE(s[i] == cpu::fast_silu(g[i]));
  }
  CHECK(out[5] == 0.0f);  // silu(-1000) underflows to (negative) zero
  CHECK(out[6] == 1000.0f * u[6]);
}

TEST_CASE("math: half_to_float equals the exact f16 conversion for all 65536 inputs", "[math]") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = cpu::half_to_float(static_cast<uint16_t>(h));
    const float want = nextlm::quant::fp16_to_fp32(static_cast<uint16_t>(h));
    uint32_t gb, wb;
    std::memcpy(&gb, &got, 4);
    std::memcpy(&wb, &want, 4);
    INFO("h = " << h);
    REQUIRE(gb == wb);
  }
}
