// Hermes-style JSON tool calls, as Qwen2.5 / Qwen3 write them:
//   <tool_call>
//   {"name": "get_weather", "arguments": {"location": "Vienna"}}
//   </tool_call>
// "arguments" may also be a JSON string holding the object (or be named
// "parameters"). The call's name is reported as soon as it has streamed in;
// the arguments when the block closes.
#include <cstring>

#include "chat/toolcall_blocks.h"

namespace nextlm::chat::detail {

namespace {

using json = nlohmann::ordered_json;

class HermesBlock : public CallBlock {
 public:
  Status scan(const std::string& text, bool final, CallSink& sink, size_t* end) override {
    const size_t open = std::strlen(kToolCallOpen);
    size_t q = text.find(kToolCallClose, std::max(open, search_from_));
    if (q == std::string::npos) {
      search_from_ = text.size() > 12 ? text.size() - 11 : 0;
      if (!begun_) early_name(text, open, sink);
      if (!final) return Status::kMore;
      *end = text.size();
      return Status::kInvalid;
    }
    *end = q + std::strlen(kToolCallClose);
    json obj = json::parse(text.begin() + static_cast<std::ptrdiff_t>(open), text.begin() + static_cast<std::ptrdiff_t>(q),
                           nullptr, false);
    if (obj.is_discarded() || !obj.is_object() || !obj.contains("name") || !obj["name"].is_string())
      return Status::kInvalid;
    const std::string name = obj["name"].get<std::string>();
    json args = json::object();
    for (const char* key : {"arguments", "parameters"}) {
      if (!obj.contains(key)) continue;
      args = obj[key];
      if (args.is_string()) {
        json inner = json::parse(args.get<std::string>(), nullptr, false);
        if (!inner.is_discarded() && inner.is_object()) args = std::move(inner);
      }
      break;
    }
    if (args.is_null()) args = json::object();
    if (!begun_) sink.begin(name);
    sink.arguments(args.dump());
    sink.end(name, std::move(args));
    return Status::kDone;
  }

 private:
  // `"name": "..."` at the top of the object, once its string is complete.
  void early_name(const std::string& text, size_t from, CallSink& sink) {
    size_t p = text.find_first_not_of(" \t\r\n", from);
    if (p == std::string::npos || text[p] != '{') return;
    p = text.find_first_not_of(" \t\r\n", p + 1);
    if (p == std::string::npos || text.compare(p, 6, "\"name\"") != 0) return;
    p = text.find_first_not_of(" \t\r\n", p + 6);
    if (p == std::string::npos || text[p] != ':') return;
    p = text.find_first_not_of(" \t\r\n", p + 1);
    if (p == std::string::npos || text[p] != '"') return;
    size_t e = text.find('"', p + 1);
    if (e == std::string::npos) return;
    std::string name = text.substr(p + 1, e - p - 1);
    if (name.find('\\') != std::string::npos || name.empty()) return;  // escaped names: wait for the full JSON
    sink.begin(name);
    begun_ = true;
  }

  size_t search_from_ = 0;
  bool begun_ = false;
};

}  // namespace

std::unique_ptr<CallBlock> make_hermes_block() { return std::make_unique<HermesBlock>(); }

}  // namespace nextlm::chat::detail
