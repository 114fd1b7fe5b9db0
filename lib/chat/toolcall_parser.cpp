// The streaming driver of tool-call parsing: splits model output into a
// leading think block, content and call blocks, holding back only text that
// could still turn out to be a marker (or an incomplete UTF-8 sequence).
#include <cstring>
#include <initializer_list>

#include "chat/py_text.h"
#include "chat/toolcall.h"
#include "chat/toolcall_blocks.h"

namespace nextlm::chat {

using json = nlohmann::ordered_json;

json ParsedMessage::to_json(bool with_ids) const {
  json j = json::object();
  if (reasoning_content) j["reasoning_content"] = *reasoning_content;
  j["content"] = content;
  json calls = json::array();
  for (const ToolCall& c : tool_calls) {
    json x = json::object();
    if (with_ids) x["id"] = c.id;
    x["name"] = c.name;
    x["arguments"] = c.arguments;
    calls.push_back(std::move(x));
  }
  j["tool_calls"] = std::move(calls);
  return j;
}

namespace {

// Text made of pieces that are each trimmed and joined by "\n", built
// incrementally: leading whitespace of a piece is dropped and trailing
// whitespace held back until more text follows.
class PieceWriter {
 public:
  std::string add(std::string_view t) {
    std::string delta;
    for (size_t i = 0; i < t.size();) {
      const size_t start = i;
      const uint32_t c = py::decode_at(t, i);
      if (py::is_space(c)) {
        if (started_) pending_.append(t.substr(start, i - start));
        continue;
      }
      if (!started_) {
        if (any_) delta += '\n';
        started_ = any_ = true;
      }
      delta += pending_;
      pending_.clear();
      delta.append(t.substr(start, i - start));
    }
    text += delta;
    return delta;
  }
  void close_piece() {
    pending_.clear();
    started_ = false;
  }
  std::string text;

 private:
  std::string pending_;
  bool started_ = false, any_ = false;
};

// Length of the longest suffix of `s` that is a proper prefix of a marker,
// widened so that the cut never splits a UTF-8 sequence.
size_t holdback(const std::string& s, std::initializer_list<const char*> markers) {
  size_t keep = 0;
  for (const char* m : markers) {
    const size_t n = std::strlen(m);
    for (size_t k = std::min(n - 1, s.size()); k > keep; --k)
      if (s.compare(s.size() - k, k, m, k) == 0) {
        keep = k;
        break;
      }
  }
  // An incomplete multi-byte sequence at the cut stays too.
  size_t cut = s.size() - keep;
  for (size_t back = 1; back <= 3 && back <= cut; ++back) {
    const auto b = static_cast<unsigned char>(s[cut - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte
    const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (need > back) keep += back;
    break;
  }
  return keep;
}

bool ascii_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool starts_with(const std::string& s, size_t at, const char* p) { return s.compare(at, std::strlen(p), p) == 0; }

}  // namespace

struct ToolCallParser::Impl : detail::CallSink {
  enum class State { kStart, kReasoning, kContent, kCall };

  explicit Impl(ToolParserOptions o) : opt(std::move(o)) {
    if (opt.reasoning_open) {
      state = State::kReasoning;
      msg.reasoning_content = "";
    }
  }

  void begin(const std::string& name) override {
    cur_index = next_index++;
    cur_id = opt.id_prefix + std::to_string(cur_index);
    call_open = true;
    ToolCallEvent e;
    e.kind = ToolCallEvent::Kind::kToolCallBegin;
    e.index = cur_index;
    e.id = cur_id;
    e.name = name;
    out->push_back(std::move(e));
  }
  void arguments(const std::string& text) override {
    ToolCallEvent e;
    e.kind = ToolCallEvent::Kind::kToolCallArguments;
    e.index = cur_index;
    e.id = cur_id;
    e.text = text;
    out->push_back(std::move(e));
  }
  void end(const std::string& name, json args) override {
    ToolCallEvent e;
    e.kind = ToolCallEvent::Kind::kToolCallEnd;
    e.index = cur_index;
    e.id = cur_id;
    e.name = name;
    e.arguments = args;
    out->push_back(std::move(e));
    msg.tool_calls.push_back(ToolCall{cur_id, name, std::move(args)});
    call_open = false;
  }

  void emit_text(ToolCallEvent::Kind kind, std::string_view t) {
    std::string delta = (kind == ToolCallEvent::Kind::kContent ? content : reasoning).add(t);
    if (delta.empty()) return;
    if (kind == ToolCallEvent::Kind::kContent) msg.content = content.text;
    else msg.reasoning_content = reasoning.text;
    ToolCallEvent e;
    e.kind = kind;
    e.text = std::move(delta);
    out->push_back(std::move(e));
  }

  void run(bool final) {
    const bool tools = opt.format != ToolCallFormat::kNone;
    const bool bare = opt.format == ToolCallFormat::kQwen3CoderXml;
    while (true) {
      switch (state) {
        case State::kStart: {
          size_t p = 0;
          while (p < buf.size() && ascii_space(buf[p])) ++p;
          if (starts_with(buf, p, "<think>")) {
            buf.erase(0, p + 7);
            state = State::kReasoning;
            msg.reasoning_content = "";
            continue;
          }
          if (!final && buf.size() - p < 7 && std::string_view("<think>").substr(0, buf.size() - p) == buf.substr(p))
            return;
          state = State::kContent;
          continue;
        }
        case State::kReasoning: {
          size_t q = buf.find("</think>");
          if (q != std::string::npos) {
            emit_text(ToolCallEvent::Kind::kReasoning, std::string_view(buf).substr(0, q));
            buf.erase(0, q + 8);
            state = State::kContent;
            continue;
          }
          const size_t cut = buf.size() - (final ? 0 : holdback(buf, {"</think>"}));
          emit_text(ToolCallEvent::Kind::kReasoning, std::string_view(buf).substr(0, cut));
          buf.erase(0, cut);
          return;
        }
        case State::kContent: {
          if (skip_close_tag) {  // a stray </tool_call> after a bare <function> call
            size_t p = 0;
            while (p < buf.size() && ascii_space(buf[p])) ++p;
            if (starts_with(buf, p, detail::kToolCallClose)) {
              buf.erase(0, p + std::strlen(detail::kToolCallClose));
            } else if (!final && std::string_view(detail::kToolCallClose).substr(0, buf.size() - p) == buf.substr(p)) {
              return;
            }
            skip_close_tag = false;
          }
          size_t q = tools ? buf.find(detail::kToolCallOpen) : std::string::npos;
          if (bare) q = std::min(q, buf.find(detail::kFunctionOpen));
          if (q != std::string::npos) {
            emit_text(ToolCallEvent::Kind::kContent, std::string_view(buf).substr(0, q));
            buf.erase(0, q);
            state = State::kCall;
            block.reset();
            continue;
          }
          size_t keep = 0;
          if (!final) {
            keep = bare ? holdback(buf, {detail::kToolCallOpen, detail::kFunctionOpen})
                 : tools ? holdback(buf, {detail::kToolCallOpen})
                         : holdback(buf, {});
          }
          const size_t cut = buf.size() - keep;
          emit_text(ToolCallEvent::Kind::kContent, std::string_view(buf).substr(0, cut));
          buf.erase(0, cut);
          return;
        }
        case State::kCall: {
          const bool is_bare = starts_with(buf, 0, detail::kFunctionOpen);
          if (!block) {
            if (is_bare) {
              block = detail::make_qwen3coder_block(false, opt.tools);
            } else {
              size_t p = std::strlen(detail::kToolCallOpen);
              while (p < buf.size() && ascii_space(buf[p])) ++p;
              if (p == buf.size() && !final) return;
              if (p < buf.size() && buf[p] == '{') block = detail::make_hermes_block();
              else block = detail::make_qwen3coder_block(true, opt.tools);
            }
          }
          size_t end_pos = 0;
          const auto status = block->scan(buf, final, *this, &end_pos);
          if (status == detail::CallBlock::Status::kMore) return;
          if (status == detail::CallBlock::Status::kDone) {
            content.close_piece();
            skip_close_tag = is_bare;
          } else {
            if (call_open) {
              ToolCallEvent e;
              e.kind = ToolCallEvent::Kind::kToolCallAbandoned;
              e.index = cur_index;
              e.id = cur_id;
              out->push_back(std::move(e));
              call_open = false;
            }
            const size_t from = std::min(block->salvage_from(), end_pos);
            if (from > 0) content.close_piece();
            emit_text(ToolCallEvent::Kind::kContent, std::string_view(buf).substr(from, end_pos - from));
          }
          buf.erase(0, end_pos);
          block.reset();
          state = State::kContent;
          continue;
        }
      }
    }
  }

  ToolParserOptions opt;
  State state = State::kStart;
  std::string buf;
  std::unique_ptr<detail::CallBlock> block;
  PieceWriter content, reasoning;
  ParsedMessage msg;
  std::vector<ToolCallEvent>* out = nullptr;
  size_t next_index = 0, cur_index = 0;
  std::string cur_id;
  bool call_open = false, skip_close_tag = false, finished = false;
};

ToolCallParser::ToolCallParser(ToolParserOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
ToolCallParser::~ToolCallParser() = default;
ToolCallParser::ToolCallParser(ToolCallParser&&) noexcept = default;
ToolCallParser& ToolCallParser::operator=(ToolCallParser&&) noexcept = default;

std::vector<ToolCallEvent> ToolCallParser::feed(std::string_view piece) {
  std::vector<ToolCallEvent> events;
  if (impl_->finished) return events;
  impl_->out = &events;
  impl_->buf.append(piece);
  impl_->run(false);
  impl_->out = nullptr;
  return events;
}

std::vector<ToolCallEvent> ToolCallParser::finish() {
  std::vector<ToolCallEvent> events;
  if (impl_->finished) return events;
  impl_->out = &events;
  impl_->run(true);
  impl_->out = nullptr;
  impl_->finished = true;
  return events;
}

const ParsedMessage& ToolCallParser::result() const { return impl_->msg; }

ParsedMessage parse_tool_calls(std::string_view output, const ToolParserOptions& options) {
  ToolCallParser p(options);
  p.feed(output);
  p.finish();
  return p.result();
}

}  // namespace nextlm::chat
