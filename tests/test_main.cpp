// Catch2 main that turns "fixtures missing" into a ctest SKIP instead of a
// silent pass.
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

}  // namespace nextlm::test

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).find("[fixtures]") != std::string::npos && !nextlm::test::have_fixtures()) {
      std::printf("SKIPPED: fixtures not found at %s (set NEXTLM_FIXTURES)\n", nextlm::test::fixtures_dir().c_str());
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
