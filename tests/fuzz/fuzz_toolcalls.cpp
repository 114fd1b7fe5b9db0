// libFuzzer entry point for tool-call parsing. The first byte picks the
// format, reasoning mode and piece size; the rest is model output. Parsing
// it one-shot and streamed in pieces must agree, and the streamed content
// deltas must add up to the content — otherwise the fuzzer traps.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/toolcall.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nextlm::chat;
  if (size == 0) return 0;
  static const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
      "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"}, "o": {"type": "object"},
      "a": {"type": "array"}, "s": {"type": "string"}, "u": {"type": ["integer", "null"]}}}}}])");
  const uint8_t mode = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  ToolParserOptions opts;
  opts.format = (mode & 3) == 0 ? ToolCallFormat::kHermesJson : (mode & 3) == 1 ? ToolCallFormat::kNone
                                                                               : ToolCallFormat::kQwen3CoderXml;
  opts.reasoning_open = mode & 4;
  opts.tools = tools;
  const size_t piece = 1 + (mode >> 3);

  const ParsedMessage one = parse_tool_calls(text, opts);
  ToolCallParser p(opts);
  std::string content;
  auto take = [&](const std::vector<ToolCallEvent>& ev) {
    for (const auto& e : ev)
      if (e.kind == ToolCallEvent::Kind::kContent) content += e.text;
  };
  for (size_t i = 0; i < text.size(); i += piece) take(p.feed(std::string_view(text).substr(i, piece)));
  take(p.finish());
  const ParsedMessage& r = p.result();
  if (r.content != one.content || content != r.content || r.reasoning_content != one.reasoning_content ||
      r.tool_calls.size() != one.tool_calls.size())
    __builtin_trap();
  for (size_t i = 0; i < r.tool_calls.size(); ++i)
    if (r.tool_calls[i].name != one.tool_calls[i].name || r.tool_calls[i].arguments != one.tool_calls[i].arguments)
      __builtin_trap();
  return 0;
}
