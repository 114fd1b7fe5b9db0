// libFuzzer entry point for the Jinja engine: any byte string is a template
// that must parse and render (against a fixed chat-like context, under tight
// limits) or fail with jinja::TemplateError — never crash, hang, leak or
// read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/jinja.h"
#include "chat/json_format.h"

namespace {

const nextlm::chat::jinja::Value& context() {
  static const nextlm::chat::jinja::Value ctx = nextlm::chat::value_from_json(nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Hi \u00fc \ud83d\ude00"},
                 {"role": "assistant", "content": null, "reasoning_content": "r",
                  "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]},
                 {"role": "tool", "content": "{\"ok\": true}"}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "x": 3, "l": [3, 1, 2]})"));
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nextlm::chat::jinja::RenderOptions opts;
  opts.limits.max_steps = 100000;
  opts.limits.max_loop_iterations = 20000;
  opts.limits.max_output_bytes = 1 << 20;
  opts.limits.max_call_depth = 40;
  try {
    nextlm::chat::jinja::Template t(std::string(reinterpret_cast<const char*>(data), size));
    std::string out = t.render(context(), opts);
    if (out.size() > opts.limits.max_output_bytes) __builtin_trap();
  } catch (const nextlm::chat::jinja::TemplateError&) {
  }
  return 0;
}
