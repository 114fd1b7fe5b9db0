#include "openai_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

namespace nextlm::server {

using ojson = nlohmann::ordered_json;

ApiError invalid(const std::string& message, const std::string& param, const std::string& code) {
  return ApiError(400, message, "invalid_request_error", param, code);
}

namespace {

constexpr int kMaxDepth = 64;  // deeper bodies are refused before parsing (recursion downstream)

void check_depth(const std::string& body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) throw invalid(fmt::format("JSON nested deeper than {} levels", kMaxDepth), "", "invalid_json");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

ojson parse_body(const std::string& body) {
  check_depth(body);
  ojson j;
  try {
    j = ojson::parse(body);
  } catch (const std::exception& e) {
    throw invalid(fmt::format("the body is not valid JSON: {}", e.what()), "", "invalid_json");
  }
  if (!j.is_object()) throw invalid("the body must be a JSON object", "", "invalid_json");
  return j;
}

// A field that is absent or null counts as not given.
const ojson* field(const ojson& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] void wrong_type(const std::string& param, const char* want) {
  throw invalid(fmt::format("'{}' must be {}", param, want), param, "invalid_type");
}

double number(const ojson& j, const char* name, double lo, double hi, double fallback) {
  const ojson* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_number()) wrong_type(name, "a number");
  const double x = v->get<double>();
  if (!(x >= lo && x <= hi)) throw invalid(fmt::format("'{}' must be in [{}, {}], got {}", name, lo, hi, x), name);
  return x;
}

int64_t integer(const ojson& j, const char* name, int64_t lo, int64_t hi, int64_t fallback) {
  const ojson* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_number_integer()) wrong_type(name, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    throw invalid(fmt::format("'{}' must be in [{}, {}]", name, lo, hi), name);
  }
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) throw invalid(fmt::format("'{}' must be in [{}, {}], got {}", name, lo, hi, x), name);
  return x;
}

bool boolean(const ojson& j, const char* name, bool fallback) {
  const ojson* v = field(j, name);
  if (!v) return fallback;
  if (!v->is_boolean()) wrong_type(name, "a boolean");
  return v->get<bool>();
}

uint64_t random_seed() {
  static std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

void parse_common(const ojson& j, CommonSpec& s) {
  if (const ojson* m = field(j, "model")) {
    if (!m->is_string()) wrong_type("model", "a string");
    s.model = m->get<std::string>();
  }
  s.stream = boolean(j, "stream", false);
  if (const ojson* so = field(j, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object");
    if (const ojson* iu = field(*so, "include_usage")) {
      if (!iu->is_boolean()) wrong_type("stream_options.include_usage", "a boolean");
      s.include_usage = iu->get<bool>();
    }
  }
  if (integer(j, "n", 1, 1, 1) != 1) throw invalid("only n = 1 is supported", "n");
  if (boolean(j, "logprobs", false)) throw invalid("logprobs are not supported", "logprobs", "unsupported");
  const char* max_names[] = {"max_completion_tokens", "max_tokens"};
  for (const char* name : max_names) {
    if (field(j, name)) {
      s.generate.max_tokens = static_cast<int32_t>(integer(j, name, 0, std::numeric_limits<int32_t>::max(), 0));
      s.max_tokens_set = true;
    }
  }
  SamplingParams& p = s.generate.sampling;
  p.temperature = static_cast<float>(number(j, "temperature", 0.0, 2.0, 1.0));
  p.top_p = static_cast<float>(number(j, "top_p", 0.0, 1.0, 1.0));
  if (p.top_p <= 0.0f) throw invalid("'top_p' must be greater than 0", "top_p");
  p.top_k = static_cast<int32_t>(integer(j, "top_k", 0, std::numeric_limits<int32_t>::max(), 0));
  p.min_p = static_cast<float>(number(j, "min_p", 0.0, 1.0, 0.0));
  p.presence_penalty = static_cast<float>(number(j, "presence_penalty", -2.0, 2.0, 0.0));
  p.frequency_penalty = static_cast<float>(number(j, "frequency_penalty", -2.0, 2.0, 0.0));
  p.repeat_penalty = static_cast<float>(number(j, "repetition_penalty", 0.01, 10.0, 1.0));
  const ojson* seed = field(j, "seed");
  if (seed && !seed->is_number_integer()) wrong_type("seed", "an integer");
  p.seed = seed ? (seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>()))
                : random_seed();
  if (const ojson* lb = field(j, "logit_bias")) {
    if (!lb->is_object()) wrong_type("logit_bias", "an object of token id -> bias");
    for (const auto& [key, value] : lb->items()) {
      int32_t id = -1;
      try {
        size_t used = 0;
        const long v = std::stol(key, &used);
        if (used == key.size() && v >= 0 && v <= std::numeric_limits<int32_t>::max()) id = static_cast<int32_t>(v);
      } catch (const std::exception&) {
      }
      if (id < 0) throw invalid(fmt::format("logit_bias key '{}' is not a token id", key), "logit_bias");
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100) {
        throw invalid("logit_bias values must be numbers in [-100, 100]", "logit_bias");
      }
      p.logit_bias.emplace_back(id, value.get<float>());
    }
  }
  if (const ojson* stop = field(j, "stop")) {
    if (stop->is_string()) {
      s.generate.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 16) throw invalid("at most 16 stop sequences", "stop");
      for (const auto& x : *stop) {
        if (!x.is_string()) wrong_type("stop", "a string or an array of strings");
        s.generate.stop.push_back(x.get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings");
    }
  }
}

// Message content as text: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_text(const ojson& c, const std::string& param) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) wrong_type(param, "a string or an array of text parts");
  std::string out;
  for (const auto& part : c) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw invalid("only text content parts are supported", param, "unsupported");
    }
    out += part["text"].get<std::string>();
  }
  return out;
}

ojson normalize_tool_calls(const ojson& calls, const std::string& param) {
  if (!calls.is_array()) wrong_type(param, "an array");
  ojson out = ojson::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    const std::string p = fmt::format("{}[{}]", param, k);
    const ojson& c = calls[k];
    if (!c.is_object()) wrong_type(p, "an object");
    const ojson* fn = field(c, "function");
    if (!fn || !fn->is_object()) wrong_type(p + ".function", "an object");
    const ojson* name = field(*fn, "name");
    if (!name || !name->is_string()) wrong_type(p + ".function.name", "a string");
    ojson call = c;
    call["type"] = "function";
    // Templates iterate the arguments as a mapping; OpenAI clients send them as JSON text.
    if (const ojson* args = field(*fn, "arguments")) {
      if (args->is_string()) {
        ojson parsed = ojson::parse(args->get<std::string>(), nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object()) {
          throw invalid("tool call arguments must be a JSON object", p + ".function.arguments");
        }
        call["function"]["arguments"] = std::move(parsed);
      } else if (!args->is_object()) {
        wrong_type(p + ".function.arguments", "a JSON object or its text");
      }
    } else {
      call["function"]["arguments"] = ojson::object();
    }
    out.push_back(std::move(call));
  }
  return out;
}

ojson normalize_messages(const ojson& j) {
  const ojson* msgs = field(j, "messages");
  if (!msgs) throw invalid("'messages' is required", "messages", "missing_required_parameter");
  if (!msgs->is_array()) wrong_type("messages", "an array");
  if (msgs->empty()) throw invalid("'messages' must not be empty", "messages");
  static const std::set<std::string> roles = {"system", "developer", "user", "assistant", "tool"};
  ojson out = ojson::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const std::string p = fmt::format("messages[{}]", i);
    const ojson& m = (*msgs)[i];
    if (!m.is_object()) wrong_type(p, "an object");
    const ojson* role = field(m, "role");
    if (!role || !role->is_string()) wrong_type(p + ".role", "a string");
    const std::string r = role->get<std::string>();
    if (!roles.count(r)) throw invalid(fmt::format("unknown role '{}'", r), p + ".role");
    ojson msg = m;
    const ojson* content = field(m, "content");
    const bool has_calls = field(m, "tool_calls") != nullptr;
    if (content) {
      msg["content"] = content_text(*content, p + ".content");
    } else if (r == "assistant") {
      msg["content"] = has_calls ? ojson(nullptr) : ojson("");
    } else {
      throw invalid(fmt::format("a '{}' message needs content", r), p + ".content", "missing_required_parameter");
    }
    if (has_calls) {
      if (r != "assistant") throw invalid("only assistant messages carry tool_calls", p + ".tool_calls");
      msg["tool_calls"] = normalize_tool_calls(m["tool_calls"], p + ".tool_calls");
    }
    if (const ojson* rc = field(m, "reasoning_content"); rc && !rc->is_string()) {
      wrong_type(p + ".reasoning_content", "a string");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<std::string> check_tools(const ojson& tools) {
  if (!tools.is_array()) wrong_type("tools", "an array");
  std::vector<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string p = fmt::format("tools[{}]", i);
    const ojson& t = tools[i];
    if (!t.is_object()) wrong_type(p, "an object");
    if (!t.contains("type") || t["type"] != "function") throw invalid("only function tools are supported", p + ".type");
    const ojson* fn = field(t, "function");
    if (!fn || !fn->is_object()) wrong_type(p + ".function", "an object");
    const ojson* name = field(*fn, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty()) {
      wrong_type(p + ".function.name", "a non-empty string");
    }
    if (const ojson* params = field(*fn, "parameters"); params && !params->is_object()) {
      wrong_type(p + ".function.parameters", "a JSON schema object");
    }
    names.push_back(name->get<std::string>());
  }
  return names;
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

}  // namespace

ChatSpec parse_chat_request(const std::string& body) {
  const ojson j = parse_body(body);
  ChatSpec s;
  parse_common(j, s);
  s.messages_json = dump(normalize_messages(j));
  std::vector<std::string> names;
  const ojson* tools = field(j, "tools");
  if (tools) names = check_tools(*tools);
  if (const ojson* choice = field(j, "tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "none") {
        tools = nullptr;  // the model is not told about them, and its output is not parsed for calls
        s.tool_call_format = "none";
      } else if (c != "auto" && c != "required") {
        throw invalid("'tool_choice' must be none, auto, required or a function", "tool_choice");
      }
    } else if (choice->is_object()) {
      const ojson* fn = field(*choice, "function");
      const ojson* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
      if (!name || !name->is_string()) wrong_type("tool_choice.function.name", "a string");
      if (std::find(names.begin(), names.end(), name->get<std::string>()) == names.end()) {
        throw invalid(fmt::format("tool_choice names '{}', which is not among the tools", name->get<std::string>()),
                      "tool_choice");
      }
    } else {
      wrong_type("tool_choice", "a string or an object");
    }
  }
  if (tools && !tools->empty()) s.tools_json = dump(*tools);
  if (const ojson* rf = field(j, "response_format")) {
    if (!rf->is_object() || !rf->contains("type") || (*rf)["type"] != "text") {
      throw invalid("only response_format {\"type\": \"text\"} is supported", "response_format", "unsupported");
    }
  }
  return s;
}

CompletionSpec parse_completion_request(const std::string& body) {
  const ojson j = parse_body(body);
  CompletionSpec s;
  parse_common(j, s);
  if (!s.max_tokens_set) s.generate.max_tokens = 16;  // OpenAI's default for completions
  const ojson* p = field(j, "prompt");
  if (!p) throw invalid("'prompt' is required", "prompt", "missing_required_parameter");
  // A string, a one-string array, or an array of token ids.
  if (p->is_string()) {
    s.prompt_text = p->get<std::string>();
  } else if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    s.prompt_text = (*p)[0].get<std::string>();
  } else if (p->is_array() && !p->empty() && (*p)[0].is_number()) {
    for (const auto& t : *p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        throw invalid("token prompts must be arrays of non-negative integers", "prompt", "invalid_type");
      }
      s.prompt_tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    s.has_tokens = true;
  } else {
    throw invalid("'prompt' must be a string, one string in an array, or an array of token ids (one prompt per request)",
                  "prompt", "invalid_type");
  }
  if (boolean(j, "echo", false)) throw invalid("echo is not supported", "echo", "unsupported");
  if (const ojson* sfx = field(j, "suffix"); sfx) throw invalid("suffix is not supported", "suffix", "unsupported");
  return s;
}

}  // namespace nextlm::server
