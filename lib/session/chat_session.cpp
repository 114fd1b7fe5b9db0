// Chat on a session: render with the model's template, reuse the cached
// prefix, generate, and parse tool calls while streaming.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/toolcall.h"
#include "nextlm/chat.h"
#include "nextlm/error.h"
#include "session/model_impl.h"

namespace nextlm {

namespace {

using ojson = nlohmann::ordered_json;

ojson parse_json(const std::string& text, const char* what, bool want_array) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} is not valid JSON: {}", what, e.what()));
  }
  if (want_array ? !j.is_array() : !j.is_object()) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("{} must be a JSON {}", what, want_array ? "array" : "object"));
  }
  return j;
}

chat::ChatRequest make_request(const std::string& messages_json, const std::string& tools_json, bool gen_prompt,
                               const std::string& vars_json) {
  chat::ChatRequest req;
  req.messages = parse_json(messages_json, "messages", true);
  for (const auto& m : req.messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      throw Error(ErrorCode::kInvalidArgument, "every message needs a string \"role\"");
    }
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "tool" && role != "developer") {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("unknown message role '{}'", role));
    }
  }
  if (!tools_json.empty()) req.tools = parse_json(tools_json, "tools", true);
  if (!vars_json.empty()) req.extra = parse_json(vars_json, "template variables", false);
  req.add_generation_prompt = gen_prompt;
  return req;
}

const chat::ChatTemplate& model_template(detail::ModelImpl& m, const std::string& name) {
  std::lock_guard<std::mutex> lock(m.chat_mu);
  auto it = m.chat_templates.find(name);
  if (it == m.chat_templates.end()) {
    it = m.chat_templates.emplace(name, std::make_unique<chat::ChatTemplate>(chat::ChatTemplate::from_gguf(*m.file, name)))
             .first;
  }
  return *it->second;
}

ChatEvent to_event(const chat::ToolCallEvent& e) {
  ChatEvent c;
  c.kind = static_cast<ChatEvent::Kind>(e.kind);
  c.text = e.text;
  c.index = e.index;
  c.id = e.id;
  c.name = e.name;
  if (e.kind == chat::ToolCallEvent::Kind::kToolCallEnd) c.arguments_json = e.arguments.dump();
  return c;
}

ChatPrompt to_prompt(chat::RenderedPrompt r) {
  ChatPrompt p;
  p.text = std::move(r.text);
  p.input_ranges.reserve(r.input.size());
  for (const auto& t : r.input) p.input_ranges.emplace_back(t.begin, t.end);
  return p;
}

}  // namespace

ChatPrompt render_chat_prompt(const Model& model, const std::string& messages_json, const std::string& tools_json,
                              bool add_generation_prompt, const std::string& template_vars_json,
                              const std::string& template_name) {
  auto& m = const_cast<detail::ModelImpl&>(model.impl());
  return to_prompt(model_template(m, template_name)
                       .render_tracked(make_request(messages_json, tools_json, add_generation_prompt, template_vars_json)));
}

std::vector<int32_t> tokenize_chat_prompt(const Model& model, const ChatPrompt& prompt, bool parse_special_in_input) {
  const tokenizer::Tokenizer& tok = *model.impl().tokenizer;
  tokenizer::EncodeOptions opts;
  opts.parse_special = true;
  std::vector<int32_t> out;
  if (parse_special_in_input) {
    tok.encode(prompt.text, opts, out);
    return out;
  }
  std::vector<tokenizer::PlainRange> plain;
  plain.reserve(prompt.input_ranges.size());
  size_t last_end = 0;
  for (const auto& [b, e] : prompt.input_ranges) {
    if (b > e || b < last_end || e > prompt.text.size())
      throw Error(ErrorCode::kInvalidArgument, "chat prompt input ranges must be sorted, disjoint and inside the text");
    plain.push_back({b, e});
    last_end = e;
  }
  tok.encode_guarded(prompt.text, plain, opts, out);
  return out;
}

std::string apply_chat_template(const Model& model, const std::string& messages_json, const std::string& tools_json,
                                bool add_generation_prompt, const std::string& template_vars_json,
                                const std::string& template_name) {
  return render_chat_prompt(model, messages_json, tools_json, add_generation_prompt, template_vars_json, template_name)
      .text;
}

struct ChatGeneration::Impl {
  ChatOptions options;
  const chat::ChatTemplate* tmpl = nullptr;
  chat::ChatRequest req;
  std::string prompt;
  std::vector<int32_t> tokens;
  std::vector<int64_t> boundaries;
  std::unique_ptr<chat::ToolCallParser> parser;
  std::unique_ptr<Generation> gen;
  PromptResult prompt_result;

  bool deliver(const std::vector<chat::ToolCallEvent>& events) {
    bool keep_going = true;
    for (const auto& e : events) {
      if (options.on_event) options.on_event(to_event(e));
      if (e.kind == chat::ToolCallEvent::Kind::kContent && options.generate.on_text) {
        keep_going = options.generate.on_text(e.text) && keep_going;
      }
    }
    return keep_going;
  }
};

ChatGeneration::ChatGeneration(const Model& model, const std::string& messages_json, const ChatOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& c = *impl_;
  c.options = options;
  auto& m = const_cast<detail::ModelImpl&>(model.impl());
  c.tmpl = &model_template(m, options.template_name);
  c.req = make_request(messages_json, options.tools_json, true, options.template_vars_json);
  const ChatPrompt rendered = to_prompt(c.tmpl->render_tracked(c.req));
  c.prompt = rendered.text;
  // The conversation without the generation prompt ends a turn: keep a checkpoint there.
  chat::ChatRequest closed = c.req;
  closed.add_generation_prompt = false;
  const ChatPrompt history = to_prompt(c.tmpl->render_tracked(closed));
  const bool raw = options.parse_special_in_input;
  if (c.prompt.compare(0, history.text.size(), history.text) == 0) {
    c.boundaries.push_back(static_cast<int64_t>(tokenize_chat_prompt(model, history, raw).size()));
  }
  c.tokens = tokenize_chat_prompt(model, rendered, raw);

  chat::ToolParserOptions po;
  po.format = options.tool_call_format == "auto" ? c.tmpl->tool_call_format()
                                                 : chat::parse_tool_call_format(options.tool_call_format);
  if (c.req.tools) po.tools = *c.req.tools;
  const size_t last_nonspace = c.prompt.find_last_not_of(" \n");
  po.reasoning_open = last_nonspace != std::string::npos && last_nonspace >= 6 &&
                      c.prompt.compare(last_nonspace - 6, 7, "<think>") == 0;
  c.parser = std::make_unique<chat::ToolCallParser>(po);
}

ChatGeneration::~ChatGeneration() = default;

const std::vector<int32_t>& ChatGeneration::prompt_tokens() const { return impl_->tokens; }

const PromptResult& ChatGeneration::start(Session& session) {
  Impl& c = *impl_;
  c.prompt_result = session.set_prompt(c.tokens, c.boundaries);
  GenerateOptions g = c.options.generate;
  g.on_text = [&c](std::string_view piece) { return c.deliver(c.parser->feed(piece)); };
  c.gen = std::make_unique<Generation>(session, g);
  return c.prompt_result;
}

Generation& ChatGeneration::generation() {
  if (!impl_->gen) throw Error(ErrorCode::kInvalidArgument, "ChatGeneration: start() first");
  return *impl_->gen;
}

bool ChatGeneration::done() const { return impl_->gen && impl_->gen->done(); }

ChatResult ChatGeneration::finish() {
  Impl& c = *impl_;
  if (!done()) throw Error(ErrorCode::kInvalidArgument, "ChatGeneration: finish() before the generation is done");
  ChatResult res;
  res.prompt = c.prompt_result;
  res.generation = c.gen->result();
  c.deliver(c.parser->finish());
  const chat::ParsedMessage& msg = c.parser->result();
  res.raw_text = res.generation.text;
  res.content = msg.content;
  res.reasoning_content = msg.reasoning_content;
  for (const auto& tc : msg.tool_calls) res.tool_calls.push_back({tc.id, tc.name, tc.arguments.dump()});
  switch (res.generation.stop_reason) {
    case StopReason::kMaxTokens:
    case StopReason::kContextFull: res.finish_reason = "length"; break;
    case StopReason::kCancelled: res.finish_reason = "cancelled"; break;
    default: res.finish_reason = "stop";
  }
  if (!res.tool_calls.empty() && res.finish_reason == "stop") res.finish_reason = "tool_calls";
  return res;
}

ChatResult chat_completion(Session& session, const std::string& messages_json, const ChatOptions& options) {
  ChatGeneration c(session.model(), messages_json, options);
  c.start(session);
  Generation* one[] = {&c.generation()};
  while (!c.done()) decode_together(one);
  return c.finish();
}

}  // namespace nextlm
