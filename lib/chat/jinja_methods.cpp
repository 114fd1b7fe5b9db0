// Methods of str, dict and list values (`s.strip()`, `d.items()`, ...).
// The mutating ones are unsafe in jinja2's immutable sandbox: accessing them
// yields an Undefined that raises SecurityError when used.
#include <cstdio>

#include "chat/jinja_args.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_ops.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

using MethodFn = Value (*)(Interpreter&, const Value& self, CallArgs& a);

Value bind_method(const Value& self, const std::string& name, MethodFn fn) {
  auto c = std::make_shared<Callable>();
  c->name = name;
  c->type_name = "builtin_function_or_method";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", self.identity());
  c->repr = "<built-in method " + name + " of " + self.type_name() + " object at " + buf + ">";
  // Results computed from input are input (join keeps exact ranges itself).
  c->fn = [self, fn](Interpreter& in, CallArgs& a) { return derived_call(fn(in, self, a), self, a); };
  return Value::callable(std::move(c));
}

Value str(std::string s, const Value& like) { return Value::string(std::move(s), like.is_markup()); }

std::string need_str(const Value& v, const char* what) {
  if (!v.is_string())
    raise("TypeError", std::string(what) + " arg must be None or str, not " + v.type_name());
  return v.str();
}

// Code-point offset of byte offset `b` in s.
int64_t cp_offset(const std::string& s, size_t b) { return static_cast<int64_t>(py::length(std::string_view(s).substr(0, b))); }

// Byte range of code points [start, end) with Python's index adjustment.
void cp_range(const std::string& s, const Args& args, size_t first, size_t* b, size_t* e) {
  std::vector<uint32_t> cps = py::to_code_points(s);
  const auto n = static_cast<int64_t>(cps.size());
  auto adj = [&](size_t i, int64_t dflt) {
    if (!args.has(i) || args.get(i).is_none()) return dflt;
    int64_t v = args.integer(i, dflt);
    if (v < 0) v = std::max<int64_t>(0, v + n);
    return std::min(v, n);
  };
  const int64_t start = adj(first, 0), end = adj(first + 1, n);
  *b = py::from_code_points(cps.data(), static_cast<size_t>(start)).size();
  *e = end <= start ? *b : py::from_code_points(cps.data(), static_cast<size_t>(end)).size();
}

Value str_strip(const Value& self, CallArgs& a, const char* name, bool left, bool right) {
  Args args(a, name, {"chars"});
  std::optional<std::string> chars;
  if (args.has(0) && !args.get(0).is_none()) chars = need_str(args.get(0), "strip");
  return str(py::strip(self.str(), chars ? &*chars : nullptr, left, right), self);
}

Value str_split(const Value& self, CallArgs& a, const char* name, bool right) {
  Args args(a, name, {"sep", "maxsplit"});
  std::optional<std::string> sep;
  if (args.has(0) && !args.get(0).is_none()) {
    sep = need_str(args.get(0), "sep");
    if (sep->empty()) raise("ValueError", "empty separator");
  }
  std::vector<Value> out;
  for (auto& p : py::split(self.str(), sep ? &*sep : nullptr, args.integer(1, -1), right)) out.push_back(str(std::move(p), self));
  return Value::list(std::move(out));
}

Value str_affix(Interpreter&, const Value& self, CallArgs& a, bool ends) {
  Args args(a, ends ? "endswith" : "startswith", {"prefix", "start", "end"});
  size_t b, e;
  cp_range(self.str(), args, 1, &b, &e);
  std::string_view s = std::string_view(self.str()).substr(b, e - b);
  std::vector<Value> options;
  const Value p = args.get(0);
  if (p.is_seq(SeqKind::kTuple)) options = p.items();
  else options.push_back(p);
  for (const Value& o : options) {
    if (!o.is_string())
      raise("TypeError", std::string(ends ? "endswith" : "startswith") + " first arg must be str or a tuple of str, not " + o.type_name());
    const std::string& x = o.str();
    if (x.size() <= s.size() && (ends ? s.substr(s.size() - x.size()) == x : s.substr(0, x.size()) == x))
      return Value::boolean(true);
  }
  return Value::boolean(false);
}

Value str_find(const Value& self, CallArgs& a, const char* name, bool reverse, bool strict) {
  Args args(a, name, {"sub", "start", "end"});
  const std::string sub = need_str(args.get(0), "find");
  size_t b, e;
  cp_range(self.str(), args, 1, &b, &e);
  std::string_view s = std::string_view(self.str()).substr(b, e - b);
  size_t f = reverse ? s.rfind(sub) : s.find(sub);
  if (f == std::string_view::npos) {
    if (strict) raise("ValueError", "substring not found");
    return Value::integer(-1);
  }
  return Value::integer(cp_offset(self.str(), b + f));
}

Value str_pad(const Value& self, CallArgs& a, const char* name, Interpreter& in) {
  Args args(a, name, {"width", "fillchar"});
  const int64_t width = args.integer(0, 0);
  std::string fill = args.has(1) ? need_str(args.get(1), "fillchar") : " ";
  if (py::length(fill) != 1) raise("TypeError", "The fill character must be exactly one character long");
  const auto len = static_cast<int64_t>(py::length(self.str()));
  if (width <= len) return self;
  in.check_size(static_cast<size_t>(std::min<int64_t>(width, int64_t{1} << 40)) * fill.size());
  const auto total = static_cast<size_t>(width - len);
  size_t left = 0;
  std::string n(name);
  if (n == "center") left = total / 2 + (total & static_cast<size_t>(width) & 1);
  else if (n == "rjust") left = total;
  std::string out;
  for (size_t i = 0; i < left; ++i) out += fill;
  out += self.str();
  for (size_t i = left; i < total; ++i) out += fill;
  return str(std::move(out), self);
}

template <bool (*Pred)(uint32_t)>
Value str_all(const Value& self) {
  const std::string& s = self.str();
  if (s.empty()) return Value::boolean(false);
  for (size_t i = 0; i < s.size();)
    if (!Pred(py::decode_at(s, i))) return Value::boolean(false);
  return Value::boolean(true);
}

bool is_alnum(uint32_t c) { return py::is_alpha(c) || py::is_digit(c); }

Value str_case_check(const Value& self, bool upper) {
  bool cased = false;
  const std::string& s = self.str();
  for (size_t i = 0; i < s.size();) {
    uint32_t c = py::decode_at(s, i);
    if (upper ? py::is_lower_cp(c) : py::is_upper_cp(c)) return Value::boolean(false);
    if (py::is_cased(c)) cased = true;
  }
  return Value::boolean(cased);
}

Value str_partition(const Value& self, CallArgs& a, bool right) {
  Args args(a, right ? "rpartition" : "partition", {"sep"});
  const std::string sep = need_str(args.get(0), "sep");
  if (sep.empty()) raise("ValueError", "empty separator");
  const std::string& s = self.str();
  size_t f = right ? s.rfind(sep) : s.find(sep);
  if (f == std::string::npos)
    return right ? Value::tuple({str("", self), str("", self), self}) : Value::tuple({self, str("", self), str("", self)});
  return Value::tuple({str(s.substr(0, f), self), str(sep, self), str(s.substr(f + sep.size()), self)});
}

std::optional<Value> string_method(const Value& self, const std::string& name) {
#define M(NAME, ...) \
  if (name == NAME) return bind_method(self, name, [](Interpreter& in, const Value& s, CallArgs& a) -> Value { (void)in; (void)a; __VA_ARGS__ });
  M("strip", return str_strip(s, a, "strip", true, true);)
  M("lstrip", return str_strip(s, a, "lstrip", true, false);)
  M("rstrip", return str_strip(s, a, "rstrip", false, true);)
  M("split", return str_split(s, a, "split", false);)
  M("rsplit", return str_split(s, a, "rsplit", true);)
  M("splitlines", {
    Args args(a, "splitlines", {"keepends"});
    std::vector<Value> out;
    for (auto& l : py::splitlines(s.str(), args.flag(0, false))) out.push_back(str(std::move(l), s));
    return Value::list(std::move(out));
  })
  M("startswith", return str_affix(in, s, a, false);)
  M("endswith", return str_affix(in, s, a, true);)
  M("upper", Args(a, "upper", {}); return str(py::upper(s.str()), s);)
  M("lower", Args(a, "lower", {}); return str(py::lower(s.str()), s);)
  M("casefold", Args(a, "casefold", {}); return str(py::lower(s.str()), s);)
  M("title", Args(a, "title", {}); return str(py::title(s.str()), s);)
  M("capitalize", Args(a, "capitalize", {}); return str(py::capitalize(s.str()), s);)
  M("swapcase", Args(a, "swapcase", {}); return str(py::swapcase(s.str()), s);)
  M("replace", {
    Args args(a, "replace", {"old", "new", "count"});
    const std::string old = need_str(args.get(0), "replace"), repl = need_str(args.get(1), "replace");
    if (!old.empty() && !repl.empty()) in.check_size(s.str().size() / old.size() * repl.size() + s.str().size());
    else if (old.empty()) in.check_size((s.str().size() + 1) * (repl.size() + 4));
    return str(py::replace(s.str(), old, repl, args.integer(2, -1)), s);
  })
  M("find", return str_find(s, a, "find", false, false);)
  M("rfind", return str_find(s, a, "rfind", true, false);)
  M("index", return str_find(s, a, "index", false, true);)
  M("rindex", return str_find(s, a, "rindex", true, true);)
  M("count", {
    Args args(a, "count", {"sub"});
    return Value::integer(static_cast<int64_t>(py::count(s.str(), need_str(args.get(0), "count"))));
  })
  M("format", return str(str_format(in, s.str(), a), s);)
  M("join", {
    Args args(a, "join", {"iterable"});
    TextBuilder out;
    size_t i = 0;
    for (const Value& v : in.iterate(args.get(0))) {
      if (!v.is_string())
        raise("TypeError", "sequence item " + std::to_string(i) + ": expected str instance, " + v.type_name() + " found");
      if (i++) out.append(s);
      out.append(v);
      in.check_size(out.size());
    }
    return out.take(s.is_markup());
  })
  M("center", return str_pad(s, a, "center", in);)
  M("ljust", return str_pad(s, a, "ljust", in);)
  M("rjust", return str_pad(s, a, "rjust", in);)
  M("zfill", {
    Args args(a, "zfill", {"width"});
    const int64_t width = args.integer(0, 0);
    std::string v = s.str();
    const auto len = static_cast<int64_t>(py::length(v));
    if (width <= len) return s;
    in.check_size(static_cast<size_t>(width));
    size_t at = (!v.empty() && (v[0] == '-' || v[0] == '+')) ? 1 : 0;
    v.insert(at, static_cast<size_t>(width - len), '0');
    return str(std::move(v), s);
  })
  M("isdigit", Args(a, "isdigit", {}); return str_all<py::is_digit>(s);)
  M("isdecimal", Args(a, "isdecimal", {}); return str_all<py::is_digit>(s);)
  M("isnumeric", Args(a, "isnumeric", {}); return str_all<py::is_digit>(s);)
  M("isalpha", Args(a, "isalpha", {}); return str_all<py::is_alpha>(s);)
  M("isalnum", Args(a, "isalnum", {}); return str_all<is_alnum>(s);)
  M("isspace", Args(a, "isspace", {}); return str_all<py::is_space>(s);)
  M("isupper", Args(a, "isupper", {}); return str_case_check(s, true);)
  M("islower", Args(a, "islower", {}); return str_case_check(s, false);)
  M("partition", return str_partition(s, a, false);)
  M("rpartition", return str_partition(s, a, true);)
  M("removeprefix", {
    Args args(a, "removeprefix", {"prefix"});
    const std::string p = need_str(args.get(0), "removeprefix");
    return s.str().rfind(p, 0) == 0 ? str(s.str().substr(p.size()), s) : s;
  })
  M("removesuffix", {
    Args args(a, "removesuffix", {"suffix"});
    const std::string p = need_str(args.get(0), "removesuffix");
    const std::string& v = s.str();
    return !p.empty() && v.size() >= p.size() && v.compare(v.size() - p.size(), p.size(), p) == 0
               ? str(v.substr(0, v.size() - p.size()), s)
               : s;
  })
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& self, const std::string& name) {
  M("items", {
    Args(a, "items", {});
    std::vector<Value> out;
    for (const auto& [k, v] : s.dict_data().entries) out.push_back(Value::tuple({k, v}));
    return Value::list(std::move(out), SeqKind::kDictItems);
  })
  M("keys", {
    Args(a, "keys", {});
    std::vector<Value> out;
    for (const auto& kv : s.dict_data().entries) out.push_back(kv.first);
    return Value::list(std::move(out), SeqKind::kDictKeys);
  })
  M("values", {
    Args(a, "values", {});
    std::vector<Value> out;
    for (const auto& kv : s.dict_data().entries) out.push_back(kv.second);
    return Value::list(std::move(out), SeqKind::kDictValues);
  })
  M("get", {
    if (a.pos.empty() || a.pos.size() > 2 || !a.kw.empty())
      raise("TypeError", "get expected 1 or 2 arguments, got " + std::to_string(a.pos.size()));
    if ((a.pos[0].is_list() && !a.pos[0].is_seq(SeqKind::kTuple)) || a.pos[0].is_dict())
      raise("TypeError", std::string("unhashable type: '") + a.pos[0].type_name() + "'");
    const Value* v = s.dict_data().find(a.pos[0]);
    return v ? *v : (a.pos.size() > 1 ? a.pos[1] : Value::none());
  })
  M("copy", {
    Args(a, "copy", {});
    auto d = make_dict();
    *d = s.dict_data();
    return Value::dict(d);
  })
  for (const char* u : {"pop", "popitem", "setdefault", "update", "clear"})
    if (name == u) return Value::unsafe(self, name);
  return std::nullopt;
}

std::optional<Value> list_method(const Value& self, const std::string& name) {
  if (self.is_seq(SeqKind::kList) || self.is_seq(SeqKind::kTuple)) {
    M("index", {
      if (a.pos.empty()) raise("TypeError", "index expected at least 1 argument, got 0");
      const auto& items = s.items();
      for (size_t i = 0; i < items.size(); ++i)
        if (equals(items[i], a.pos[0])) return Value::integer(static_cast<int64_t>(i));
      raise("ValueError", to_repr(a.pos[0]) + " is not in list");
    })
    M("count", {
      if (a.pos.size() != 1) raise("TypeError", "count() takes exactly one argument");
      int64_t n = 0;
      for (const Value& x : s.items()) n += equals(x, a.pos[0]);
      return Value::integer(n);
    })
  }
  if (self.is_seq(SeqKind::kList)) {
    M("copy", Args(a, "copy", {}); return Value::list(s.items());)
    for (const char* u : {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"})
      if (name == u) return Value::unsafe(self, name);
  }
#undef M
  return std::nullopt;
}

}  // namespace

std::optional<Value> find_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) return string_method(obj, name);
  if (obj.is_dict()) return dict_method(obj, name);
  if (obj.is_list()) return list_method(obj, name);
  return std::nullopt;
}

}  // namespace nextlm::chat::jinja
