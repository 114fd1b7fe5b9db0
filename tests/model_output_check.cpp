#include "model_output_check.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>

#include "chat/toolcall.h"
#include "session/text_stream.h"
#include "tokenizer/unicode.h"
#include "tokenizer_vocab.h"

#ifndef NEXTLM_FIXTURES_DEFAULT
#define NEXTLM_FIXTURES_DEFAULT ""
#endif

namespace nextlm::test {

namespace {

std::string check_events(const std::vector<chat::ToolCallEvent>& events, std::string& content) {
  for (const auto& e : events) {
    if (!tokenizer::is_valid_utf8(e.text) || !tokenizer::is_valid_utf8(e.name) || !tokenizer::is_valid_utf8(e.id))
      return "an event carries invalid UTF-8";
    if (e.kind == chat::ToolCallEvent::Kind::kContent) content += e.text;
    if (e.kind == chat::ToolCallEvent::Kind::kToolCallEnd) (void)e.arguments.dump();  // throws on invalid UTF-8
  }
  return "";
}

}  // namespace

std::string check_model_output(const tokenizer::Tokenizer& tok, std::span<const int32_t> ids, uint8_t mode) {
  try {
    chat::ToolParserOptions opts;
    opts.format = (mode & 3) == 0   ? chat::ToolCallFormat::kHermesJson
                  : (mode & 3) == 1 ? chat::ToolCallFormat::kNone
                                    : chat::ToolCallFormat::kQwen3CoderXml;
    opts.reasoning_open = mode & 4;
    opts.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "f", "parameters":
      {"type": "object", "properties": {"i": {"type": "integer"}, "s": {"type": "string"}, "o": {"type": "object"}}}}}])");
    std::vector<std::string> stops;
    if (mode & 8) stops.push_back("</tool_call>\n\n");
    session::TextStream stream(tok, stops);
    chat::ToolCallParser parser(opts);
    std::string text, content;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      text += piece;
      if (auto bad = check_events(parser.feed(piece), content); !bad.empty()) return bad;
      if (stream.stopped()) break;
    }
    if (!stream.stopped()) {
      const std::string rest = stream.finish();
      text += rest;
      if (auto bad = check_events(parser.feed(rest), content); !bad.empty()) return bad;
    }
    if (auto bad = check_events(parser.finish(), content); !bad.empty()) return bad;
    if (!tokenizer::is_valid_utf8(text)) return "the streamed text is not valid UTF-8";
    const chat::ParsedMessage& r = parser.result();
    if (content != r.content) return "streamed content deltas differ from the content";
    const chat::ParsedMessage one = chat::parse_tool_calls(text, opts);
    if (one.content != r.content || one.reasoning_content != r.reasoning_content ||
        one.tool_calls.size() != r.tool_calls.size())
      return "one-shot and streamed parsing differ";
    for (const auto& c : r.tool_calls) (void)c.arguments.dump();
    return "";
  } catch (const std::exception& e) {
    return std::string("exception: ") + e.what();
  }
}

const tokenizer::Tokenizer& fuzz_vocabulary(const char* who) {
  static const std::unique_ptr<tokenizer::Tokenizer> tok = [who] {
    const char* env = std::getenv("NEXTLM_FIXTURES");
    const std::string dir = env && *env ? env : NEXTLM_FIXTURES_DEFAULT;
    const std::string path = dir + "/tokenizer/qwen3-vocab.gguf";
    if (!dir.empty() && std::filesystem::is_regular_file(path)) {
      std::fprintf(stderr, "%s: vocabulary %s\n", who, path.c_str());
      return std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_file(path));
    }
    std::fprintf(stderr, "%s: %s not found, using a synthetic vocabulary\n", who, path.c_str());
    return std::make_unique<tokenizer::Tokenizer>(SynthVocab::make(300).load());
  }();
  return *tok;
}

}  // namespace nextlm::test
