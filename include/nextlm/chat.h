// Chat on a nextlm::Session: the conversation is rendered through the
// model's own chat template, generation streams content, reasoning and
// tool-call events, and the reply comes back parsed.
//
// chat_completion() takes the whole conversation each call (as an OpenAI-style
// client sends it) and reuses whatever prefix the session already holds.
// Messages and tools are JSON text in the OpenAI shape: messages
// [{"role": "system"|"user"|"assistant"|"tool", "content": ..., "tool_calls":
// [...], "reasoning_content": ...}], tools [{"type": "function", "function":
// {"name", "description", "parameters": {JSON schema}}}].
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nextlm/session.h"

namespace nextlm {

struct ChatEvent {
  enum class Kind {
    kContent,            // text: a content delta
    kReasoning,          // text: a reasoning (think block) delta
    kToolCallBegin,      // index, id, name
    kToolCallArguments,  // index, text: raw argument text as it arrives
    kToolCallEnd,        // index, id, name, arguments_json: typed arguments
    kToolCallAbandoned,  // index: an unclosed call, whose text became content
  };
  Kind kind = Kind::kContent;
  std::string text;
  size_t index = 0;
  std::string id, name, arguments_json;
};

struct ChatToolCall {
  std::string id;
  std::string name;
  std::string arguments_json;  // a JSON object
};

// A rendered chat prompt and which of its bytes came from the conversation
// (message content, tool calls and results, tool definitions, template
// variables) rather than from the template itself.
struct ChatPrompt {
  std::string text;
  std::vector<std::pair<size_t, size_t>> input_ranges;  // [begin, end) byte ranges of `text`, sorted, disjoint
};

struct ChatOptions {
  GenerateOptions generate;  // max_tokens, stop, sampling; its on_text receives content deltas only
  std::string tools_json;    // "" or a JSON array of tools
  std::string template_vars_json;  // "" or a JSON object of extra template variables (e.g. enable_thinking)
  std::string template_name;       // a named template of the GGUF (tokenizer.chat_template.NAME)
  std::string tool_call_format = "auto";  // "auto" (from the template), "qwen3-coder-xml", "hermes-json", "none"
  // Raw behaviour, off by default: control and user-defined token text inside
  // messages, tool results and definitions becomes real tokens (see tokenize_chat_prompt).
  bool parse_special_in_input = false;
  std::function<void(const ChatEvent&)> on_event;
};

struct ChatResult {
  std::string content;
  std::optional<std::string> reasoning_content;
  std::vector<ChatToolCall> tool_calls;
  std::string finish_reason;  // "stop", "length", "tool_calls", "cancelled"
  std::string raw_text;       // the generated text before parsing
  PromptResult prompt;
  GenerateResult generation;
};

// Renders a conversation with the model's chat template (no generation).
std::string apply_chat_template(const Model& model, const std::string& messages_json, const std::string& tools_json = "",
                                bool add_generation_prompt = true, const std::string& template_vars_json = "",
                                const std::string& template_name = "");

// The same rendering, with which bytes came from the conversation.
ChatPrompt render_chat_prompt(const Model& model, const std::string& messages_json, const std::string& tools_json = "",
                              bool add_generation_prompt = true, const std::string& template_vars_json = "",
                              const std::string& template_name = "");

// The tokens of a rendered prompt. Control tokens (<|im_start|>, <|im_end|>...)
// and user-defined tokens (<tool_call>, <think>...) are recognised in the
// template's own text only; text from the conversation is tokenized as
// ordinary text, so a message or a fetched web page cannot forge turns or tool
// calls. Prompts whose input holds no such text tokenize exactly as
// model.tokenize(text, true) does. `parse_special_in_input` restores that raw
// behaviour for every byte.
std::vector<int32_t> tokenize_chat_prompt(const Model& model, const ChatPrompt& prompt, bool parse_special_in_input = false);

ChatResult chat_completion(Session& session, const std::string& messages_json, const ChatOptions& options = {});

// chat_completion in steps, for callers that decode several sessions together
// (a server): the constructor renders and tokenizes the conversation (request
// errors throw here, before any session is touched); start() sets the prompt
// on a session, reusing its prefix; then generation() is advanced with
// decode_together() until done(), and finish() returns the parsed reply.
class ChatGeneration {
 public:
  ChatGeneration(const Model& model, const std::string& messages_json, const ChatOptions& options = {});
  ~ChatGeneration();
  ChatGeneration(const ChatGeneration&) = delete;
  ChatGeneration& operator=(const ChatGeneration&) = delete;

  const std::vector<int32_t>& prompt_tokens() const;
  const PromptResult& start(Session& session);
  Generation& generation();  // after start()
  bool done() const;
  ChatResult finish();  // once done()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nextlm
