// Provenance of rendered text: which bytes of a template's output came from
// its input values (message content, tool definitions and results, extra
// variables) and which from the template itself.
//
// Concatenation keeps exact ranges (output, `~`, `+`, join, captured blocks
// and macro output), so the template's own `<|im_start|>` next to a message's
// content stays template text. Anything else that derives a string from input
// (filters, str methods, formatting, str() of containers) marks the whole
// result as input: erring that way can only stop input text from turning into
// control tokens, never the reverse.
#pragma once

#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

// Appends `src` shifted by `offset` to `dst`, merging touching ranges.
void taint_append(Taint& dst, const Taint* src, size_t offset);

// str(v) with provenance: a string as it is; any other value as Python's
// str(), all input when the value holds input.
Value text_of(const Value& v);

// `result` of an operation on values among which some held input
// (`from_input`): strings, and strings directly inside a returned list,
// become input unless they already carry exact ranges.
Value derived(Value result, bool from_input);

// derived() for the result of a filter or method called on `subject` with `args`.
Value derived_call(Value result, const Value& subject, const CallArgs& args);

// Output of a render or of a captured block.
class TextBuilder {
 public:
  void append_template(std::string_view text) { text_.append(text); }
  void append(const Value& text);  // a string value, with its ranges
  size_t size() const { return text_.size(); }
  const std::string& text() const { return text_; }
  const Taint& taint() const { return taint_; }
  Value take(bool markup = false);

 private:
  std::string text_;
  Taint taint_;
};

}  // namespace nextlm::chat::jinja
