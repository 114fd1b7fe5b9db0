// Error type thrown inside the C++ library. The C ABI converts it into a
// status code plus a per-handle message; nothing throws across that boundary.
#pragma once

#include <stdexcept>
#include <string>

namespace nextlm {

enum class ErrorCode : int {
  kInvalidArgument = 1,
  kIo = 2,
  kCorruptFile = 3,
  kUnsupported = 4,
  kOutOfMemory = 5,
  kInternal = 6,
  kCancelled = 7,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace nextlm
