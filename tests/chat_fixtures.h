// Helpers for tests over fixtures/templates: the templates of a folder and a
// conversation of conversations.json as a ChatRequest.
#pragma once

#include <algorithm>
#include <filesystem>
#include <vector>

#include "chat/chat_template.h"

namespace nextlm::test {

// A conversation of conversations.json as the CLI (and transformers) passes it.
inline chat::ChatRequest request_for(const nlohmann::ordered_json& c) {
  chat::ChatRequest req;
  req.bos_token = "<BOS>";
  req.eos_token = "<EOS>";
  req.add_generation_prompt = false;
  for (const auto& [k, v] : c.items()) {
    if (k == "name") continue;
    if (k == "messages") req.messages = v;
    else if (k == "tools") req.tools = v;
    else if (k == "add_generation_prompt") req.add_generation_prompt = v.get<bool>();
    else req.extra[k] = v;
  }
  return req;
}

// The *.jinja files of a folder, sorted.
inline std::vector<std::filesystem::path> templates_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".jinja") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nextlm::test
