// Links against the installed nextlm and uses a public header.
#include <nextlm/error.h>

#include <cstdio>

int main() {
  try {
    throw nextlm::Error(nextlm::ErrorCode::kIo, "installed nextlm works");
  } catch (const nextlm::Error& e) {
    std::puts(e.what());
    return e.code() == nextlm::ErrorCode::kIo ? 0 : 1;
  }
}
