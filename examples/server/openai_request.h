// Reading OpenAI-shaped request bodies: every field is type- and range-checked
// here, so that what reaches the scheduler is valid; anything else becomes an
// ApiError (an OpenAI error body with status 400).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "nextlm/session.h"

namespace nextlm::server {

struct ApiError : std::runtime_error {
  ApiError(int status_, std::string message, std::string type_ = "invalid_request_error", std::string param_ = "",
           std::string code_ = "")
      : std::runtime_error(message), status(status_), type(std::move(type_)), param(std::move(param_)),
        code(std::move(code_)) {}
  int status;
  std::string type, param, code;
};

// 400 invalid_request_error naming the parameter at fault.
ApiError invalid(const std::string& message, const std::string& param, const std::string& code = "invalid_value");

struct CommonSpec {
  std::string model;
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
  bool max_tokens_set = false;  // else: up to the context's end (chat) or 16 (completions)
  GenerateOptions generate;     // sampling defaults as OpenAI's: temperature 1, top_p 1, no top-k / min-p
};

struct ChatSpec : CommonSpec {
  std::string messages_json;  // normalized: text content, tool-call arguments as objects
  std::string tools_json;     // "" when none (or tool_choice "none")
  std::string tool_call_format = "auto";
};

struct CompletionSpec : CommonSpec {
  std::string prompt_text;  // a string prompt, or
  std::vector<int32_t> prompt_tokens;  // token ids
  bool has_tokens = false;
};

// Throws ApiError.
ChatSpec parse_chat_request(const std::string& body);
CompletionSpec parse_completion_request(const std::string& body);

}  // namespace nextlm::server
