// JSON text exactly as Python's json.dumps writes it (the `tojson` filter of
// Hugging Face's chat templates), and conversion between nlohmann JSON and
// jinja values.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chat/jinja_value.h"

namespace nextlm::chat {

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // unset: one line
  std::string item_sep = ", ";        // json.dumps: "," when indenting
  std::string key_sep = ": ";
  bool sort_keys = false;
};

// Throws jinja::TemplateError (TypeError for values JSON cannot hold,
// LimitExceeded past max_bytes).
std::string json_dumps(const jinja::Value& v, const JsonDumpOptions& opts, size_t max_bytes = SIZE_MAX);

// Objects keep their key order (nlohmann::ordered_json). Strings (keys too)
// are input strings: rendered text from them is marked as input.
jinja::Value value_from_json(const nlohmann::ordered_json& j);
nlohmann::ordered_json value_to_json(const jinja::Value& v);

}  // namespace nextlm::chat
