// Jinja filters on text and numbers, and the filter table.
#include "chat/jinja_filters.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "chat/jinja_args.h"
#include "chat/jinja_ops.h"
#include "chat/json_format.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

// str(value), keeping Markup (jinja2's soft_str).
Value soft_str(const Value& v) { return v.is_string() ? v : Value::string(to_str(v)); }
Value same_kind(std::string s, const Value& like) { return Value::string(std::move(s), like.is_markup()); }

// Python int(str): whitespace, sign, digits with single underscores.
bool parse_int(const std::string& text, int base, int64_t* out) {
  std::string s = py::strip(text, nullptr, true, true);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {  // 0x / 0o / 0b prefixes, for base 0 or the matching base
    const char p = static_cast<char>(s[i + 1] | 0x20);
    const int prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == 0 || base == prefixed)) {
      base = prefixed;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36) return false;
  if (i >= s.size()) return false;
  __int128 v = 0;
  bool prev_digit = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (!prev_digit || i + 1 >= s.size()) return false;
      prev_digit = false;
      continue;
    }
    int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10 : 99;
    if (d >= base) return false;
    v = v * base + d;
    if (v > static_cast<__int128>(INT64_MAX) + 1) return false;
    prev_digit = true;
  }
  if (!prev_digit) return false;
  v = neg ? -v : v;
  if (v > INT64_MAX) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// Python float(str).
bool parse_float(const std::string& text, double* out) {
  std::string s = py::strip(text, nullptr, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    clean += s[i];
  }
  if (clean.empty()) return false;
  std::string low = py::lower(clean);
  size_t sign = (low[0] == '+' || low[0] == '-') ? 1 : 0;
  std::string body = low.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -v : v;
    return true;
  }
  // Digits, optional fraction, optional exponent; nothing else (no hex).
  size_t i = 0;
  bool digits = false;
  while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, digits = true;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, digits = true;
  }
  if (!digits) return false;
  if (i < body.size() && body[i] == 'e') {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    bool exp_digits = false;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, exp_digits = true;
    if (!exp_digits) return false;
  }
  if (i != body.size()) return false;
  *out = std::strtod(clean.c_str(), nullptr);
  return true;
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_int", {"default", "base"});
  const Value dflt = args.get(0, Value::integer(0));
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::integer(v.as_int());
  if (v.is_float()) {
    const double f = v.as_float();
    if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return dflt;
    return Value::integer(static_cast<int64_t>(f));
  }
  if (v.is_string()) {
    int64_t n;
    if (parse_int(v.str(), static_cast<int>(args.integer(1, 10)), &n)) return Value::integer(n);
    double f;
    if (parse_float(v.str(), &f) && std::isfinite(f) && std::fabs(f) < 9.2e18) return Value::integer(static_cast<int64_t>(f));
  }
  return dflt;
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_float", {"default"});
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_number()) return Value::number(v.as_float());
  double f;
  if (v.is_string() && parse_float(v.str(), &f)) return Value::number(f);
  return args.get(0, Value::number(0.0));
}

Value f_abs(Interpreter&, const Value& v, CallArgs& a) {
  Args(a, "abs", {});
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) raise("OverflowError", "integer result too large for this engine (64-bit)");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  raise("TypeError", std::string("bad operand type for abs(): '") + v.type_name() + "'");
}

double round_half_even(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits == 0) return std::nearbyint(x);
  if (digits > 0) {
    if (digits > 300) return x;
    char buf[400];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), x);
    return std::strtod(buf, nullptr);
  }
  if (digits < -308) return std::copysign(0.0, x);
  const double p = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(x / p) * p;
}

Value f_round(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_round", {"precision", "method"});
  const int64_t precision = args.integer(0, 0);
  const std::string method = args.has(1) ? to_str(args.get(1)) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    raise("FilterArgumentError", "method must be common, ceil or floor");
  if (!v.is_number()) raise("TypeError", std::string("type ") + v.type_name() + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return Value::integer(v.as_int());  // round(int, n) keeps an int (n >= 0)
    return Value::number(round_half_even(v.as_float(), precision));
  }
  const double p = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_float() * p;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_default", {"default_value", "boolean"});
  if (v.is_undefined() || (args.flag(1, false) && !truthy(v))) return args.get(0, Value::string(""));
  return v;
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = args.flag(0, false);
  const Value indent = args.get(1, Value::none());
  if (indent.is_string()) o.indent = indent.str();
  else if (indent.is_int() || indent.is_bool()) o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 64)), ' ');
  else if (!indent.is_none()) raise("TypeError", std::string("can't multiply sequence by non-int of type '") + indent.type_name() + "'");
  if (o.indent) o.item_sep = ",";
  const Value seps = args.get(2, Value::none());
  if (!seps.is_none()) {
    std::vector<Value> parts = in.iterate(seps);
    if (parts.size() != 2) raise("ValueError", "separators must be an (item_separator, key_separator) pair");
    o.item_sep = to_str(parts[0]);
    o.key_sep = to_str(parts[1]);
  }
  o.sort_keys = args.flag(3, false);
  std::string s = json_dumps(v, o, in.options().limits.max_output_bytes);
  in.check_size(s.size());
  return Value::string(std::move(s));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_indent", {"width", "first", "blank"});
  const Value w = args.get(0, Value::integer(4));
  std::string ind = w.is_string() ? w.str() : std::string(static_cast<size_t>(std::clamp<int64_t>(args.integer(0, 4), 0, 1 << 16)), ' ');
  if (!v.is_string()) {  // jinja2 does `s += "\n"` on the value itself
    if (v.is_undefined()) raise_undefined(v);
    if (v.is_seq(SeqKind::kList)) raise("AttributeError", "'list' object has no attribute 'splitlines'");
    if (v.is_seq(SeqKind::kTuple)) raise("TypeError", "can only concatenate tuple (not \"str\") to tuple");
    raise("TypeError", std::string("unsupported operand type(s) for +=: '") + v.type_name() + "' and 'str'");
  }
  std::string s = v.str() + "\n";
  std::vector<std::string> lines = py::splitlines(s, false);
  in.check_size(s.size() + lines.size() * ind.size());
  std::string rv;
  const bool blank = args.flag(2, false);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) {
      rv += '\n';
      if (blank || !lines[i].empty()) rv += ind;
    }
    rv += lines[i];
  }
  if (args.flag(1, false)) rv.insert(0, ind);
  return same_kind(std::move(rv), v);
}

Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  Args(a, "do_title", {});
  // Words start after '-', whitespace and opening brackets (jinja2's rule).
  std::string s = to_str(v), out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    uint32_t c = py::decode_at(s, i);
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py::is_space(c);
    if (sep) {
      py::append_utf8(out, c);
      word_start = true;
    } else if (word_start) {
      if (c == 0xDF) out += "SS";
      else py::append_utf8(out, py::to_upper(c));
      word_start = false;
    } else {
      py::append_utf8(out, py::to_lower(c));
    }
  }
  return same_kind(std::move(out), v);
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  Args(a, "do_wordcount", {});
  std::string s = to_str(v);
  int64_t n = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    const bool w = py::is_word(py::decode_at(s, i));
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_truncate(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_truncate", {"length", "killwords", "end", "leeway"});
  const int64_t length = args.integer(0, 255);
  const std::string end = args.has(2) ? to_str(args.get(2)) : "...";
  const int64_t leeway = args.integer(3, 5);
  if (v.is_undefined()) return v;
  if (!v.is_string()) {  // jinja2 takes len() and slices of the value itself
    const bool sized = v.is_dict() || v.is_seq(SeqKind::kList) || v.is_seq(SeqKind::kTuple) || v.is_seq(SeqKind::kRange);
    if (!sized) raise("TypeError", std::string("object of type '") + v.type_name() + "' has no len()");
    const size_t n = v.is_dict() ? v.dict_data().size() : v.items().size();
    if (static_cast<int64_t>(n) <= length + leeway) return v;
    if (v.is_dict()) raise("TypeError", "unhashable type: 'slice'");
    if (args.flag(1, false)) raise("TypeError", std::string("can only concatenate ") + v.type_name() + " (not \"str\") to " + v.type_name());
    raise("AttributeError", std::string("'") + v.type_name() + "' object has no attribute 'rsplit'");
  }
  std::vector<uint32_t> cps = py::to_code_points(v.str());
  const auto end_len = static_cast<int64_t>(py::length(end));
  if (length < end_len) raise("AssertionError", "expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) raise("AssertionError", "expected leeway >= 0, got " + std::to_string(leeway));
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return soft_str(v);
  std::string head = py::from_code_points(cps.data(), static_cast<size_t>(length - end_len));
  if (args.flag(1, false)) return Value::string(head + end);
  size_t sp = head.rfind(' ');
  if (sp != std::string::npos) head.resize(sp);
  return Value::string(head + end);
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.pos.empty() && !a.kw.empty())
    raise("FilterArgumentError", "can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.kw.empty()) {
    auto d = make_dict();
    for (const auto& [k, x] : a.kw) d->set(Value::string(k), x);
    args = Value::dict(d);
  } else {
    args = Value::tuple(a.pos);
  }
  return same_kind(percent_format(in, to_str(v), args), v);
}

#define SIMPLE(NAME, EXPR)                                                \
  [](Interpreter & in, const Value & v, CallArgs & a) -> Value {         \
    (void)in;                                                             \
    Args args(a, NAME, {});                                               \
    return EXPR;                                                          \
  }

}  // namespace

void add_text_filters(FilterTable& t) {
  t["upper"] = SIMPLE("do_upper", same_kind(py::upper(to_str(v)), v));
  t["lower"] = SIMPLE("do_lower", same_kind(py::lower(to_str(v)), v));
  t["capitalize"] = SIMPLE("do_capitalize", same_kind(py::capitalize(to_str(v)), v));
  t["title"] = f_title;
  t["string"] = SIMPLE("soft_str", soft_str(v));
  t["safe"] = SIMPLE("do_mark_safe", Value::string(to_str(v), true));
  t["escape"] = SIMPLE("escape", v.is_markup() ? v : Value::string(py::html_escape(to_str(v)), true));
  t["e"] = t["escape"];
  t["forceescape"] = SIMPLE("do_forceescape", Value::string(py::html_escape(to_str(v)), true));
  t["pprint"] = SIMPLE("do_pprint", Value::string(to_repr(v)));
  t["trim"] = [](Interpreter&, const Value& v, CallArgs& a) -> Value {
    Args args(a, "do_trim", {"chars"});
    std::optional<std::string> chars = args.string(0);
    return same_kind(py::strip(to_str(v), chars ? &*chars : nullptr, true, true), v);
  };
  t["replace"] = [](Interpreter& in, const Value& v, CallArgs& a) -> Value {
    Args args(a, "do_replace", {"old", "new", "count"});
    const std::string s = to_str(v), old = to_str(args.get(0)), repl = to_str(args.get(1));
    in.check_size(old.empty() ? (s.size() + 1) * (repl.size() + 4) : s.size() / old.size() * repl.size() + s.size());
    return Value::string(py::replace(s, old, repl, args.has(2) && !args.get(2).is_none() ? args.integer(2, -1) : -1));
  };
  t["center"] = [](Interpreter& in, const Value& v, CallArgs& a) -> Value {
    Args args(a, "do_center", {"width"});
    const int64_t width = args.integer(0, 80);
    std::string s = to_str(v);
    const auto len = static_cast<int64_t>(py::length(s));
    if (width <= len) return Value::string(s);
    in.check_size(static_cast<size_t>(width));
    const auto total = static_cast<size_t>(width - len);
    const size_t left = total / 2 + (total & static_cast<size_t>(width) & 1);
    return Value::string(std::string(left, ' ') + s + std::string(total - left, ' '));
  };
  t["int"] = f_int;
  t["float"] = f_float;
  t["abs"] = f_abs;
  t["round"] = f_round;
  t["default"] = f_default;
  t["d"] = f_default;
  t["tojson"] = f_tojson;
  t["indent"] = f_indent;
  t["wordcount"] = f_wordcount;
  t["truncate"] = f_truncate;
  t["format"] = f_format;
}

#undef SIMPLE

FilterFn find_filter(const std::string& name) {
  static const FilterTable table = [] {
    FilterTable t;
    add_text_filters(t);
    add_sequence_filters(t);
    return t;
  }();
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace nextlm::chat::jinja
