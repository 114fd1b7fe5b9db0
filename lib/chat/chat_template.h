// Rendering a conversation with a model's chat template, the way Hugging
// Face's apply_chat_template does it (see jinja.h for the engine).
//
//   auto tmpl = chat::ChatTemplate::from_gguf(gguf);           // or ChatTemplate(source)
//   chat::ChatRequest req;
//   req.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"Hi"}])");
//   std::string prompt = tmpl.render(req);
//
// Messages and tools are passed to the template unchanged (content may be
// null; assistant tool_calls may carry arguments as an object or a JSON
// string; reasoning_content is visible to templates that use it). Objects
// keep their key order, which `tojson` output depends on.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja.h"

namespace nextlm::gguf {
class GgufFile;
}

namespace nextlm::chat {

enum class ToolCallFormat {
  kNone,           // no tool calls are parsed
  kQwen3CoderXml,  // <tool_call><function=NAME><parameter=P>...</parameter></function></tool_call>
  kHermesJson,     // <tool_call>{"name": ..., "arguments": {...}}</tool_call>
};
const char* tool_call_format_name(ToolCallFormat f);  // "qwen3-coder-xml", "hermes-json", "none"
// Accepts the names above; throws nextlm::Error(kInvalidArgument) otherwise.
ToolCallFormat parse_tool_call_format(std::string_view name);
// The format a template's own tool-call examples use.
ToolCallFormat detect_tool_call_format(std::string_view template_source);

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::optional<nlohmann::ordered_json> tools;  // unset: `tools` is undefined in the template
  bool add_generation_prompt = true;  // (transformers defaults to false; a prompt for generation wants true)
  // More template variables (e.g. {"enable_thinking": false}); they override
  // the ones above.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // Unset: the template's own (from the GGUF's token list; empty otherwise).
  std::optional<std::string> bos_token, eos_token;
};

// A rendered prompt and the byte ranges of it that came from the request's
// values (message content, tool definitions and calls, extra variables) rather
// than from the template. bos/eos tokens and add_generation_prompt count as
// template text.
struct RenderedPrompt {
  std::string text;
  jinja::Taint input;  // sorted, disjoint [begin, end) ranges
};

class ChatTemplate {
 public:
  // Parses `source`; throws jinja::TemplateError on syntax errors.
  explicit ChatTemplate(std::string source, std::string bos_token = "", std::string eos_token = "");
  // `tokenizer.chat_template`, or `tokenizer.chat_template.NAME` when `name`
  // is given; bos/eos strings from the GGUF's token list. Throws
  // nextlm::Error(kInvalidArgument) when the file has no such template.
  static ChatTemplate from_gguf(const gguf::GgufFile& file, std::string_view name = {});
  // Names of the named templates a GGUF holds ("" for the default one).
  static std::vector<std::string> template_names(const gguf::GgufFile& file);

  // Throws jinja::TemplateError (a nextlm::Error) when rendering fails,
  // including the template's own raise_exception().
  std::string render(const ChatRequest& request, const jinja::RenderOptions& options = {}) const;
  // The same text, with which parts came from input.
  RenderedPrompt render_tracked(const ChatRequest& request, const jinja::RenderOptions& options = {}) const;

  const std::string& source() const { return source_; }
  const std::string& bos_token() const { return bos_; }
  const std::string& eos_token() const { return eos_; }
  ToolCallFormat tool_call_format() const { return detect_tool_call_format(source_); }

 private:
  std::string source_;
  jinja::Template template_;
  std::string bos_, eos_;
};

}  // namespace nextlm::chat
