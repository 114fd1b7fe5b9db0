#include "chat/jinja_value.h"

#include <cmath>
#include <cstdio>

#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

std::string with_line(const std::string& type, const std::string& message, int line) {
  std::string s = type + ": " + message;
  if (line > 0) s += " (template line " + std::to_string(line) + ")";
  return s;
}

const std::vector<Value> kNoItems;

}  // namespace

TemplateError::TemplateError(std::string type, std::string message, int line)
    : nextlm::Error(ErrorCode::kInvalidArgument, with_line(type, message, line)),
      type_(std::move(type)),
      message_(std::move(message)),
      line_(line) {}

void raise(const char* type, std::string message) { throw TemplateError(type, std::move(message)); }

std::string UndefinedData::message() const {
  if (!hint.empty()) return hint;
  if (!has_obj) return py::repr_string(name) + " is undefined";
  if (!name_is_attr) return obj_type + " has no element " + name;
  return py::repr_string(obj_type) + " has no attribute " + py::repr_string(name);
}

void raise_undefined(const Value& v) {
  const UndefinedData* u = v.undefined_data();
  if (!u) raise("UndefinedError", "value is undefined");
  raise(u->security ? "SecurityError" : "UndefinedError", u->message());
}

Value Value::input_string(std::string s) {
  const size_t n = s.size();
  Value v = string(std::move(s));
  if (n) v.taint_ = std::make_shared<const Taint>(Taint{TaintSpan{0, n}});
  return v;
}

bool Value::holds_input() const {
  switch (kind_) {
    case Kind::kString: return taint_ != nullptr;
    case Kind::kList: return list_data().holds_input;
    case Kind::kDict: return dict_data().holds_input;
    default: return false;
  }
}

Value Value::list(std::vector<Value> items, SeqKind kind) {
  auto d = std::make_shared<ListData>();
  int depth = 0;
  for (const Value& v : items) {
    depth = std::max(depth, v.depth());
    d->holds_input = d->holds_input || v.holds_input();
  }
  d->depth = depth + 1;
  if (d->depth > kMaxValueDepth) raise("RecursionError", "maximum nesting depth of values exceeded");
  d->items = std::move(items);
  d->kind = kind;
  Value v(Kind::kList);
  v.p_ = std::move(d);
  return v;
}

Value Value::dict(std::shared_ptr<DictData> d) {
  int depth = 0;
  d->holds_input = false;
  for (const auto& [k, val] : d->entries) {
    depth = std::max({depth, k.depth(), val.depth()});
    d->holds_input = d->holds_input || k.holds_input() || val.holds_input();
  }
  d->depth = depth + 1;
  if (d->depth > kMaxValueDepth) raise("RecursionError", "maximum nesting depth of values exceeded");
  Value v(Kind::kDict);
  v.p_ = std::move(d);
  return v;
}

Value Value::callable(std::shared_ptr<Callable> c) {
  Value v(Kind::kCallable);
  v.p_ = std::move(c);
  return v;
}

Value Value::function(std::string name, NativeFn fn) {
  auto c = std::make_shared<Callable>();
  c->repr = "<built-in function " + name + ">";
  c->name = std::move(name);
  c->fn = std::move(fn);
  return callable(std::move(c));
}

Value Value::object(std::shared_ptr<Object> o) {
  Value v(Kind::kObject);
  v.p_ = std::shared_ptr<void>(o, static_cast<void*>(o.get()));
  return v;
}

Value Value::undefined(std::shared_ptr<UndefinedData> u) {
  Value v(Kind::kUndefined);
  v.p_ = std::move(u);
  return v;
}

Value Value::undefined_name(const std::string& name) {
  auto u = std::make_shared<UndefinedData>();
  u->name = name;
  return undefined(std::move(u));
}

Value Value::undefined_hint(const std::string& hint) {
  auto u = std::make_shared<UndefinedData>();
  u->hint = hint;
  return undefined(std::move(u));
}

static std::string object_type_repr(const Value& obj) {
  if (obj.is_none()) return "None";
  return std::string(obj.type_name()) + " object";
}

Value Value::missing_attr(const Value& obj, const std::string& name) {
  auto u = std::make_shared<UndefinedData>();
  u->has_obj = true;
  u->obj_type = object_type_repr(obj);
  u->name = name;
  return undefined(std::move(u));
}

Value Value::missing_item(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attr(obj, key.str());
  auto u = std::make_shared<UndefinedData>();
  u->has_obj = true;
  u->obj_type = object_type_repr(obj);
  u->name = to_repr(key);
  u->name_is_attr = false;
  return undefined(std::move(u));
}

Value Value::unsafe(const Value& obj, const std::string& attr) {
  auto u = std::make_shared<UndefinedData>();
  u->hint = "access to attribute " + py::repr_string(attr) + " of " + py::repr_string(obj.type_name()) +
            " object is unsafe.";
  u->security = true;
  return undefined(std::move(u));
}

bool Value::is_seq(SeqKind k) const { return kind_ == Kind::kList && list_data().kind == k; }

const std::vector<Value>& Value::items() const { return kind_ == Kind::kList ? list_data().items : kNoItems; }

int Value::depth() const {
  if (kind_ == Kind::kList) return list_data().depth;
  if (kind_ == Kind::kDict) return dict_data().depth;
  return 1;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return markup_ ? "Markup" : "str";
    case Kind::kDict: return "dict";
    case Kind::kCallable: return callable_data().type_name;
    case Kind::kObject: return object_data().type_name();
    case Kind::kList: break;
  }
  switch (list_data().kind) {
    case SeqKind::kList: return "list";
    case SeqKind::kTuple: return "tuple";
    case SeqKind::kGenerator: return "generator";
    case SeqKind::kDictKeys: return "dict_keys";
    case SeqKind::kDictValues: return "dict_values";
    case SeqKind::kDictItems: return "dict_items";
    case SeqKind::kReverseIter: return "list_reverseiterator";
    case SeqKind::kRange: return "range";
  }
  return "object";
}

std::shared_ptr<DictData> make_dict() { return std::make_shared<DictData>(); }

std::string hash_key(const Value& v) {
  switch (v.kind()) {
    case Kind::kString: return "s" + v.str();
    case Kind::kBool:
    case Kind::kInt: return std::string(1, 'i').append(std::to_string(v.as_int()));
    case Kind::kFloat: {
      double f = v.as_float();
      if (std::isfinite(f) && f == std::floor(f) && std::fabs(f) < 9.2e18)
        return std::string(1, 'i').append(std::to_string(static_cast<int64_t>(f)));
      return std::string(1, 'f').append(py::float_repr(f));
    }
    case Kind::kNone: return "n";
    case Kind::kUndefined: return "u";
    case Kind::kList:
      if (v.is_seq(SeqKind::kTuple)) {
        std::string k = "t(";
        for (const Value& x : v.items()) k += hash_key(x) + "\x1f";
        return k + ")";
      }
      break;
    case Kind::kCallable:
    case Kind::kObject: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "p%p", v.identity());
      return buf;
    }
    default: break;
  }
  raise("TypeError", std::string("unhashable type: ") + py::repr_string(v.type_name()));
}

const Value* DictData::find(const Value& key) const {
  if (key.is_list() && !key.is_seq(SeqKind::kTuple)) return nullptr;
  if (key.is_dict()) return nullptr;
  auto it = index.find(hash_key(key));
  return it == index.end() ? nullptr : &entries[it->second].second;
}

const Value* DictData::find(std::string_view key) const {
  std::string k = "s";
  k += key;
  auto it = index.find(k);
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void DictData::set(const Value& key, Value value) {
  holds_input = holds_input || key.holds_input() || value.holds_input();
  std::string k = hash_key(key);
  auto it = index.find(k);
  if (it != index.end()) {
    entries[it->second].second = std::move(value);
    return;
  }
  index.emplace(std::move(k), entries.size());
  entries.emplace_back(key, std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool:
    case Kind::kInt: return v.as_int() != 0;
    case Kind::kFloat: return v.as_float() != 0.0;
    case Kind::kString: return !v.str().empty();
    case Kind::kList: {
      const ListData& l = v.list_data();
      if (l.kind == SeqKind::kGenerator || l.kind == SeqKind::kReverseIter) return true;
      return !l.items.empty();
    }
    case Kind::kDict: return v.dict_data().size() > 0;
    default: return true;
  }
}

static std::string join_repr(const std::vector<Value>& items, int depth) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ", ";
    s += to_repr(items[i], depth + 1);
  }
  return s;
}

static std::string address_of(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

std::string to_repr(const Value& v, int depth) {
  if (depth > kMaxValueDepth) raise("RecursionError", "maximum recursion depth exceeded while getting the repr");
  switch (v.kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kString:
      return v.is_markup() ? "Markup(" + py::repr_string(v.str()) + ")" : py::repr_string(v.str());
    case Kind::kList: {
      const ListData& l = v.list_data();
      switch (l.kind) {
        case SeqKind::kList: return std::string(1, '[').append(join_repr(l.items, depth)).append("]");
        case SeqKind::kTuple:
          return std::string(1, '(').append(join_repr(l.items, depth)).append(l.items.size() == 1 ? ",)" : ")");
        case SeqKind::kDictKeys: return "dict_keys([" + join_repr(l.items, depth) + "])";
        case SeqKind::kDictValues: return "dict_values([" + join_repr(l.items, depth) + "])";
        case SeqKind::kDictItems: return "dict_items([" + join_repr(l.items, depth) + "])";
        case SeqKind::kGenerator: return "<generator object at " + address_of(&l) + ">";
        case SeqKind::kReverseIter: return "<list_reverseiterator object at " + address_of(&l) + ">";
        case SeqKind::kRange: {
          std::string s = "range(" + std::to_string(l.range_start) + ", " + std::to_string(l.range_stop);
          if (l.range_step != 1) s += ", " + std::to_string(l.range_step);
          return s + ")";
        }
      }
      return "";
    }
    case Kind::kDict: {
      std::string s = "{";
      bool first = true;
      for (const auto& [k, val] : v.dict_data().entries) {
        if (!first) s += ", ";
        first = false;
        s += to_repr(k, depth + 1) + ": " + to_repr(val, depth + 1);
      }
      return s + "}";
    }
    case Kind::kCallable: return v.callable_data().repr;
    case Kind::kObject: return v.object_data().repr(depth + 1);
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return v.as_bool() ? "True" : "False";
    case Kind::kInt: return std::to_string(v.as_int());
    case Kind::kFloat: return py::float_repr(v.as_float());
    case Kind::kString: return v.str();
    default: return to_repr(v);
  }
}

bool equals(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) raise("RecursionError", "maximum recursion depth exceeded in comparison");
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.str() == b.str();
    case Kind::kList: {
      const ListData& x = a.list_data();
      const ListData& y = b.list_data();
      if (&x == &y) return true;
      if (x.kind != y.kind || x.kind == SeqKind::kGenerator || x.kind == SeqKind::kReverseIter) return false;
      if (x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i], depth + 1)) return false;
      return true;
    }
    case Kind::kDict: {
      const DictData& x = a.dict_data();
      const DictData& y = b.dict_data();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* o = y.find(k);
        if (!o || !equals(v, *o, depth + 1)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

bool less(const Value& a, const Value& b, const char* op, int depth, bool swapped) {
  if (depth > kMaxValueDepth) raise("RecursionError", "maximum recursion depth exceeded in comparison");
  const Value& left = swapped ? b : a;  // Python asks the left operand first
  const Value& right = swapped ? a : b;
  if (left.is_undefined()) raise_undefined(left);
  if (right.is_undefined()) raise_undefined(right);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list()) {
    const ListData& x = a.list_data();
    const ListData& y = b.list_data();
    if (x.kind == y.kind && (x.kind == SeqKind::kList || x.kind == SeqKind::kTuple)) {
      size_t n = std::min(x.items.size(), y.items.size());
      for (size_t i = 0; i < n; ++i) {
        if (equals(x.items[i], y.items[i], depth + 1)) continue;
        return less(x.items[i], y.items[i], op, depth + 1, swapped);
      }
      return x.items.size() < y.items.size();
    }
  }
  const Value& l = swapped ? b : a;
  const Value& r = swapped ? a : b;
  raise("TypeError", std::string(py::repr_string(op)) + " not supported between instances of " +
                         py::repr_string(l.type_name()) + " and " + py::repr_string(r.type_name()));
}

}  // namespace nextlm::chat::jinja
