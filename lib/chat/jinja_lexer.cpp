#include "chat/jinja_lexer.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "chat/jinja_value.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

const char* token_type_name(Tok t) {
  switch (t) {
    case Tok::kData: return "template data / text";
    case Tok::kVarBegin: return "begin of print statement";
    case Tok::kVarEnd: return "end of print statement";
    case Tok::kBlockBegin: return "begin of statement block";
    case Tok::kBlockEnd: return "end of statement block";
    case Tok::kName: return "name";
    case Tok::kString: return "string";
    case Tok::kInt: return "integer";
    case Tok::kFloat: return "float";
    case Tok::kOp: return "operator";
    case Tok::kEof: return "end of template";
  }
  return "token";
}

namespace {

[[noreturn]] void syntax_error(const std::string& msg, int line) { throw TemplateError("TemplateSyntaxError", msg, line); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) {
      size_t f = find_tag(pos_);
      if (f == std::string::npos) {
        emit_data(s_.substr(pos_), pos_);
        break;
      }
      const char kind = s_[f + 1];
      size_t after = f + 2;
      char sign = 0;
      if (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) sign = s_[after++];
      std::string text = s_.substr(pos_, f - pos_);
      size_t raw_end = 0;
      const bool raw = kind == '%' && match_raw_begin(after, &raw_end);
      text = strip_before(std::move(text), sign, kind != '{');
      emit_data(std::move(text), pos_);
      advance_line(pos_, after);
      pos_ = after;
      line_starting_ = false;
      if (raw) {
        advance_line(pos_, raw_end);
        line_starting_ = raw_end > 0 && s_[raw_end - 1] == '\n';
        pos_ = raw_end;
        lex_raw_body();
      } else if (kind == '#') {
        lex_comment();
      } else {
        lex_tag(kind == '%');
      }
    }
    Token eof;
    eof.type = Tok::kEof;
    eof.line = line_;
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != std::string::npos; i = s_.find('{', i + 1)) {
      if (i + 1 < s_.size() && (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // Whitespace (Python's \s) starting at i; returns its end.
  size_t skip_ws(size_t i) const {
    while (i < s_.size()) {
      size_t j = i;
      if (!py::is_space(py::decode_at(s_, j))) break;
      i = j;
    }
    return i;
  }

  bool all_ws(std::string_view t) const {
    if (t.empty()) return false;
    for (size_t i = 0; i < t.size();)
      if (!py::is_space(py::decode_at(t, i))) return false;
    return true;
  }

  // `{%` [-+] \s* raw \s* (-%}\s* | %})
  bool match_raw_begin(size_t i, size_t* end) const {
    i = skip_ws(i);
    if (s_.compare(i, 3, "raw") != 0) return false;
    i = skip_ws(i + 3);
    if (s_.compare(i, 3, "-%}") == 0) {
      *end = skip_ws(i + 3);
      return true;
    }
    if (s_.compare(i, 2, "%}") == 0) {
      *end = i + 2;
      return true;
    }
    return false;
  }

  std::string strip_before(std::string text, char sign, bool lstrip_ok) const {
    if (sign == '-') return py::strip(text, nullptr, false, true);
    if (sign != '+' && lstrip_ok) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_ws(std::string_view(text).substr(l_pos))) text.resize(l_pos);
    }
    return text;
  }

  void emit_data(std::string text, size_t at) {
    if (text.empty()) return;
    Token t;
    t.type = Tok::kData;
    t.value = std::move(text);
    t.line = line_;
    (void)at;
    out_.push_back(std::move(t));
  }

  void advance_line(size_t from, size_t to) {
    for (size_t i = from; i < to && i < s_.size(); ++i)
      if (s_[i] == '\n') ++line_;
  }

  void push(Tok type, std::string value, int line) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    t.line = line;
    out_.push_back(std::move(t));
  }

  // After the closing `%}`/`#}`: trim_blocks drops one newline unless `+`.
  size_t block_suffix(size_t i, char sign) const {
    if (sign == '-') return skip_ws(i);
    if (sign != '+' && i < s_.size() && s_[i] == '\n') return i + 1;
    return i;
  }

  void lex_comment() {
    size_t e = s_.find("#}", pos_);
    if (e == std::string::npos) syntax_error("Missing end of comment tag", line_);
    char sign = 0;
    if (e > pos_ && (s_[e - 1] == '-' || s_[e - 1] == '+')) sign = s_[e - 1];
    size_t end = block_suffix(e + 2, sign);
    advance_line(pos_, end);
    line_starting_ = end > 0 && s_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_raw_body() {
    // (.*?) {% [-+] \s* endraw \s* (+%} | -%}\s* | %}\n?)
    for (size_t f = s_.find("{%", pos_); f != std::string::npos; f = s_.find("{%", f + 1)) {
      size_t i = f + 2;
      char sign = 0;
      if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) sign = s_[i++];
      i = skip_ws(i);
      if (s_.compare(i, 6, "endraw") != 0) continue;
      i = skip_ws(i + 6);
      char end_sign = 0;
      if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) end_sign = s_[i++];
      if (s_.compare(i, 2, "%}") != 0) continue;
      size_t end = block_suffix(i + 2, end_sign);
      std::string text = strip_before(s_.substr(pos_, f - pos_), sign, true);
      emit_data(std::move(text), pos_);
      advance_line(pos_, end);
      line_starting_ = end > 0 && s_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    syntax_error("Missing end of raw directive", line_);
  }

  void lex_tag(bool block) {
    const int begin_line = line_;
    push(block ? Tok::kBlockBegin : Tok::kVarBegin, "", line_);
    std::vector<char> balance;
    while (true) {
      if (pos_ >= s_.size()) syntax_error(std::string("unexpected end of template, expected '") + (block ? "%}" : "}}") + "'", begin_line);
      if (balance.empty()) {
        size_t end = 0;
        if (match_tag_end(block, &end)) {
          push(block ? Tok::kBlockEnd : Tok::kVarEnd, "", line_);
          advance_line(pos_, end);
          line_starting_ = end > 0 && s_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      size_t ws = skip_ws(pos_);
      if (ws != pos_) {
        advance_line(pos_, ws);
        pos_ = ws;
        continue;
      }
      const char c = s_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        size_t e = pos_;
        while (e < s_.size() && is_name_char(s_[e])) ++e;
        push(Tok::kName, s_.substr(pos_, e - pos_), line_);
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        lex_operator(balance);
      }
    }
  }

  bool match_tag_end(bool block, size_t* end) const {
    const char close = block ? '%' : '}';
    const char c0 = s_[pos_];
    if ((c0 == '-' || (block && c0 == '+')) && pos_ + 2 < s_.size() && s_[pos_ + 1] == close &&
        s_[pos_ + 2] == '}') {
      *end = block ? block_suffix(pos_ + 3, c0) : skip_ws(pos_ + 3);
      return true;
    }
    if (c0 == close && pos_ + 1 < s_.size() && s_[pos_ + 1] == '}') {
      *end = block ? block_suffix(pos_ + 2, 0) : pos_ + 2;
      return true;
    }
    return false;
  }

  size_t scan_digits(size_t i) const {  // (\d+_)*\d+
    size_t start = i;
    while (i < s_.size()) {
      if (is_digit(s_[i])) ++i;
      else if (s_[i] == '_' && i > start && i + 1 < s_.size() && is_digit(s_[i + 1])) ++i;
      else break;
    }
    return i;
  }

  void lex_number() {
    const size_t start = pos_;
    const bool after_dot = start > 0 && s_[start - 1] == '.';
    size_t i = scan_digits(pos_);
    bool is_float = false;
    if (!after_dot) {
      size_t j = i;
      if (j + 1 < s_.size() && s_[j] == '.' && is_digit(s_[j + 1])) {
        j = scan_digits(j + 1);
        is_float = true;
      }
      if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
        size_t k = j + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        if (k < s_.size() && is_digit(s_[k])) {
          j = scan_digits(k);
          is_float = true;
        }
      }
      if (is_float) i = j;
    }
    std::string text;
    for (size_t k = start; k < i; ++k)
      if (s_[k] != '_') text += s_[k];
    Token t;
    t.line = line_;
    t.value = s_.substr(start, i - start);
    if (is_float) {
      t.type = Tok::kFloat;
      t.fval = std::strtod(text.c_str(), nullptr);
      pos_ = i;
      out_.push_back(std::move(t));
      return;
    }
    t.type = Tok::kInt;
    int base = 10;
    if (s_[start] == '0' && start + 1 < s_.size()) {
      const char p = static_cast<char>(s_[start + 1] | 0x20);
      if (p == 'x' || p == 'o' || p == 'b') {
        base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
        size_t k = start + 2;
        text.clear();
        while (k < s_.size()) {
          const char d = static_cast<char>(s_[k] | 0x20);
          const bool ok = base == 16 ? (is_digit(s_[k]) || (d >= 'a' && d <= 'f')) : (s_[k] >= '0' && s_[k] < '0' + base);
          if (ok) text += s_[k];
          else if (s_[k] != '_') break;
          ++k;
        }
        if (text.empty()) syntax_error("invalid integer literal", line_);
        i = k;
      } else {
        i = start + 1;  // "0" (jinja2 reads a leading zero on its own)
        while (i < s_.size() && (s_[i] == '0' || (s_[i] == '_' && i + 1 < s_.size() && s_[i + 1] == '0'))) ++i;
        text.assign(1, '0');
      }
    }
    auto r = std::from_chars(text.data(), text.data() + text.size(), t.ival, base);
    if (r.ec != std::errc()) syntax_error("integer literal too large", line_);
    t.value = s_.substr(start, i - start);
    pos_ = i;
    out_.push_back(std::move(t));
  }

  static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  void lex_string(char quote) {
    const int start_line = line_;
    size_t i = pos_ + 1;
    std::string out;
    while (true) {
      if (i >= s_.size()) syntax_error("unexpected char " + py::repr_string(std::string(1, quote)) + " at " + std::to_string(pos_), start_line);
      const char c = s_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= s_.size()) syntax_error("unterminated string", start_line);
      const char e = s_[i + 1];
      i += 2;
      switch (e) {
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case '\n': ++line_; break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            int h = i + k < s_.size() ? hex_val(s_[i + k]) : -1;
            if (h < 0) syntax_error(std::string("truncated \\") + e + "XX escape", start_line);
            cp = cp * 16 + static_cast<uint32_t>(h);
          }
          if (cp > 0x10FFFF) syntax_error("illegal Unicode character", start_line);
          i += static_cast<size_t>(n);
          py::append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < s_.size() && s_[i] >= '0' && s_[i] <= '7'; ++k) cp = cp * 8 + (s_[i++] - '0');
            py::append_utf8(out, cp);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    Token t;
    t.type = Tok::kString;
    t.value = std::move(out);
    t.line = start_line;
    out_.push_back(std::move(t));
    pos_ = i + 1;
  }

  void lex_operator(std::vector<char>& balance) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwo) {
      if (s_.compare(pos_, 2, op) == 0) {
        push(Tok::kOp, op, line_);
        pos_ += 2;
        return;
      }
    }
    const char c = s_[pos_];
    if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      size_t j = pos_;
      uint32_t cp = py::decode_at(s_, j);
      std::string ch;
      py::append_utf8(ch, cp);
      syntax_error("unexpected char " + py::repr_string(ch) + " at " + std::to_string(pos_), line_);
    }
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) syntax_error(std::string("unexpected '") + c + "'", line_);
      char want = balance.back();
      balance.pop_back();
      if (want != c) syntax_error(std::string("unexpected '") + c + "', expected '" + want + "'", line_);
    }
    push(Tok::kOp, std::string(1, c), line_);
    ++pos_;
  }

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

std::string normalize_source(std::string_view src) {
  std::string s;
  s.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      s += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      s += src[i];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();  // keep_trailing_newline=False
  return s;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(normalize_source(source)).run(); }

}  // namespace nextlm::chat::jinja
