#include "session/text_stream.h"

#include <algorithm>

namespace nextlm::session {

TextStream::TextStream(const tokenizer::Tokenizer& tok, std::vector<std::string> stops)
    : decoder_(tok), stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string TextStream::push(int32_t id) {
  if (stopped_) return {};
  pending_ += decoder_.push(id);
  return release();
}

std::string TextStream::finish() {
  if (stopped_) return {};
  pending_ += decoder_.finish();
  std::string out = release();
  if (stopped_) return out;
  out += pending_;
  pending_.clear();
  return out;
}

std::string TextStream::release() {
  // Earliest stop string wins.
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, first);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

}  // namespace nextlm::session
