// Writes the fuzzer's seed corpus: the valid hand-built file and every
// corrupted variant, one file each, into the folder given as argument.
#include <cstdio>
#include <fstream>
#include <string>

#include "gguf_corpus.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_corpus DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  auto write = [&](const std::string& name, const std::vector<uint8_t>& b) {
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  };
  write("valid.gguf", nextlm::test::make_valid_gguf().bytes);
  int n = 0;
  for (const auto& c : nextlm::test::make_corrupt_corpus()) write("corrupt-" + std::to_string(n++) + ".gguf", c.bytes);
  std::printf("wrote %d files to %s\n", n + 1, dir.c_str());
  return 0;
}
