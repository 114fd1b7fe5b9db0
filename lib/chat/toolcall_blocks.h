// Internal: the tool-call block scanners behind ToolCallParser. A block is
// the text from its opening marker (`<tool_call>` or a bare `<function=`);
// the scanner reads it incrementally as it grows and reports calls to a sink.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace nextlm::chat::detail {

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void begin(const std::string& name) = 0;       // a call's name is known
  virtual void arguments(const std::string& text) = 0;   // more argument JSON text of the open call
  virtual void end(const std::string& name, nlohmann::ordered_json args) = 0;  // the open call is complete
};

class CallBlock {
 public:
  enum class Status { kMore, kDone, kInvalid };
  virtual ~CallBlock() = default;
  // `text` holds the block from its opening marker. kDone and kInvalid set
  // *end past the text the block consumed; with kInvalid, text from
  // salvage_from() to *end is plain content (calls before it stand).
  // `final`: no more text will come, so kMore is not an answer.
  virtual Status scan(const std::string& text, bool final, CallSink& sink, size_t* end) = 0;
  virtual size_t salvage_from() const { return 0; }
};

constexpr const char* kToolCallOpen = "<tool_call>";
constexpr const char* kToolCallClose = "</tool_call>";
constexpr const char* kFunctionOpen = "<function=";

// Qwen3-Coder XML; `wrapped` when the block opens with <tool_call>.
std::unique_ptr<CallBlock> make_qwen3coder_block(bool wrapped, const nlohmann::ordered_json& tools);
// Hermes JSON inside <tool_call>...</tool_call>.
std::unique_ptr<CallBlock> make_hermes_block();

// A Qwen3-Coder parameter value typed by the tool's JSON schema.
nlohmann::ordered_json type_parameter(const nlohmann::ordered_json& tools, const std::string& function,
                                      const std::string& param, const std::string& value);

}  // namespace nextlm::chat::detail
