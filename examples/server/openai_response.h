// Writing OpenAI-shaped response bodies and stream chunks (JSON text).
#pragma once

#include <cstdint>
#include <string>

#include "nextlm/chat.h"
#include "openai_request.h"

namespace nextlm::server {

// {"error": {"message", "type", "param", "code"}}
std::string error_body(const ApiError& e);

// What every response of one request shares.
struct ResponseIds {
  std::string id;  // chatcmpl-... / cmpl-...
  int64_t created = 0;
  std::string model;
};

std::string chat_completion_body(const ResponseIds& ids, const ChatResult& r);
// A chat.completion.chunk; `delta_json` is the delta object, finish_reason "" for null.
std::string chat_chunk(const ResponseIds& ids, const std::string& delta_json, const std::string& finish_reason = "");
// The delta for one chat event, or "" when it carries nothing to send.
std::string chat_event_delta(const ChatEvent& e);
// The usage-only last chunk (stream_options.include_usage): empty choices.
std::string usage_chunk(const ResponseIds& ids, const ChatResult& r, const char* object);

std::string completion_body(const ResponseIds& ids, const ChatResult& r);
std::string completion_chunk(const ResponseIds& ids, const std::string& text, const std::string& finish_reason = "");

std::string models_body(const std::string& model_id, int64_t created, int64_t n_ctx);

// "cancelled" is not an OpenAI finish reason; a client that is still there sees "stop".
std::string openai_finish_reason(const std::string& reason);

}  // namespace nextlm::server
