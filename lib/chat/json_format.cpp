#include "chat/json_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/py_text.h"

namespace nextlm::chat {

using jinja::Kind;
using jinja::raise;
using jinja::SeqKind;
using jinja::Value;

namespace {

class Dumper {
 public:
  Dumper(const JsonDumpOptions& o, size_t max_bytes) : o_(o), max_(max_bytes) {}

  void value(const Value& v, int level) {
    if (out.size() > max_) raise("LimitExceeded", "tojson output exceeded " + std::to_string(max_) + " bytes");
    switch (v.kind()) {
      case Kind::kNone: out += "null"; return;
      case Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
      case Kind::kInt: out += std::to_string(v.as_int()); return;
      case Kind::kFloat: out += float_text(v.as_float()); return;
      case Kind::kString: string(v.str()); return;
      case Kind::kList:
        if (v.is_seq(SeqKind::kList) || v.is_seq(SeqKind::kTuple)) {
          list(v.items(), level);
          return;
        }
        break;
      case Kind::kDict: dict(v, level); return;
      default: break;
    }
    raise("TypeError", std::string("Object of type ") + v.type_name() + " is not JSON serializable");
  }

  std::string out;

 private:
  static std::string float_text(double f) {
    if (std::isnan(f)) return "NaN";
    if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
    return py::float_repr(f);
  }

  void newline(int level) {
    if (!o_.indent) return;
    out += '\n';
    for (int i = 0; i < level; ++i) out += *o_.indent;
  }

  void list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += o_.item_sep;
      newline(level + 1);
      value(items[i], level + 1);
    }
    newline(level);
    out += ']';
  }

  static std::string key_text(const Value& k) {
    switch (k.kind()) {
      case Kind::kString: return k.str();
      case Kind::kBool: return k.as_bool() ? "true" : "false";
      case Kind::kInt: return std::to_string(k.as_int());
      case Kind::kFloat: return float_text(k.as_float());
      case Kind::kNone: return "null";
      default:
        raise("TypeError", std::string("keys must be str, int, float, bool or None, not ") + k.type_name());
    }
  }

  void dict(const Value& d, int level) {
    const auto& entries = d.dict_data().entries;
    if (entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<Value, Value>*> order;
    for (const auto& e : entries) order.push_back(&e);
    if (o_.sort_keys) {
      std::stable_sort(order.begin(), order.end(),
                       [](const auto* a, const auto* b) { return jinja::less(a->first, b->first, "<"); });
    }
    out += '{';
    bool first = true;
    for (const auto* e : order) {
      if (!first) out += o_.item_sep;
      first = false;
      newline(level + 1);
      string(key_text(e->first));
      out += o_.key_sep;
      value(e->second, level + 1);
    }
    newline(level);
    out += '}';
  }

  void string(const std::string& s) {
    out += '"';
    char buf[16];
    for (size_t i = 0; i < s.size();) {
      const auto b = static_cast<unsigned char>(s[i]);
      if (b >= 0x20 && b < 0x80 && b != '"' && b != '\\') {
        out += static_cast<char>(b);
        ++i;
        continue;
      }
      const size_t start = i;
      const uint32_t c = py::decode_at(s, i);
      switch (c) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
      }
      if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF)) {
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else if (c >= 0x80 && o_.ensure_ascii) {
        if (c >= 0x10000) {
          const uint32_t v = c - 0x10000;
          std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
        }
        out += buf;
      } else {
        out.append(s, start, i - start);
      }
    }
    out += '"';
  }

  const JsonDumpOptions& o_;
  size_t max_;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& opts, size_t max_bytes) {
  Dumper d(opts, max_bytes);
  d.value(v, 0);
  if (d.out.size() > max_bytes) raise("LimitExceeded", "tojson output exceeded " + std::to_string(max_bytes) + " bytes");
  return std::move(d.out);
}

static Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > jinja::kMaxValueDepth) raise("RecursionError", "JSON value nested too deeply");
  using T = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case T::null: return Value::none();
    case T::boolean: return Value::boolean(j.get<bool>());
    case T::number_integer: return Value::integer(j.get<int64_t>());
    case T::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case T::number_float: return Value::number(j.get<double>());
    case T::string: return Value::input_string(j.get<std::string>());
    case T::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_at(x, depth + 1));
      return Value::list(std::move(items));
    }
    case T::object: {
      auto d = jinja::make_dict();
      for (const auto& [k, x] : j.items()) d->set(Value::input_string(k), from_json_at(x, depth + 1));
      return Value::dict(d);
    }
    default: return Value::none();
  }
}

Value value_from_json(const nlohmann::ordered_json& j) { return from_json_at(j, 1); }

nlohmann::ordered_json value_to_json(const Value& v) {
  switch (v.kind()) {
    case Kind::kNone:
    case Kind::kUndefined: return nullptr;
    case Kind::kBool: return v.as_bool();
    case Kind::kInt: return v.as_int();
    case Kind::kFloat: return v.as_float();
    case Kind::kString: return v.str();
    case Kind::kList: {
      auto a = nlohmann::ordered_json::array();
      for (const Value& x : v.items()) a.push_back(value_to_json(x));
      return a;
    }
    case Kind::kDict: {
      auto o = nlohmann::ordered_json::object();
      for (const auto& [k, x] : v.dict_data().entries) o[jinja::to_str(k)] = value_to_json(x);
      return o;
    }
    default: return jinja::to_str(v);
  }
}

}  // namespace nextlm::chat
