// A Jinja template engine with the semantics of Python's jinja2 as Hugging
// Face renders chat templates: ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, the loop-controls extension, `{% generation %}`, the
// `tojson` filter of transformers (ensure_ascii=False, indent, separators,
// sort_keys), `raise_exception` and `strftime_now` globals.
//
//   auto t = jinja::Template("{{ messages[0].content | upper }}");
//   std::string s = t.render(context);  // context: a dict Value
//
// Failures are jinja::TemplateError (a nextlm::Error) named like the Python
// exception jinja2 raises; hostile templates hit the limits below and fail
// with "LimitExceeded" rather than hang or exhaust memory.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

struct TemplateAst;

struct RenderLimits {
  uint64_t max_steps = 50'000'000;           // statements + expression nodes + per-element work
  uint64_t max_loop_iterations = 2'000'000;  // all for-loop iterations together
  size_t max_output_bytes = 64u << 20;       // output and every string built on the way
  int max_call_depth = 200;                  // nested macro / caller / recursive-loop calls
  int max_eval_depth = 1500;                 // nested statements + expressions being evaluated (stack)
};

struct RenderOptions {
  RenderLimits limits;
  std::optional<std::tm> now;  // the clock of strftime_now(); unset: local time
};

class Template {
 public:
  // Parses; throws TemplateError("TemplateSyntaxError", ...).
  explicit Template(std::string_view source);
  // `context` is a dict of template variables.
  std::string render(const Value& context, const RenderOptions& options = {}) const;
  // The output as a string value whose taint() marks the bytes that came
  // from input strings of `context` (Value::input_string; see jinja_taint.h).
  Value render_value(const Value& context, const RenderOptions& options = {}) const;

 private:
  std::shared_ptr<const TemplateAst> ast_;
};

}  // namespace nextlm::chat::jinja
