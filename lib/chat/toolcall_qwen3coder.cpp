// Qwen3-Coder XML tool calls:
//   <tool_call>
//   <function=NAME>
//   <parameter=P>
//   VALUE
//   </parameter>
//   </function>
//   </tool_call>
// A parameter value ends at </parameter>, or at the next <parameter= or
// </function> when the closing tag is missing; one leading and one trailing
// newline are removed, and the value is typed by the tool's schema.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "chat/py_text.h"
#include "chat/toolcall_blocks.h"

namespace nextlm::chat::detail {

namespace {

using json = nlohmann::ordered_json;

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_ws(s[b])) ++b;
  while (e > b && is_ws(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Text for JSON strings: invalid UTF-8 becomes U+FFFD.
std::string valid_utf8(const std::string& s) {
  if (py::is_ascii(s)) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const uint32_t c = py::decode_at(s, i);
    py::append_utf8(out, c >= 0xDC80 && c <= 0xDCFF ? 0xFFFD : c);
  }
  return out;
}

bool starts_with(const std::string& s, size_t at, const char* p) { return s.compare(at, std::strlen(p), p) == 0; }

// Whether s[at..] is a proper prefix of p (more text could complete it).
bool partial(const std::string& s, size_t at, const char* p) {
  const size_t n = s.size() - at;
  return n < std::strlen(p) && std::strncmp(s.data() + at, p, n) == 0;
}

const json* param_schema(const json& tools, const std::string& function, const std::string& param) {
  if (!tools.is_array()) return nullptr;
  for (const json& t : tools) {
    const json& f = t.contains("function") ? t["function"] : t;
    if (!f.is_object() || !f.contains("name") || f["name"] != function) continue;
    if (!f.contains("parameters") || !f["parameters"].is_object()) return nullptr;
    const json& params = f["parameters"];
    if (!params.contains("properties") || !params["properties"].is_object()) return nullptr;
    auto it = params["properties"].find(param);
    return it == params["properties"].end() ? nullptr : &*it;
  }
  return nullptr;
}

void collect_types(const json& schema, std::vector<std::string>& out) {
  if (!schema.is_object()) return;
  if (schema.contains("type")) {
    const json& t = schema["type"];
    if (t.is_string()) out.push_back(t.get<std::string>());
    else if (t.is_array())
      for (const json& x : t)
        if (x.is_string()) out.push_back(x.get<std::string>());
  }
  for (const char* k : {"anyOf", "oneOf"})
    if (schema.contains(k) && schema[k].is_array())
      for (const json& sub : schema[k]) collect_types(sub, out);
}

bool parse_integer(const std::string& s, json* out) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno || *end) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

bool parse_number(const std::string& s, json* out) {
  if (parse_integer(s, out)) return true;
  if (s.find_first_of("xXpP") != std::string::npos || s.find("n") != std::string::npos ||
      s.find("N") != std::string::npos || s.find("i") != std::string::npos || s.find("I") != std::string::npos)
    return false;  // no hex floats, nan or inf
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno || *end || end == s.c_str()) return false;
  *out = v;
  return true;
}

}  // namespace

json type_parameter(const json& tools, const std::string& function, const std::string& param,
                    const std::string& value) {
  const json* schema = param_schema(tools, function, param);
  if (!schema) return value;
  std::vector<std::string> types;
  collect_types(*schema, types);
  bool has_string = false, has_null = false;
  for (const auto& t : types) has_string |= t == "string", has_null |= t == "null";
  const std::string v = trim(value);
  if (v == "null" && (has_null || !has_string) && !types.empty()) return nullptr;
  for (const auto& t : types) {
    json out;
    if (t == "string") return value;
    if (v.empty()) continue;
    if (t == "integer" && parse_integer(v, &out)) return out;
    if (t == "number" && parse_number(v, &out)) return out;
    if (t == "boolean" && (v == "true" || v == "True" || v == "false" || v == "False")) return v[0] == 't' || v[0] == 'T';
    if (t == "object" || t == "array") {
      json parsed = json::parse(v, nullptr, false);
      if (!parsed.is_discarded() && (t == "object" ? parsed.is_object() : parsed.is_array())) return parsed;
    }
  }
  return value;
}

namespace {

class Qwen3CoderBlock : public CallBlock {
 public:
  Qwen3CoderBlock(bool wrapped, const json& tools) : wrapped_(wrapped), tools_(tools) {
    if (wrapped) {
      pos_ = std::strlen(kToolCallOpen);
      phase_ = Phase::kBetween;
    } else {
      pos_ = std::strlen(kFunctionOpen);
      phase_ = Phase::kName;
    }
  }

  size_t salvage_from() const override { return salvage_; }

  Status scan(const std::string& text, bool final, CallSink& sink, size_t* end) override {
    while (true) {
      switch (phase_) {
        case Phase::kBetween: {  // before a function, or after one (wrapped blocks only)
          size_t p = pos_;
          while (p < text.size() && is_ws(text[p])) ++p;
          if (starts_with(text, p, kFunctionOpen)) {
            func_start_ = p;
            pos_ = p + std::strlen(kFunctionOpen);
            phase_ = Phase::kName;
            continue;
          }
          if (starts_with(text, p, kToolCallClose)) {
            *end = p + std::strlen(kToolCallClose);
            return calls_ ? Status::kDone : Status::kInvalid;
          }
          if (p == text.size() || partial(text, p, kFunctionOpen) || partial(text, p, kToolCallClose)) {
            if (!final) return Status::kMore;
            return give_up(text, end);
          }
          if (calls_ == 0) {  // not XML: the opening tag is plain text
            *end = std::strlen(kToolCallOpen);
            return Status::kInvalid;
          }
          // Stray text after a call: skip to the closing tag.
          size_t q = text.find(kToolCallClose, p);
          if (q == std::string::npos) {
            if (!final) return Status::kMore;
            return give_up(text, end);
          }
          pos_ = q;
          continue;
        }
        case Phase::kName: {
          size_t gt = text.find('>', pos_);
          if (gt == std::string::npos) return final ? give_up(text, end) : Status::kMore;
          name_ = valid_utf8(trim(text.substr(pos_, gt - pos_)));
          if (name_.empty() || name_.find_first_of("<\n") != std::string::npos) {
            if (calls_ == 0 && !wrapped_) {
              *end = std::strlen(kFunctionOpen);
              return Status::kInvalid;
            }
            return give_up(text, end, gt + 1);
          }
          sink.begin(name_);
          open_ = true;
          args_ = json::object();
          arg_text_.clear();
          pos_ = gt + 1;
          phase_ = Phase::kBody;
          continue;
        }
        case Phase::kBody: {
          size_t which = 0;
          size_t q = find_first(text, {"<parameter=", "</function>"}, &which);
          if (q == std::string::npos) return final ? give_up(text, end) : Status::kMore;
          if (which == 0) {
            pos_ = q + std::strlen("<parameter=");
            phase_ = Phase::kParamName;
            continue;
          }
          pos_ = q + std::strlen("</function>");
          sink.arguments(arg_text_.empty() ? "{}" : "}");
          sink.end(name_, std::move(args_));
          open_ = false;
          ++calls_;
          salvage_ = pos_;
          if (!wrapped_) {
            *end = pos_;
            return Status::kDone;
          }
          phase_ = Phase::kBetween;
          continue;
        }
        case Phase::kParamName: {
          size_t gt = text.find('>', pos_);
          if (gt == std::string::npos) return final ? give_up(text, end) : Status::kMore;
          param_ = valid_utf8(trim(text.substr(pos_, gt - pos_)));
          pos_ = value_start_ = gt + 1;
          phase_ = Phase::kParamValue;
          continue;
        }
        case Phase::kParamValue: {
          size_t which = 0;
          size_t q = find_first(text, {"</parameter>", "<parameter=", "</function>"}, &which);
          if (q == std::string::npos) return final ? give_up(text, end) : Status::kMore;
          std::string value = valid_utf8(text.substr(value_start_, q - value_start_));
          if (!value.empty() && value.front() == '\n') value.erase(0, 1);
          if (!value.empty() && value.back() == '\n') value.pop_back();
          json typed = type_parameter(tools_, name_, param_, value);
          std::string piece = arg_text_.empty() ? "{" : ",";
          piece += json(param_).dump() + ":" + typed.dump();
          arg_text_ += piece;
          sink.arguments(piece);
          args_[param_] = std::move(typed);
          pos_ = which == 0 ? q + std::strlen("</parameter>") : q;
          phase_ = Phase::kBody;
          continue;
        }
      }
    }
  }

 private:
  enum class Phase { kBetween, kName, kBody, kParamName, kParamValue };

  // Earliest of `markers` at or after pos_, resuming where the last search
  // stopped so that a long value fed in small pieces is scanned once.
  size_t find_first(const std::string& text, std::initializer_list<const char*> markers, size_t* which) {
    size_t from = std::max(pos_, search_from_);
    size_t best = std::string::npos, i = 0, longest = 0;
    for (const char* m : markers) {
      size_t q = text.find(m, from);
      if (q < best) best = q, *which = i;
      longest = std::max(longest, std::strlen(m));
      ++i;
    }
    if (best == std::string::npos) {
      search_from_ = text.size() >= longest ? text.size() - longest + 1 : 0;
    } else {
      search_from_ = 0;
    }
    return best;
  }

  // The block ends without closing: completed calls stand, the rest is text.
  Status give_up(const std::string& text, size_t* end, size_t upto = std::string::npos) {
    *end = upto == std::string::npos ? text.size() : upto;
    if (!open_ && calls_ && wrapped_ && salvage_ <= *end && text.find_first_not_of(" \t\r\n\f\v", salvage_) >= *end)
      return Status::kDone;  // only whitespace after the last call: a missing </tool_call>
    return Status::kInvalid;
  }

  bool wrapped_;
  const json& tools_;
  Phase phase_;
  size_t pos_ = 0, search_from_ = 0, value_start_ = 0, func_start_ = 0, salvage_ = 0;
  int calls_ = 0;
  bool open_ = false;
  std::string name_, param_, arg_text_;
  json args_;
};

}  // namespace

std::unique_ptr<CallBlock> make_qwen3coder_block(bool wrapped, const json& tools) {
  return std::make_unique<Qwen3CoderBlock>(wrapped, tools);
}

}  // namespace nextlm::chat::detail
