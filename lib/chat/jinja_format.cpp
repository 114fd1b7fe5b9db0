// Python string formatting: `fmt % args` and `fmt.format(...)`.
#include <cmath>
#include <cstdio>

#include "chat/jinja_eval.h"
#include "chat/jinja_ops.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

std::string pad(const std::string& s, size_t width, char align, uint32_t fill) {
  const size_t len = py::length(s);
  if (len >= width) return s;
  const size_t n = width - len;
  std::string f;
  py::append_utf8(f, fill);
  auto rep = [&](size_t k) {
    std::string r;
    for (size_t i = 0; i < k; ++i) r += f;
    return r;
  };
  if (align == '<') return s + rep(n);
  if (align == '^') return rep(n / 2) + s + rep(n - n / 2);
  if (align == '=' && !s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) return s.substr(0, 1) + rep(n) + s.substr(1);
  return rep(n) + s;
}

template <typename T>
std::string c_format(const char* spec, T v) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, spec, v);
  if (n < 0) return "";
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), spec, v);
  big.resize(static_cast<size_t>(n));
  return big;
}

int64_t to_int_arg(const Value& v, char conv) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) {
    const double f = v.as_float();
    if (!std::isfinite(f)) raise("OverflowError", "cannot convert float infinity or NaN to integer");
    if (std::fabs(f) >= 9.2e18) raise("OverflowError", "integer too large for this engine (64-bit)");
    return static_cast<int64_t>(f);
  }
  raise("TypeError", std::string("%") + conv + " format: a real number is required, not " + v.type_name());
}

double to_float_arg(const Value& v, char conv) {
  if (v.is_number()) return v.as_float();
  raise("TypeError", std::string("%") + conv + " format: a real number is required, not " + v.type_name());
}

std::string group_digits(const std::string& digits, char sep, size_t every = 3) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % every == 0) out += sep;
    out += digits[i];
  }
  return out;
}

}  // namespace

std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args) {
  std::vector<Value> pos;
  const DictData* mapping = nullptr;
  if (args.is_seq(SeqKind::kTuple)) pos = args.items();
  else pos.push_back(args);
  if (args.is_dict()) mapping = &args.dict_data();
  // Python treats any non-tuple argument with __getitem__ as a mapping: unused
  // arguments are then no error.
  const bool mapping_like =
      args.is_dict() || args.is_seq(SeqKind::kList) || args.is_seq(SeqKind::kRange) || args.is_undefined();
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) raise("ValueError", "incomplete format");
    const Value* arg_from_key = nullptr;
    if (fmt[i] == '(') {
      size_t e = fmt.find(')', i);
      if (e == std::string::npos) raise("ValueError", "incomplete format key");
      if (!mapping) raise("TypeError", "format requires a mapping");
      arg_from_key = mapping->find(std::string_view(fmt).substr(i + 1, e - i - 1));
      if (!arg_from_key) raise("KeyError", py::repr_string(fmt.substr(i + 1, e - i - 1)));
      i = e + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos) flags += fmt[i++];
    auto take_arg = [&]() -> Value {
      if (arg_from_key) return *arg_from_key;
      if (next >= pos.size()) raise("TypeError", "not enough arguments for format string");
      return pos[next++];
    };
    auto number = [&](int64_t* out_n) {
      if (i < fmt.size() && fmt[i] == '*') {
        ++i;
        Value v = take_arg();
        if (!v.is_int()) raise("TypeError", "* wants int");
        *out_n = v.as_int();
        return true;
      }
      bool any = false;
      *out_n = 0;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        *out_n = std::min<int64_t>(*out_n * 10 + (fmt[i++] - '0'), 1 << 20);
        any = true;
      }
      return any;
    };
    int64_t width = 0, prec = -1;
    number(&width);
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      if (!number(&prec)) prec = 0;
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) raise("ValueError", "incomplete format");
    const char conv = fmt[i];
    const bool left = flags.find('-') != std::string::npos;
    if (conv == '%') {
      out += '%';
      continue;
    }
    in.check_size(out.size() + static_cast<size_t>(width) + (prec > 0 ? static_cast<size_t>(prec) : 0));
    Value arg = take_arg();
    std::string piece;
    if (conv == 's' || conv == 'r' || conv == 'a') {
      piece = conv == 's' ? to_str(arg) : to_repr(arg);
      if (prec >= 0) {
        std::vector<uint32_t> cps = py::to_code_points(piece);
        if (cps.size() > static_cast<size_t>(prec)) piece = py::from_code_points(cps.data(), static_cast<size_t>(prec));
      }
      piece = pad(piece, static_cast<size_t>(width), left ? '<' : '>', ' ');
    } else if (conv == 'c') {
      if (arg.is_string() && py::length(arg.str()) == 1) piece = arg.str();
      else if (arg.is_int()) py::append_utf8(piece, static_cast<uint32_t>(arg.as_int() & 0x1FFFFF));
      else raise("TypeError", "%c requires int or char");
      piece = pad(piece, static_cast<size_t>(width), left ? '<' : '>', ' ');
    } else {
      std::string spec = "%" + flags + (width ? std::to_string(width) : "") + (prec >= 0 ? "." + std::to_string(prec) : "");
      if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X' || conv == 'o') {
        const char c = conv == 'i' || conv == 'u' ? 'd' : conv;
        spec += "ll";
        spec += c;
        piece = c_format(spec.c_str(), static_cast<long long>(to_int_arg(arg, conv)));
        if (conv == 'o' && flags.find('#') != std::string::npos) {  // Python writes 0o
          size_t z = piece.find('0');
          if (z != std::string::npos) piece.insert(z + 1, "o");
        }
      } else if (std::string_view("eEfFgG").find(conv) != std::string_view::npos) {
        spec += conv;
        piece = c_format(spec.c_str(), to_float_arg(arg, conv));
      } else {
        raise("ValueError", std::string("unsupported format character ") + py::repr_string(std::string(1, conv)));
      }
    }
    out += piece;
  }
  if (next < pos.size() && !mapping_like)
    raise("TypeError", "not all arguments converted during string formatting");
  return out;
}

// format(value, spec) for str, int, float and the rest.
static std::string format_value(const Value& v, const std::string& spec) {
  if (spec.empty()) return to_str(v);
  size_t i = 0;
  uint32_t fill = ' ';
  char align = 0;
  std::vector<uint32_t> cps = py::to_code_points(spec);
  auto is_align = [](uint32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    fill = cps[0];
    align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    align = static_cast<char>(cps[0]);
    i = 1;
  }
  char sign = 0;
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' ')) sign = static_cast<char>(cps[i++]);
  bool alt = false;
  if (i < cps.size() && cps[i] == '#') alt = true, ++i;
  if (i < cps.size() && cps[i] == '0') {
    if (!align) fill = '0', align = '=';
    ++i;
  }
  size_t width = 0;
  while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') width = std::min<size_t>(width * 10 + (cps[i++] - '0'), 1 << 20);
  char grouping = 0;
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) grouping = static_cast<char>(cps[i++]);
  int prec = -1;
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    prec = 0;
    while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') prec = std::min(prec * 10 + static_cast<int>(cps[i++] - '0'), 1000);
  }
  char type = 0;
  if (i < cps.size()) type = static_cast<char>(cps[i++]);
  if (i != cps.size()) raise("ValueError", "Invalid format specifier");

  std::string body;
  if (v.is_string() || (!v.is_number())) {
    if (!v.is_string() && !spec.empty() && (v.is_none() || v.is_list() || v.is_dict()))
      raise("TypeError", std::string("unsupported format string passed to ") + v.type_name() + ".__format__");
    if (type && type != 's') raise("ValueError", std::string("Unknown format code '") + type + "' for object of type 'str'");
    body = to_str(v);
    if (prec >= 0) {
      std::vector<uint32_t> b = py::to_code_points(body);
      if (b.size() > static_cast<size_t>(prec)) body = py::from_code_points(b.data(), static_cast<size_t>(prec));
    }
    return pad(body, width, align ? align : '<', fill);
  }
  const bool as_float = v.is_float() || (type && std::string_view("eEfFgG%").find(type) != std::string_view::npos);
  std::string s_sign = sign == '+' ? "+" : sign == ' ' ? " " : "";
  if (!as_float) {
    int64_t n = v.as_int();
    const bool neg = n < 0;
    uint64_t mag = neg ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
    std::string digits, prefix;
    if (!type || type == 'd' || type == 'n') {
      digits = std::to_string(mag);
    } else if (type == 'x' || type == 'X' || type == 'o' || type == 'b') {
      const int base = type == 'o' ? 8 : type == 'b' ? 2 : 16;
      do {
        digits.insert(digits.begin(), "0123456789abcdef"[mag % static_cast<unsigned>(base)]);
        mag /= static_cast<unsigned>(base);
      } while (mag);
      if (type == 'X') digits = py::upper(digits);
      if (alt) prefix = type == 'o' ? "0o" : type == 'b' ? "0b" : type == 'X' ? "0X" : "0x";
    } else if (type == 'c') {
      py::append_utf8(body, static_cast<uint32_t>(n & 0x1FFFFF));
      return pad(body, width, align ? align : '<', fill);
    } else {
      raise("ValueError", std::string("Unknown format code '") + type + "' for object of type 'int'");
    }
    if (grouping) digits = group_digits(digits, grouping, type && type != 'd' && type != 'n' ? 4 : 3);
    body = (neg ? "-" : s_sign) + prefix + digits;
  } else {
    const double f = v.as_float();
    std::string fs = sign == '+' ? "%+" : sign == ' ' ? "% " : "%";
    if (alt) fs += "#";
    if (!type) {
      if (prec < 0) {
        body = py::float_repr(f);
        if (sign && f >= 0 && !std::signbit(f)) body = s_sign + body;
      } else {
        body = c_format((fs + "." + std::to_string(prec ? prec : 1) + "g").c_str(), f);
        if (std::isfinite(f) && body.find_first_of(".e") == std::string::npos) body += ".0";
      }
    } else if (type == '%') {
      body = c_format((fs + "." + std::to_string(prec < 0 ? 6 : prec) + "f").c_str(), f * 100) + "%";
    } else {
      const char t = type == 'n' ? 'g' : type;
      body = c_format((fs + "." + std::to_string(prec < 0 ? 6 : prec) + t).c_str(), f);
    }
    if (grouping) {
      size_t start = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
      size_t end = start;
      while (end < body.size() && body[end] >= '0' && body[end] <= '9') ++end;
      body = body.substr(0, start) + group_digits(body.substr(start, end - start), grouping) + body.substr(end);
    }
  }
  return pad(body, width, align ? align : '>', fill);
}

std::string str_format(Interpreter& in, const std::string& fmt, const CallArgs& args) {
  std::string out;
  int auto_index = 0;
  int mode = 0;  // 0 unknown, 1 automatic, 2 manual
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      raise("ValueError", "Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t e = fmt.find('}', i);
    if (e == std::string::npos) raise("ValueError", "expected '}' before end of string");
    std::string field = fmt.substr(i + 1, e - i - 1);
    i = e;
    std::string spec, conv;
    size_t colon = field.find(':');
    if (colon != std::string::npos) spec = field.substr(colon + 1), field.resize(colon);
    size_t bang = field.find('!');
    if (bang != std::string::npos) conv = field.substr(bang + 1), field.resize(bang);
    size_t name_end = field.find_first_of(".[");
    std::string name = field.substr(0, name_end);
    Value v;
    if (name.empty() || (name.find_first_not_of("0123456789") == std::string::npos)) {
      size_t idx;
      if (name.empty()) {
        if (mode == 2) raise("ValueError", "cannot switch from manual field specification to automatic field numbering");
        mode = 1;
        idx = static_cast<size_t>(auto_index++);
      } else {
        if (mode == 1) raise("ValueError", "cannot switch from manual field specification to automatic field numbering");
        mode = 2;
        idx = name.size() > 6 ? SIZE_MAX : std::stoul(name);
      }
      if (idx >= args.pos.size()) raise("IndexError", "tuple index out of range");
      v = args.pos[idx];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.kw)
        if (k == name) v = val, found = true;
      if (!found) raise("KeyError", py::repr_string(name));
    }
    for (size_t p = name_end; p != std::string::npos && p < field.size();) {
      if (field[p] == '.') {
        size_t q = field.find_first_of(".[", p + 1);
        v = in.getattr(v, field.substr(p + 1, q == std::string::npos ? std::string::npos : q - p - 1));
        p = q;
      } else {
        size_t q = field.find(']', p);
        if (q == std::string::npos) raise("ValueError", "Missing ']' in format string");
        std::string key = field.substr(p + 1, q - p - 1);
        Value k = key.find_first_not_of("0123456789") == std::string::npos && !key.empty()
                      ? Value::integer(std::stoll(key.substr(0, 18)))
                      : Value::string(key);
        v = in.getitem(v, k);
        p = q + 1;
      }
    }
    if (conv == "r" || conv == "a") v = Value::string(to_repr(v));
    else if (conv == "s") v = Value::string(to_str(v));
    else if (!conv.empty()) raise("ValueError", "Unknown conversion specifier " + conv);
    out += format_value(v, spec);
    in.check_size(out.size());
  }
  return out;
}

}  // namespace nextlm::chat::jinja
