// Parsing a model's output into content, reasoning and tool calls, one-shot
// or streaming.
//
// Rules (fixtures/toolcalls, "qwen3-coder.json" in the shared fixtures):
//  - a `<think>...</think>` block leading the output is reasoning_content;
//  - `<tool_call>...</tool_call>` blocks (and, for Qwen3-Coder, bare
//    `<function=...>...</function>`) are tool calls; inside a block the
//    Qwen3-Coder XML form and the Hermes JSON form are both understood;
//  - Qwen3-Coder parameter values drop one leading and one trailing newline
//    and are typed by the tool's JSON schema (integer, number, boolean,
//    object/array as JSON, "null" as null for non-string types); values that
//    do not parse, and parameters the schema lacks, stay strings;
//  - content is the text outside blocks, each piece trimmed, joined by "\n";
//  - an unclosed call is plain content.
//
// Streaming: feed() pieces of any size (UTF-8 may be split anywhere) and
// finish(); the events' content deltas concatenate to result().content,
// reasoning deltas to result().reasoning_content, and a call's argument
// deltas to the compact JSON of its final arguments. A call is final at
// kToolCallEnd; one that is never closed ends with kToolCallAbandoned and its
// text arrives as content.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"

namespace nextlm::chat {

struct ToolCall {
  std::string id;
  std::string name;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

struct ParsedMessage {
  std::string content;
  std::optional<std::string> reasoning_content;  // set when a think block leads
  std::vector<ToolCall> tool_calls;
  // {"content", ["reasoning_content",] "tool_calls": [{"name", "arguments"[, "id"]}]}
  nlohmann::ordered_json to_json(bool with_ids = false) const;
};

struct ToolCallEvent {
  enum class Kind { kContent, kReasoning, kToolCallBegin, kToolCallArguments, kToolCallEnd, kToolCallAbandoned };
  Kind kind = Kind::kContent;
  std::string text;  // content / reasoning delta, or argument text
  size_t index = 0;  // tool call number in this output (begin order)
  std::string id, name;
  nlohmann::ordered_json arguments;  // kToolCallEnd: the typed arguments
};

struct ToolParserOptions {
  ToolCallFormat format = ToolCallFormat::kQwen3CoderXml;
  // Tool schemas as passed to the template ([{"type": "function", "function":
  // {"name", "parameters": {...}}}]); they type Qwen3-Coder parameters.
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();
  // The output starts inside a think block (the prompt ended with "<think>").
  bool reasoning_open = false;
  std::string id_prefix = "call_";  // ids are id_prefix + index
};

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolParserOptions options);
  ~ToolCallParser();
  ToolCallParser(ToolCallParser&&) noexcept;
  ToolCallParser& operator=(ToolCallParser&&) noexcept;

  std::vector<ToolCallEvent> feed(std::string_view piece);
  std::vector<ToolCallEvent> finish();
  // Complete after finish(); before, what has been decided so far.
  const ParsedMessage& result() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

ParsedMessage parse_tool_calls(std::string_view output, const ToolParserOptions& options);

}  // namespace nextlm::chat
