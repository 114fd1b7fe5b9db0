#include "openai_response.h"

#include <nlohmann/json.hpp>

namespace nextlm::server {

using ojson = nlohmann::ordered_json;

namespace {

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

ojson usage(const ChatResult& r) {
  const int64_t completion = r.generation.generated_tokens;
  return {{"prompt_tokens", r.prompt.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", r.prompt.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.prompt.cached_tokens}}}};
}

ojson finish_json(const std::string& reason) { return reason.empty() ? ojson(nullptr) : ojson(reason); }

}  // namespace

std::string openai_finish_reason(const std::string& reason) { return reason == "cancelled" ? "stop" : reason; }

std::string error_body(const ApiError& e) {
  ojson err = {{"message", e.what()},
               {"type", e.type},
               {"param", e.param.empty() ? ojson(nullptr) : ojson(e.param)},
               {"code", e.code.empty() ? ojson(nullptr) : ojson(e.code)}};
  return dump({{"error", err}});
}

std::string chat_completion_body(const ResponseIds& ids, const ChatResult& r) {
  ojson message = {{"role", "assistant"},
                   {"content", r.content.empty() && !r.tool_calls.empty() ? ojson(nullptr) : ojson(r.content)}};
  if (r.reasoning_content) message["reasoning_content"] = *r.reasoning_content;
  if (!r.tool_calls.empty()) {
    ojson calls = ojson::array();
    for (const auto& c : r.tool_calls) {
      calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments_json}}}});
    }
    message["tool_calls"] = std::move(calls);
  }
  ojson choice = {{"index", 0}, {"message", message}, {"logprobs", nullptr},
                  {"finish_reason", openai_finish_reason(r.finish_reason)}};
  return dump({{"id", ids.id},
               {"object", "chat.completion"},
               {"created", ids.created},
               {"model", ids.model},
               {"choices", ojson::array({choice})},
               {"usage", usage(r)}});
}

std::string chat_chunk(const ResponseIds& ids, const std::string& delta_json, const std::string& finish_reason) {
  ojson choice = {{"index", 0}, {"delta", ojson::parse(delta_json)}, {"logprobs", nullptr},
                  {"finish_reason", finish_json(finish_reason)}};
  return dump({{"id", ids.id},
               {"object", "chat.completion.chunk"},
               {"created", ids.created},
               {"model", ids.model},
               {"choices", ojson::array({choice})}});
}

std::string chat_event_delta(const ChatEvent& e) {
  using K = ChatEvent::Kind;
  switch (e.kind) {
    case K::kContent:
      return e.text.empty() ? "" : dump({{"content", e.text}});
    case K::kReasoning:
      return e.text.empty() ? "" : dump({{"reasoning_content", e.text}});
    case K::kToolCallBegin:
      // The id, type and name once; the arguments follow in pieces.
      return dump({{"tool_calls", ojson::array({{{"index", e.index},
                                                  {"id", e.id},
                                                  {"type", "function"},
                                                  {"function", {{"name", e.name}, {"arguments", ""}}}}})}});
    case K::kToolCallArguments:
      return e.text.empty() ? ""
                            : dump({{"tool_calls",
                                     ojson::array({{{"index", e.index}, {"function", {{"arguments", e.text}}}}})}});
    default:
      return "";  // kToolCallEnd repeats what was sent; kToolCallAbandoned's text arrives as content
  }
}

std::string usage_chunk(const ResponseIds& ids, const ChatResult& r, const char* object) {
  return dump({{"id", ids.id},
               {"object", object},
               {"created", ids.created},
               {"model", ids.model},
               {"choices", ojson::array()},
               {"usage", usage(r)}});
}

std::string completion_body(const ResponseIds& ids, const ChatResult& r) {
  ojson choice = {{"text", r.content}, {"index", 0}, {"logprobs", nullptr},
                  {"finish_reason", openai_finish_reason(r.finish_reason)}};
  return dump({{"id", ids.id},
               {"object", "text_completion"},
               {"created", ids.created},
               {"model", ids.model},
               {"choices", ojson::array({choice})},
               {"usage", usage(r)}});
}

std::string completion_chunk(const ResponseIds& ids, const std::string& text, const std::string& finish_reason) {
  ojson choice = {{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_json(finish_reason)}};
  return dump({{"id", ids.id},
               {"object", "text_completion"},
               {"created", ids.created},
               {"model", ids.model},
               {"choices", ojson::array({choice})}});
}

std::string models_body(const std::string& model_id, int64_t created, int64_t n_ctx) {
  ojson m = {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "nextlm"},
             {"meta", {{"n_ctx", n_ctx}}}};
  return dump({{"object", "list"}, {"data", ojson::array({m})}});
}

}  // namespace nextlm::server
