// Global functions of the template environment and the runtime objects
// (namespace, loop, cycler, joiner).
#include <ctime>

#include "chat/jinja_args.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_objects.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

std::string NamespaceObject::repr(int depth) const {
  std::string s = "<Namespace {";
  bool first = true;
  for (const auto& [k, v] : attrs_.entries) {
    if (!first) s += ", ";
    first = false;
    s += to_repr(k, depth + 1) + ": " + to_repr(v, depth + 1);
  }
  return s + "}>";
}

std::optional<Value> LoopObject::getattr(Interpreter&, const std::string& name) {
  const size_t n = items->size();
  const auto i = static_cast<int64_t>(index0);
  const auto len = static_cast<int64_t>(n);
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(len - i);
  if (name == "revindex0") return Value::integer(len - i - 1);
  if (name == "first") return Value::boolean(index0 == 0);
  if (name == "last") return Value::boolean(index0 + 1 == n);
  if (name == "length") return Value::integer(len);
  if (name == "depth") return Value::integer(depth0 + 1);
  if (name == "depth0") return Value::integer(depth0);
  if (name == "previtem")
    return index0 > 0 ? (*items)[index0 - 1] : Value::undefined_hint("there is no previous item");
  if (name == "nextitem")
    return index0 + 1 < n ? (*items)[index0 + 1] : Value::undefined_hint("there is no next item");
  if (name == "cycle") {
    std::weak_ptr<LoopObject> self = shared_from_this();
    return Value::function("cycle", [self](Interpreter&, CallArgs& a) -> Value {
      auto loop = self.lock();
      if (a.pos.empty()) raise("TypeError", "no items for cycling given");
      return a.pos[(loop ? loop->index0 : 0) % a.pos.size()];
    });
  }
  if (name == "changed") {
    std::weak_ptr<LoopObject> self = shared_from_this();
    return Value::function("changed", [self](Interpreter&, CallArgs& a) -> Value {
      auto loop = self.lock();
      if (!loop) return Value::boolean(false);
      Value cur = Value::tuple(a.pos);
      if (loop->changed_seen && equals(cur, loop->changed_last)) return Value::boolean(false);
      loop->changed_seen = true;
      loop->changed_last = cur;
      return Value::boolean(true);
    });
  }
  return std::nullopt;
}

std::optional<Value> CyclerObject::getattr(Interpreter&, const std::string& name) {
  std::weak_ptr<CyclerObject> self = shared_from_this();
  if (name == "current") return items_.empty() ? Value::none() : items_[pos_];
  if (name == "next")
    return Value::function("next", [self](Interpreter&, CallArgs&) -> Value {
      auto c = self.lock();
      if (!c || c->items_.empty()) return Value::none();
      Value v = c->items_[c->pos_];
      c->pos_ = (c->pos_ + 1) % c->items_.size();
      return v;
    });
  if (name == "reset")
    return Value::function("reset", [self](Interpreter&, CallArgs&) -> Value {
      if (auto c = self.lock()) c->pos_ = 0;
      return Value::none();
    });
  return std::nullopt;
}

JoinerObject::JoinerObject(std::string sep) {
  auto used = std::make_shared<bool>(false);
  fn_ = Value::function("joiner", [sep = std::move(sep), used](Interpreter&, CallArgs&) -> Value {
    if (!*used) {
      *used = true;
      return Value::string("");
    }
    return Value::string(sep);
  });
}

namespace {

int64_t range_arg(const Value& v) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  raise("TypeError", py::repr_string(v.type_name()) + " object cannot be interpreted as an integer");
}

Value make_range(Interpreter& in, CallArgs& a) {
  if (!a.kw.empty()) raise("TypeError", "range() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 3)
    raise("TypeError", "range expected at most 3 arguments, got " + std::to_string(a.pos.size()));
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) {
    stop = range_arg(a.pos[0]);
  } else {
    start = range_arg(a.pos[0]);
    stop = range_arg(a.pos[1]);
    if (a.pos.size() == 3) step = range_arg(a.pos[2]);
  }
  if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
  __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  __int128 len = span <= 0 ? 0 : (span + (step > 0 ? step : -static_cast<__int128>(step)) - 1) /
                                      (step > 0 ? step : -static_cast<__int128>(step));
  if (len > kMaxRange)
    raise("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  in.step(static_cast<uint64_t>(len) / 16);
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(len));
  for (int64_t i = 0; i < static_cast<int64_t>(len); ++i)
    items.push_back(Value::integer(static_cast<int64_t>(static_cast<__int128>(start) + static_cast<__int128>(i) * step)));
  Value r = Value::list(std::move(items), SeqKind::kRange);
  r.list_data().range_start = start;
  r.list_data().range_stop = stop;
  r.list_data().range_step = step;
  return r;
}

// dict(*args, **kwargs) contents.
std::shared_ptr<DictData> dict_from(Interpreter& in, CallArgs& a, const char* fname) {
  auto d = make_dict();
  if (a.pos.size() > 1)
    raise("TypeError", std::string(fname) + " expected at most 1 argument, got " + std::to_string(a.pos.size()));
  if (a.pos.size() == 1) {
    const Value& src = a.pos[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : src.dict_data().entries) d->set(k, v);
    } else {
      for (const Value& pair : in.iterate(src)) {
        std::vector<Value> kv = in.iterate(pair);
        if (kv.size() != 2)
          raise("ValueError", "dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.kw) d->set(Value::string(k), v);
  return d;
}

std::string strftime_value(const std::tm& tm, const std::string& fmt) {
  if (fmt.empty()) return "";
  std::vector<char> buf(fmt.size() * 4 + 64);
  for (int tries = 0; tries < 6; ++tries) {
    const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) return std::string(buf.data(), n);
    buf.resize(buf.size() * 4);
  }
  return "";
}

}  // namespace

void install_globals(Frame& g) {
  g.vars["range"] = Value::function("range", make_range);
  g.vars["dict"] = Value::function("dict", [](Interpreter& in, CallArgs& a) { return Value::dict(dict_from(in, a, "dict")); });
  g.vars["namespace"] = Value::function("namespace", [](Interpreter& in, CallArgs& a) -> Value {
    auto ns = std::make_shared<NamespaceObject>();
    const auto attrs = dict_from(in, a, "namespace");
    for (const auto& [k, v] : attrs->entries) {
      if (!k.is_string()) raise("TypeError", "keywords must be strings");
      ns->set(k.str(), v);
    }
    in.track(ns);
    return Value::object(ns);
  });
  g.vars["cycler"] = Value::function("cycler", [](Interpreter& in, CallArgs& a) -> Value {
    auto c = std::make_shared<CyclerObject>(a.pos);
    in.track(c);
    return Value::object(c);
  });
  g.vars["joiner"] = Value::function("joiner", [](Interpreter& in, CallArgs& a) -> Value {
    Args args(a, "joiner", {"sep"});
    auto j = std::make_shared<JoinerObject>(args.has(0) ? to_str(args.get(0)) : std::string(", "));
    in.track(j);
    return Value::object(j);
  });
  g.vars["raise_exception"] = Value::function("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
    Args args(a, "raise_exception", {"message"});
    raise("TemplateError", args.has(0) ? to_str(args.get(0)) : std::string());
  });
  g.vars["strftime_now"] = Value::function("strftime_now", [](Interpreter& in, CallArgs& a) -> Value {
    Args args(a, "strftime_now", {"format"});
    if (!args.has(0) || !args.get(0).is_string()) raise("TypeError", "strftime() argument 1 must be str");
    std::tm tm{};
    if (in.options().now) {
      tm = *in.options().now;
    } else {
      std::time_t t = std::time(nullptr);
      localtime_r(&t, &tm);
    }
    in.check_size(args.get(0).str().size() * 16);
    return Value::string(strftime_value(tm, args.get(0).str()));
  });
}

}  // namespace nextlm::chat::jinja
