#include "chat/jinja_ops.h"

#include <cmath>

#include "chat/jinja_eval.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

namespace {

std::string q(const Value& v) { return py::repr_string(v.type_name()); }

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  raise("TypeError", "unsupported operand type(s) for " + op + ": " + q(a) + " and " + q(b));
}

bool is_int_like(const Value& v) { return v.is_int() || v.is_bool(); }

int64_t checked(bool overflow, int64_t r) {
  if (overflow) raise("OverflowError", "integer result too large for this engine (64-bit)");
  return r;
}

Value repeat(Interpreter& in, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value::string("", seq.is_markup()) : Value::list({}, seq.list_data().kind);
  if (seq.is_string()) {
    const std::string& s = seq.str();
    in.check_size(s.size() * static_cast<uint64_t>(n) > (1ull << 40) ? (1ull << 40) : s.size() * static_cast<size_t>(n));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value::string(std::move(out), seq.is_markup());
  }
  const auto& items = seq.items();
  const uint64_t total = items.size() * static_cast<uint64_t>(n);
  in.check_size(total > (1ull << 40) ? (1ull << 40) : static_cast<size_t>(total) * 8);
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(total));
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.list_data().kind);
}

double py_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((b < 0) != (m < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

Value int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  bool overflow = false;
  while (exp > 0) {
    if (exp & 1) overflow |= __builtin_mul_overflow(result, base, &result);
    exp >>= 1;
    if (exp) overflow |= __builtin_mul_overflow(base, base, &base);
    if (overflow) break;
  }
  return Value::integer(checked(overflow, result));
}

}  // namespace

Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) raise_undefined(a);
  if (op == "%" && a.is_string())  // str.__mod__ takes anything, an Undefined as an empty mapping
    return Value::string(percent_format(in, a.str(), b), a.is_markup());
  if (b.is_undefined()) raise_undefined(b);
  const bool nums = a.is_number() && b.is_number();
  const bool ints = is_int_like(a) && is_int_like(b);
  if (op == "+") {
    if (ints) {
      int64_t r = 0;
      const bool overflow = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
      return Value::integer(checked(overflow, r));
    }
    if (nums) return Value::number(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) {
      if (a.is_markup() == b.is_markup()) {  // no escaping: exact input ranges
        in.check_size(a.str().size() + b.str().size());
        TextBuilder t;
        t.append(a);
        t.append(b);
        return t.take(a.is_markup());
      }
      std::string l = a.is_markup() || !b.is_markup() ? a.str() : py::html_escape(a.str());
      std::string r = b.is_markup() || !a.is_markup() ? b.str() : py::html_escape(b.str());
      in.check_size(l.size() + r.size());
      return Value::string(l + r, a.is_markup() || b.is_markup());
    }
    if (a.is_list() && b.is_list()) {
      const SeqKind ka = a.list_data().kind, kb = b.list_data().kind;
      if (ka == kb && (ka == SeqKind::kList || ka == SeqKind::kTuple)) {
        std::vector<Value> out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        in.check_size(out.size() * 8);
        in.step(out.size() / 16);
        return Value::list(std::move(out), ka);
      }
    }
    if (a.is_string() && !a.is_markup())
      raise("TypeError", std::string("can only concatenate str (not \"") + b.type_name() + "\") to str");
    if (a.is_seq(SeqKind::kList))
      raise("TypeError", std::string("can only concatenate list (not \"") + b.type_name() + "\") to list");
    if (a.is_seq(SeqKind::kTuple))
      raise("TypeError", std::string("can only concatenate tuple (not \"") + b.type_name() + "\") to tuple");
    unsupported(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      int64_t r = 0;
      const bool overflow = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
      return Value::integer(checked(overflow, r));
    }
    if (nums) return Value::number(a.as_float() - b.as_float());
    unsupported(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      int64_t r = 0;
      const bool overflow = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
      return Value::integer(checked(overflow, r));
    }
    if (nums) return Value::number(a.as_float() * b.as_float());
    const bool a_seq = a.is_string() || a.is_seq(SeqKind::kList) || a.is_seq(SeqKind::kTuple);
    const bool b_seq = b.is_string() || b.is_seq(SeqKind::kList) || b.is_seq(SeqKind::kTuple);
    if (a_seq && is_int_like(b)) return repeat(in, a, b.as_int());
    if (b_seq && is_int_like(a)) return repeat(in, b, a.as_int());
    if (a_seq || b_seq)
      raise("TypeError", std::string("can't multiply sequence by non-int of type ") + q(a_seq && !b_seq ? b : (b_seq && !a_seq ? a : b)));
    unsupported(op, a, b);
  }
  if (op == "/") {
    if (!nums) unsupported(op, a, b);
    if (b.as_float() == 0) raise("ZeroDivisionError", ints ? "division by zero" : "float division by zero");
    return Value::number(a.as_float() / b.as_float());
  }
  if (op == "//") {
    if (!nums) unsupported(op, a, b);
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) raise("ZeroDivisionError", "integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) raise("OverflowError", "integer result too large for this engine (64-bit)");
      int64_t d = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --d;
      return Value::integer(d);
    }
    if (b.as_float() == 0) raise("ZeroDivisionError", "float floor division by zero");
    const double x = a.as_float(), y = b.as_float();
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
    double fd;
    if (div != 0) {
      fd = std::floor(div);
      if (div - fd > 0.5) fd += 1.0;
    } else {
      fd = std::copysign(0.0, x / y);
    }
    return Value::number(fd);
  }
  if (op == "%") {
    if (a.is_string()) {
      std::string s = percent_format(in, a.str(), b);
      return Value::string(std::move(s), a.is_markup());
    }
    if (!nums) unsupported(op, a, b);
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) raise("ZeroDivisionError", "integer modulo by zero");
      if (y == -1) return Value::integer(0);
      int64_t m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y;
      return Value::integer(m);
    }
    if (b.as_float() == 0) raise("ZeroDivisionError", "float modulo");
    return Value::number(py_fmod(a.as_float(), b.as_float()));
  }
  if (op == "**") {
    if (!nums) unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) return int_pow(a.as_int(), b.as_int());
    if (a.as_float() == 0 && b.as_float() < 0)
      raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
    return Value::number(std::pow(a.as_float(), b.as_float()));
  }
  raise("TemplateRuntimeError", "unknown operator " + op);
}

Value negate(const Value& v) {
  if (v.is_undefined()) raise_undefined(v);
  if (is_int_like(v)) {
    if (v.as_int() == INT64_MIN) raise("OverflowError", "integer result too large for this engine (64-bit)");
    return Value::integer(-v.as_int());
  }
  if (v.is_float()) return Value::number(-v.as_float());
  raise("TypeError", "bad operand type for unary -: " + q(v));
}

Value positive(const Value& v) {
  if (v.is_undefined()) raise_undefined(v);
  if (is_int_like(v)) return Value::integer(v.as_int());
  if (v.is_float()) return v;
  raise("TypeError", "bad operand type for unary +: " + q(v));
}

bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined: return false;
    case Kind::kString:
      if (!item.is_string())
        raise("TypeError", std::string("'in <string>' requires string as left operand, not ") + item.type_name());
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kDict:
      if ((item.is_list() && !item.is_seq(SeqKind::kTuple)) || item.is_dict())
        raise("TypeError", "unhashable type: " + q(item));
      return container.dict_data().find(item) != nullptr;
    case Kind::kList: {
      std::vector<Value> items = in.iterate(container);
      in.step(items.size() / 8);
      for (const Value& x : items)
        if (equals(x, item)) return true;
      return false;
    }
    default: raise("TypeError", "argument of type " + q(container) + " is not iterable");
  }
}

bool compare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq: return equals(a, b);
    case CmpOp::kNe: return !equals(a, b);
    case CmpOp::kLt: return less(a, b, "<");
    case CmpOp::kLe: return less(a, b, "<=") || equals(a, b);
    case CmpOp::kGt: return less(b, a, ">", 0, true);
    case CmpOp::kGe: return less(b, a, ">=", 0, true) || equals(a, b);
    default: return false;
  }
}

namespace {

int64_t slice_index(const Value& v, bool* given) {
  *given = false;
  if (v.is_none() || v.is_undefined()) return 0;
  if (!is_int_like(v)) raise("TypeError", "slice indices must be integers or None or have an __index__ method");
  *given = true;
  return v.as_int();
}

}  // namespace

Value slice(Interpreter& in, const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (obj.is_undefined()) raise_undefined(obj);
  bool has_start, has_stop, has_step;
  int64_t start = slice_index(start_v, &has_start);
  int64_t stop = slice_index(stop_v, &has_stop);
  int64_t stride = slice_index(step_v, &has_step);
  if (!has_step) stride = 1;
  if (stride == 0) raise("ValueError", "slice step cannot be zero");
  const bool is_str = obj.is_string();
  const bool is_seq = obj.is_seq(SeqKind::kList) || obj.is_seq(SeqKind::kTuple) || obj.is_seq(SeqKind::kRange);
  if (obj.is_dict()) raise("TypeError", "unhashable type: 'slice'");
  if (!is_str && !is_seq) raise("TypeError", q(obj) + " object is not subscriptable");
  std::vector<uint32_t> cps;
  if (is_str) cps = py::to_code_points(obj.str());
  const int64_t n = is_str ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(obj.items().size());
  auto adjust = [&](int64_t i, bool given, int64_t dflt) {
    if (!given) return dflt;
    if (i < 0) {
      i += n;
      if (i < 0) i = stride < 0 ? -1 : 0;
    } else if (i >= n) {
      i = stride < 0 ? n - 1 : n;
    }
    return i;
  };
  start = adjust(start, has_start, stride < 0 ? n - 1 : 0);
  stop = adjust(stop, has_stop, stride < 0 ? -1 : n);
  in.step(static_cast<uint64_t>(n) / 16);
  std::vector<int64_t> idx;
  for (__int128 i = start; stride > 0 ? i < stop : i > stop; i += stride) idx.push_back(static_cast<int64_t>(i));
  if (is_str) {
    std::string out;
    for (int64_t i : idx) py::append_utf8(out, cps[static_cast<size_t>(i)]);
    return Value::string(std::move(out), obj.is_markup());
  }
  std::vector<Value> out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(obj.items()[static_cast<size_t>(i)]);
  const SeqKind k = obj.list_data().kind;
  return Value::list(std::move(out), k == SeqKind::kTuple ? SeqKind::kTuple : SeqKind::kList);
}

}  // namespace nextlm::chat::jinja
