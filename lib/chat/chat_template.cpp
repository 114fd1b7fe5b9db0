#include "chat/chat_template.h"

#include "chat/json_format.h"
#include "gguf/gguf_reader.h"
#include "nextlm/error.h"

namespace nextlm::chat {

const char* tool_call_format_name(ToolCallFormat f) {
  switch (f) {
    case ToolCallFormat::kQwen3CoderXml: return "qwen3-coder-xml";
    case ToolCallFormat::kHermesJson: return "hermes-json";
    case ToolCallFormat::kNone: break;
  }
  return "none";
}

ToolCallFormat parse_tool_call_format(std::string_view name) {
  if (name == "qwen3-coder-xml" || name == "qwen3-coder") return ToolCallFormat::kQwen3CoderXml;
  if (name == "hermes-json" || name == "hermes") return ToolCallFormat::kHermesJson;
  if (name == "none") return ToolCallFormat::kNone;
  throw Error(ErrorCode::kInvalidArgument, "unknown tool-call format '" + std::string(name) +
                                               "' (qwen3-coder-xml, hermes-json or none)");
}

ToolCallFormat detect_tool_call_format(std::string_view src) {
  if (src.find("<function=") != std::string_view::npos && src.find("<parameter=") != std::string_view::npos)
    return ToolCallFormat::kQwen3CoderXml;
  if (src.find("<tool_call>") != std::string_view::npos) return ToolCallFormat::kHermesJson;
  return ToolCallFormat::kNone;
}

ChatTemplate::ChatTemplate(std::string source, std::string bos_token, std::string eos_token)
    : source_(std::move(source)), template_(source_), bos_(std::move(bos_token)), eos_(std::move(eos_token)) {}

namespace {

std::string token_text(const gguf::GgufFile& f, const char* id_key) {
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  const int64_t id = f.get_int(id_key, -1);
  if (!tokens || !tokens->is_array() || id < 0 || static_cast<uint64_t>(id) >= tokens->size() ||
      tokens->elem_type() != gguf::ValueType::STRING)
    return "";
  return std::string(tokens->string_at(static_cast<uint64_t>(id)));
}

}  // namespace

ChatTemplate ChatTemplate::from_gguf(const gguf::GgufFile& file, std::string_view name) {
  std::string key = "tokenizer.chat_template";
  if (!name.empty()) key.append(1, '.').append(name);
  const gguf::Value* v = file.find(key);
  if (!v || !v->is_string()) {
    throw Error(ErrorCode::kInvalidArgument,
                file.path() + ": no chat template" + (name.empty() ? "" : " named '" + std::string(name) + "'") +
                    " (metadata key " + key + ")");
  }
  return ChatTemplate(std::string(v->as_string()), token_text(file, "tokenizer.ggml.bos_token_id"),
                      token_text(file, "tokenizer.ggml.eos_token_id"));
}

std::vector<std::string> ChatTemplate::template_names(const gguf::GgufFile& file) {
  std::vector<std::string> names;
  const std::string prefix = "tokenizer.chat_template";
  for (const auto& e : file.metadata()) {
    if (e.key == prefix) names.emplace_back();
    else if (e.key.rfind(prefix + ".", 0) == 0) names.push_back(e.key.substr(prefix.size() + 1));
  }
  return names;
}

std::string ChatTemplate::render(const ChatRequest& request, const jinja::RenderOptions& options) const {
  return render_tracked(request, options).text;
}

RenderedPrompt ChatTemplate::render_tracked(const ChatRequest& request, const jinja::RenderOptions& options) const {
  auto ctx = jinja::make_dict();
  auto set = [&](const char* k, jinja::Value v) { ctx->set(jinja::Value::string(k), std::move(v)); };
  set("messages", value_from_json(request.messages));
  if (request.tools) set("tools", value_from_json(*request.tools));
  set("add_generation_prompt", jinja::Value::boolean(request.add_generation_prompt));
  set("bos_token", jinja::Value::string(request.bos_token.value_or(bos_)));
  set("eos_token", jinja::Value::string(request.eos_token.value_or(eos_)));
  if (request.extra.is_object())
    for (const auto& [k, v] : request.extra.items()) ctx->set(jinja::Value::string(k), value_from_json(v));
  jinja::Value out = template_.render_value(jinja::Value::dict(ctx), options);
  RenderedPrompt r;
  if (out.taint()) r.input = *out.taint();
  r.text = out.str();
  return r;
}

}  // namespace nextlm::chat
