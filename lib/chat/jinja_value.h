// Values of the Jinja engine, with Python's semantics: undefined (jinja2's
// default Undefined), None, bool, int (64-bit), float, str (UTF-8; the
// `markup` flag marks markupsafe.Markup), sequences (list, tuple and the lazy
// kinds jinja2 produces: generators, dict views, reversed iterators, ranges),
// dicts (insertion-ordered), callables (builtins, bound methods, macros) and
// objects (namespace, loop, cycler, joiner).
//
// Strings also carry their provenance: the byte ranges that came from the
// render's input values (message content, tool definitions...) rather than
// from the template text. Prompt tokenization uses it to keep control-token
// text inside input from becoming control tokens (see jinja_taint.h).
//
// Lists and dicts are shared by reference like Python objects and are never
// modified after construction (the sandbox is immutable); namespaces are the
// only mutable objects. Nesting depth is bounded at construction so that
// printing, comparing and destroying values never recurses without bound.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nextlm/error.h"

namespace nextlm::chat::jinja {

// A rendering or parsing failure, named like the Python exception jinja2
// raises ("UndefinedError", "TypeError", "TemplateSyntaxError", ...).
class TemplateError : public nextlm::Error {
 public:
  TemplateError(std::string type, std::string message, int line = 0);
  const std::string& type() const { return type_; }
  const std::string& message() const { return message_; }
  int line() const { return line_; }
  // "Type: message", as Python prints `f"{type(e).__name__}: {e}"`.
  std::string python_message() const { return type_ + ": " + message_; }

 private:
  std::string type_;
  std::string message_;
  int line_;
};

[[noreturn]] void raise(const char* type, std::string message);

constexpr int kMaxValueDepth = 400;

// Byte range [begin, end) of a string that came from input values.
struct TaintSpan {
  size_t begin = 0, end = 0;
};
using Taint = std::vector<TaintSpan>;  // sorted, disjoint, non-empty ranges

class Value;
class Interpreter;

enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kCallable, kObject };
enum class SeqKind : uint8_t { kList, kTuple, kGenerator, kDictKeys, kDictValues, kDictItems, kReverseIter, kRange };

struct UndefinedData {
  std::string hint;      // explicit message, if any
  std::string name;      // undefined name or missing attribute / item (repr'd for items)
  std::string obj_type;  // "dict object", "None", ... when an object lacked the attribute
  bool has_obj = false;
  bool name_is_attr = true;  // attribute (str) vs element (other key types)
  bool security = false;     // raises SecurityError rather than UndefinedError
  std::string message() const;
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

using NativeFn = std::function<Value(Interpreter&, CallArgs&)>;

struct Callable {
  std::string name;
  const char* type_name = "builtin_function_or_method";
  std::string repr;  // how str() shows it
  NativeFn fn;
};

class Object {
 public:
  virtual ~Object() = default;
  virtual const char* type_name() const = 0;
  // The attribute, or nullopt when the object has none of that name.
  virtual std::optional<Value> getattr(Interpreter& in, const std::string& name) = 0;
  virtual std::string repr(int depth) const = 0;
  virtual bool is_namespace() const { return false; }
  virtual const Value* call_target() const { return nullptr; }  // what calling the object calls
  virtual void clear() {}  // drops references (cycle breaking at the end of a render)
};

struct ListData;
struct DictData;

class Value {
 public:
  Value() : kind_(Kind::kUndefined) {}
  static Value none() { return Value(Kind::kNone); }
  static Value boolean(bool b) {
    Value v(Kind::kBool);
    v.i_ = b;
    return v;
  }
  static Value integer(int64_t i) {
    Value v(Kind::kInt);
    v.i_ = i;
    return v;
  }
  static Value number(double f) {
    Value v(Kind::kFloat);
    v.f_ = f;
    return v;
  }
  static Value string(std::string s, bool markup = false) {
    Value v(Kind::kString);
    v.s_ = std::move(s);
    v.markup_ = markup;
    return v;
  }
  // A string with the given input ranges (null or empty: all template text).
  static Value string(std::string s, bool markup, std::shared_ptr<const Taint> taint) {
    Value v = string(std::move(s), markup);
    if (taint && !taint->empty()) v.taint_ = std::move(taint);
    return v;
  }
  // A string every byte of which came from input.
  static Value input_string(std::string s);
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), SeqKind::kTuple); }
  static Value dict(std::shared_ptr<DictData> d);
  static Value callable(std::shared_ptr<Callable> c);
  static Value function(std::string name, NativeFn fn);
  static Value object(std::shared_ptr<Object> o);
  static Value undefined(std::shared_ptr<UndefinedData> u);
  static Value undefined_name(const std::string& name);
  static Value undefined_hint(const std::string& hint);
  static Value missing_attr(const Value& obj, const std::string& name);
  static Value missing_item(const Value& obj, const Value& key);
  static Value unsafe(const Value& obj, const std::string& attr);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_callable() const { return kind_ == Kind::kCallable; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_seq(SeqKind k) const;

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }         // kBool or kInt
  double as_float() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(i_); }
  const std::string& str() const { return s_; }  // kString
  ListData& list_data() const { return *static_cast<ListData*>(p_.get()); }
  DictData& dict_data() const { return *static_cast<DictData*>(p_.get()); }
  const std::shared_ptr<DictData> dict_ptr() const { return std::static_pointer_cast<DictData>(p_); }
  Callable& callable_data() const { return *static_cast<Callable*>(p_.get()); }
  Object& object_data() const { return *static_cast<Object*>(p_.get()); }
  std::shared_ptr<Object> object_ptr() const { return std::static_pointer_cast<Object>(p_); }
  const UndefinedData* undefined_data() const { return static_cast<const UndefinedData*>(p_.get()); }
  const void* identity() const { return p_.get(); }
  const std::vector<Value>& items() const;  // kList

  int depth() const;  // nesting depth (1 for scalars)
  // Input ranges of a string (null when it is all template text).
  const std::shared_ptr<const Taint>& taint() const { return taint_; }
  // Whether this value, or anything it holds, has bytes from input.
  bool holds_input() const;
  const char* type_name() const;  // Python's type(x).__name__

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_;
  bool markup_ = false;
  union {
    int64_t i_ = 0;
    double f_;
  };
  std::string s_;
  std::shared_ptr<void> p_;
  std::shared_ptr<const Taint> taint_;  // strings only
};

struct ListData {
  std::vector<Value> items;
  SeqKind kind = SeqKind::kList;
  int depth = 1;
  bool holds_input = false;  // some element holds input (fixed at construction, like depth)
  bool consumed = false;  // generators iterate once
  int64_t range_start = 0, range_stop = 0, range_step = 1;
  const std::vector<std::string>* field_names = nullptr;  // a named tuple's attributes (static storage)
};

struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  std::unordered_map<std::string, size_t> index;
  int depth = 1;
  bool holds_input = false;  // some key or value holds input (fixed at construction)

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(const Value& key, Value value);
  size_t size() const { return entries.size(); }
};

std::shared_ptr<DictData> make_dict();

// The key under which a dict files `v` (Python hash equality: 1 == 1.0 ==
// True); throws TypeError for unhashable values.
std::string hash_key(const Value& v);

bool truthy(const Value& v);
std::string to_str(const Value& v);   // Python str()
std::string to_repr(const Value& v, int depth = 0);  // Python repr()
bool equals(const Value& a, const Value& b, int depth = 0);
// a < b, etc. with Python's rules; `op` ("<", "<=", ">", ">=") names the
// operator in TypeError messages, which show the operands swapped when
// `swapped` (a > b is evaluated as b < a).
bool less(const Value& a, const Value& b, const char* op, int depth = 0, bool swapped = false);
[[noreturn]] void raise_undefined(const Value& v);  // v must be undefined

}  // namespace nextlm::chat::jinja
