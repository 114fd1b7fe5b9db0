// Added tokens (GGUF token types CONTROL and USER_DEFINED) are found in the raw
// text before pre-tokenization and BPE. Matching is leftmost-longest: at the
// first position where some allowed token starts, the longest allowed token
// wins. USER_DEFINED tokens are always allowed; CONTROL tokens only when
// special-token parsing is on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::tokenizer {

class SpecialTokenMatcher {
 public:
  struct Match {
    size_t pos = 0;  // byte offset in the text
    size_t len = 0;  // bytes
    int32_t id = -1;
  };

  // Empty texts are ignored (they would match everywhere). When two tokens
  // share a text, the first one added wins.
  void add(std::string_view text, int32_t id, bool control);

  // The leftmost-longest match in text[from..), or false when there is none.
  bool find(std::string_view text, size_t from, bool allow_control, Match& m) const;

  size_t size() const { return n_tokens_; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // (byte, node index)
    int32_t token = -1;                                 // id ending here, or -1
    bool control = false;
  };
  int32_t child(int32_t node, uint8_t b) const;

  std::vector<Node> nodes_{Node{}};  // nodes_[0] is the root
  bool first_byte_[256] = {};
  size_t n_tokens_ = 0;
};

}  // namespace nextlm::tokenizer
