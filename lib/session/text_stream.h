// Turns generated tokens into text for streaming: whole UTF-8 characters
// only, and stop strings found across token boundaries (text that could still
// become a stop string is held back until it cannot).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace nextlm::session {

class TextStream {
 public:
  TextStream(const tokenizer::Tokenizer& tok, std::vector<std::string> stops);

  // Text that is now safe to show (possibly empty). After a stop string is
  // found, stopped() is true and the text before it has been returned.
  std::string push(int32_t id);
  // End of generation without a stop string: everything still held back.
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::string release();

  tokenizer::StreamDecoder decoder_;
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace nextlm::session
