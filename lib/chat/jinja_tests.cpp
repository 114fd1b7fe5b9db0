// Jinja tests (`x is defined`, `x is divisibleby 3`, ...), as jinja2.tests.
#include <cmath>
#include <string>
#include <unordered_map>

#include "chat/jinja_args.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_ops.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

const Value& arg0(CallArgs& a, const char* name) {
  if (a.pos.empty()) {
    for (const auto& kv : a.kw) return kv.second;
    raise("TypeError", std::string("test_") + name + "() missing 1 required positional argument");
  }
  return a.pos[0];
}

// value % m == want, with Python's modulo.
bool mod_is(const Value& v, const Value& m, int64_t want) {
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_string()) raise("TypeError", "not all arguments converted during string formatting");
  if (!v.is_number() || !m.is_number())
    raise("TypeError", std::string("unsupported operand type(s) for %: '").append(v.type_name()).append("' and '").append(m.type_name()).append("'"));
  if (v.is_float() || m.is_float()) {
    const double d = m.as_float();
    if (d == 0) raise("ZeroDivisionError", "float modulo");
    double r = std::fmod(v.as_float(), d);
    if (r != 0 && ((r < 0) != (d < 0))) r += d;
    return r == static_cast<double>(want);
  }
  const int64_t d = m.as_int();
  if (d == 0) raise("ZeroDivisionError", "integer modulo by zero");
  if (d == -1) return want == 0;
  int64_t r = v.as_int() % d;
  if (r != 0 && ((r < 0) != (d < 0))) r += d;
  return r == want;
}

bool same_as(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kNone: return true;
    case Kind::kBool: return a.as_bool() == b.as_bool();
    case Kind::kInt: return a.as_int() == b.as_int() && a.as_int() >= -5 && a.as_int() <= 256;
    case Kind::kString: return a.str() == b.str() && a.str().size() <= 1;
    case Kind::kFloat: return false;
    default: return a.identity() == b.identity() && a.identity() != nullptr;
  }
}

bool case_test(const Value& v, bool upper) {
  std::string s = to_str(v);
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    uint32_t c = py::decode_at(s, i);
    if (upper ? py::is_lower_cp(c) : py::is_upper_cp(c)) return false;
    if (py::is_cased(c)) cased = true;
  }
  return cased;
}

using Table = std::unordered_map<std::string, TestFn>;

const Table& table() {
  static const Table t = [] {
    Table m;
    m["defined"] = [](Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); };
    m["undefined"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); };
    m["none"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_none(); };
    m["boolean"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); };
    m["false"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); };
    m["true"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); };
    m["integer"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_int(); };
    m["float"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_float(); };
    m["number"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_number(); };
    m["string"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string(); };
    m["mapping"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); };
    m["sequence"] = [](Interpreter&, const Value& v, CallArgs&) {
      if (v.is_string() || v.is_dict() || v.is_undefined()) return true;
      return v.is_seq(SeqKind::kList) || v.is_seq(SeqKind::kTuple) || v.is_seq(SeqKind::kRange);
    };
    m["iterable"] = [](Interpreter&, const Value& v, CallArgs&) {
      return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
    };
    m["callable"] = [](Interpreter&, const Value& v, CallArgs&) {
      return v.is_callable() || v.is_undefined() || (v.is_object() && std::string(v.type_name()) != "Namespace" &&
                                                      std::string(v.type_name()) != "Cycler");
    };
    m["sameas"] = [](Interpreter&, const Value& v, CallArgs& a) { return same_as(v, arg0(a, "sameas")); };
    m["escaped"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_markup(); };
    m["lower"] = [](Interpreter&, const Value& v, CallArgs&) { return case_test(v, false); };
    m["upper"] = [](Interpreter&, const Value& v, CallArgs&) { return case_test(v, true); };
    m["odd"] = [](Interpreter&, const Value& v, CallArgs&) { return mod_is(v, Value::integer(2), 1); };
    m["even"] = [](Interpreter&, const Value& v, CallArgs&) { return mod_is(v, Value::integer(2), 0); };
    m["divisibleby"] = [](Interpreter&, const Value& v, CallArgs& a) { return mod_is(v, arg0(a, "divisibleby"), 0); };
    m["in"] = [](Interpreter& in, const Value& v, CallArgs& a) { return contains(in, arg0(a, "in"), v); };
    m["filter"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.str()) != nullptr; };
    m["test"] = [](Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.str()) != nullptr; };
    const std::pair<const char*, CmpOp> cmps[] = {
        {"eq", CmpOp::kEq}, {"equalto", CmpOp::kEq}, {"==", CmpOp::kEq}, {"ne", CmpOp::kNe}, {"!=", CmpOp::kNe},
        {"lt", CmpOp::kLt}, {"lessthan", CmpOp::kLt}, {"<", CmpOp::kLt}, {"le", CmpOp::kLe}, {"<=", CmpOp::kLe},
        {"gt", CmpOp::kGt}, {"greaterthan", CmpOp::kGt}, {">", CmpOp::kGt}, {"ge", CmpOp::kGe}, {">=", CmpOp::kGe}};
    for (const auto& [name, op] : cmps) {
      switch (op) {
        case CmpOp::kEq: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kEq, v, arg0(a, "eq")); }; break;
        case CmpOp::kNe: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kNe, v, arg0(a, "ne")); }; break;
        case CmpOp::kLt: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kLt, v, arg0(a, "lt")); }; break;
        case CmpOp::kLe: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kLe, v, arg0(a, "le")); }; break;
        case CmpOp::kGt: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kGt, v, arg0(a, "gt")); }; break;
        case CmpOp::kGe: m[name] = [](Interpreter&, const Value& v, CallArgs& a) { return compare(CmpOp::kGe, v, arg0(a, "ge")); }; break;
        default: break;
      }
    }
    return m;
  }();
  return t;
}

}  // namespace

TestFn find_test(const std::string& name) {
  auto it = table().find(name);
  return it == table().end() ? nullptr : it->second;
}

}  // namespace nextlm::chat::jinja
