// Catch2 main that turns "fixtures missing" and "no CUDA device" into a ctest
// SKIP (exit 77) instead of a silent pass: a test spec argument that selects
// [fixtures] or [gpu] (not "~[fixtures]") needs them.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fixtures.h"

namespace nextlm::test {

std::string fixtures_dir() {
  if (const char* env = std::getenv("NEXTLM_FIXTURES"); env && *env) return env;
  return NEXTLM_FIXTURES_DEFAULT;
}

bool have_fixtures() { return std::filesystem::is_directory(fixtures_dir() + "/models"); }

std::string fixture(const std::string& relative) { return fixtures_dir() + "/" + relative; }

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_text(const std::string& path) {
  const auto b = read_file(path);
  return std::string(b.begin(), b.end());
}

std::tm fixture_now() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  tm.tm_hour = 3;
  tm.tm_min = 4;
  tm.tm_sec = 5;
  tm.tm_wday = 5;  // a Friday
  tm.tm_yday = 1;
  return tm;
}

}  // namespace nextlm::test

// Defined in test_cuda_dequant.cpp, which is built (with NEXTLM_HAVE_CUDA)
// only when the CUDA backend is.
#ifdef NEXTLM_HAVE_CUDA
bool nextlm_test_have_gpu();
#else
static bool nextlm_test_have_gpu() { return false; }
#endif

namespace {

// Whether a test spec argument selects `tag` rather than excluding it.
bool spec_requires(const std::string& arg, const std::string& tag) {
  for (size_t pos = arg.find(tag); pos != std::string::npos; pos = arg.find(tag, pos + 1))
    if (pos == 0 || arg[pos - 1] != '~') return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (spec_requires(arg, "[fixtures]") && !nextlm::test::have_fixtures()) {
      std::printf("SKIPPED: fixtures not found at %s (set NEXTLM_FIXTURES)\n", nextlm::test::fixtures_dir().c_str());
      return 77;
    }
    if (spec_requires(arg, "[gpu]") && !nextlm_test_have_gpu()) {
#ifdef NEXTLM_HAVE_CUDA
      std::printf("SKIPPED: no CUDA device\n");
#else
      std::printf("SKIPPED: no CUDA device (CUDA backend not built)\n");
#endif
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
