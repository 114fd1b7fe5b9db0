// libFuzzer entry point: any byte string must either parse or raise
// nextlm::Error — never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_reader.h"
#include "nextlm/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = nextlm::gguf::GgufFile::parse("fuzz.gguf", data, size);
    // Touch what a loader touches: metadata rendering and every tensor's bytes.
    size_t sum = 0;
    for (const auto& e : f->metadata()) sum += e.value.to_display().size();
    for (const auto& t : f->tensors()) {
      if (t.n_bytes) sum += t.data[0] + t.data[t.n_bytes - 1];
    }
    return sum == 1 ? 0 : 0;
  } catch (const nextlm::Error&) {
    return 0;
  }
}
