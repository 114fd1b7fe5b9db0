#include "tokenizer/special_tokens.h"

namespace nextlm::tokenizer {

int32_t SpecialTokenMatcher::child(int32_t node, uint8_t b) const {
  for (const auto& [byte, idx] : nodes_[static_cast<size_t>(node)].children) {
    if (byte == b) return idx;
  }
  return -1;
}

void SpecialTokenMatcher::add(std::string_view text, int32_t id, bool control) {
  if (text.empty()) return;
  int32_t node = 0;
  for (unsigned char b : text) {
    int32_t next = child(node, b);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{});
      nodes_[static_cast<size_t>(node)].children.emplace_back(b, next);
    }
    node = next;
  }
  Node& end = nodes_[static_cast<size_t>(node)];
  if (end.token >= 0) return;
  end.token = id;
  end.control = control;
  first_byte_[static_cast<unsigned char>(text[0])] = true;
  ++n_tokens_;
}

bool SpecialTokenMatcher::find(std::string_view text, size_t from, bool allow_control, Match& m) const {
  if (n_tokens_ == 0) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = from; i < n; ++i) {
    if (!first_byte_[p[i]]) continue;
    int32_t node = 0;
    int32_t best_id = -1;
    size_t best_len = 0;
    for (size_t j = i; j < n; ++j) {
      node = child(node, p[j]);
      if (node < 0) break;
      const Node& nd = nodes_[static_cast<size_t>(node)];
      if (nd.token >= 0 && (allow_control || !nd.control)) {
        best_id = nd.token;
        best_len = j - i + 1;
      }
    }
    if (best_id >= 0) {
      m = Match{i, best_len, best_id};
      return true;
    }
  }
  return false;
}

}  // namespace nextlm::tokenizer
