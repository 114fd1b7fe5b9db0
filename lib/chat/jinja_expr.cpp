// Expression evaluation of the interpreter.
#include "chat/jinja_eval.h"
#include "chat/jinja_ops.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

void Interpreter::eval_args(const Expr& e, const FramePtr& frame, CallArgs& args) {
  for (const auto& x : e.items) args.pos.push_back(eval(*x, frame));
  if (e.dyn_args) {
    Value extra = eval(*e.dyn_args, frame);
    for (Value& v : iterate(extra)) args.pos.push_back(std::move(v));
  }
  for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x, frame));
  if (e.dyn_kwargs) {
    Value extra = eval(*e.dyn_kwargs, frame);
    if (!extra.is_dict()) raise("TypeError", "argument after ** must be a mapping, not " + std::string(extra.type_name()));
    for (const auto& [k, v] : extra.dict_data().entries) {
      if (!k.is_string()) raise("TypeError", "keywords must be strings");
      args.kw.emplace_back(k.str(), v);
    }
  }
}

Value Interpreter::eval_call(const Expr& e, const FramePtr& frame) {
  Value fn = eval(*e.a, frame);
  CallArgs args;
  eval_args(e, frame, args);
  line_ = e.line;
  return call(fn, args);
}

// A filter node; `subject` replaces the innermost missing operand (filter
// blocks and `{% set x | f %}`).
Value Interpreter::eval_filter(const Expr& e, const FramePtr& frame, const Value* subject) {
  Value v;
  if (!e.a) {
    if (!subject) raise("TemplateRuntimeError", "filter without a value");
    v = *subject;
  } else if (e.a->kind == ExprKind::kFilter) {
    v = eval_filter(*e.a, frame, subject);
  } else {
    v = eval(*e.a, frame);
  }
  CallArgs args;
  eval_args(e, frame, args);
  line_ = e.line;
  return apply_filter(e.name, v, args);
}

namespace {
struct NestGuard {
  explicit NestGuard(int& d, int limit) : depth(d) {
    if (++depth > limit) {
      --depth;
      raise("LimitExceeded", "template evaluation nested too deeply (" + std::to_string(limit) + " levels)");
    }
  }
  ~NestGuard() { --depth; }
  int& depth;
};
}  // namespace

// eval() itself stays small (its frame is paid once per nesting level); the
// cases with locals live in their own functions.
Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
  NestGuard nest(eval_depth_, opts_.limits.max_eval_depth);
  step();
  if (e.line) line_ = e.line;
  switch (e.kind) {
    case ExprKind::kConst: return e.value;
    case ExprKind::kName: {
      if (const Value* v = frame->lookup(e.name)) return *v;
      return Value::undefined_name(e.name);
    }
    case ExprKind::kNsRef: {
      const Value* v = frame->lookup(e.name);
      return v ? getattr(*v, e.attr) : Value::undefined_name(e.name);
    }
    case ExprKind::kList:
    case ExprKind::kTuple: return eval_sequence(e, frame);
    case ExprKind::kDict: return eval_dict(e, frame);
    case ExprKind::kGetattr: return getattr(eval(*e.a, frame), e.name);
    case ExprKind::kGetitem: return eval_getitem(e, frame);
    case ExprKind::kSlice: raise("TemplateSyntaxError", "slice outside of a subscript");
    case ExprKind::kCall: return eval_call(e, frame);
    case ExprKind::kFilter: return eval_filter(e, frame, nullptr);
    case ExprKind::kTest: return eval_test(e, frame);
    case ExprKind::kNot: return Value::boolean(!truthy(eval(*e.a, frame)));
    case ExprKind::kNeg: return negate(eval(*e.a, frame));
    case ExprKind::kPos: return positive(eval(*e.a, frame));
    case ExprKind::kBinary: return eval_binary(e, frame);
    case ExprKind::kAnd:
    case ExprKind::kOr: return eval_logic(e, frame);
    case ExprKind::kConcat: return eval_concat(e, frame);
    case ExprKind::kCompare: return eval_compare(e, frame);
    case ExprKind::kCondExpr: return eval_cond(e, frame);
  }
  return Value();
}

Value Interpreter::eval_sequence(const Expr& e, const FramePtr& frame) {
  std::vector<Value> items;
  items.reserve(e.items.size());
  for (const auto& x : e.items) items.push_back(eval(*x, frame));
  return Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
}

Value Interpreter::eval_dict(const Expr& e, const FramePtr& frame) {
  auto d = make_dict();
  for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
    Value k = eval(*e.items[i], frame);
    d->set(k, eval(*e.items[i + 1], frame));
  }
  return Value::dict(d);
}

Value Interpreter::eval_getitem(const Expr& e, const FramePtr& frame) {
  Value obj = eval(*e.a, frame);
  if (e.b->kind == ExprKind::kSlice) {
    const Expr& s = *e.b;
    Value start = s.a ? eval(*s.a, frame) : Value::none();
    Value stop = s.b ? eval(*s.b, frame) : Value::none();
    Value stride = s.c ? eval(*s.c, frame) : Value::none();
    return derived(slice(*this, obj, start, stop, stride), obj.holds_input());
  }
  return getitem(obj, eval(*e.b, frame));
}

Value Interpreter::eval_test(const Expr& e, const FramePtr& frame) {
  Value v = eval(*e.a, frame);
  CallArgs args;
  eval_args(e, frame, args);
  line_ = e.line;
  return Value::boolean(apply_test(e.name, v, args));
}

Value Interpreter::eval_binary(const Expr& e, const FramePtr& frame) {
  Value l = eval(*e.a, frame);
  Value r = eval(*e.b, frame);
  line_ = e.line;
  // String `+` keeps exact ranges; other results of input are all input.
  return derived(binary_op(*this, e.op, l, r), l.holds_input() || r.holds_input());
}

Value Interpreter::eval_logic(const Expr& e, const FramePtr& frame) {
  Value l = eval(*e.a, frame);
  if (e.kind == ExprKind::kAnd) return truthy(l) ? eval(*e.b, frame) : l;
  return truthy(l) ? l : eval(*e.b, frame);
}

Value Interpreter::eval_concat(const Expr& e, const FramePtr& frame) {
  TextBuilder s;
  for (const auto& x : e.items) {
    s.append(text_of(eval(*x, frame)));
    check_size(s.size());
  }
  return s.take();
}

Value Interpreter::eval_compare(const Expr& e, const FramePtr& frame) {
  Value left = eval(*e.items[0], frame);
  for (size_t i = 0; i < e.cmp_ops.size(); ++i) {
    Value right = eval(*e.items[i + 1], frame);
    line_ = e.line;
    const CmpOp op = e.cmp_ops[i];
    bool ok;
    if (op == CmpOp::kIn) ok = contains(*this, right, left);
    else if (op == CmpOp::kNotIn) ok = !contains(*this, right, left);
    else ok = compare(op, left, right);
    if (!ok) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_cond(const Expr& e, const FramePtr& frame) {
  if (truthy(eval(*e.a, frame))) return eval(*e.b, frame);
  if (e.c) return eval(*e.c, frame);
  return Value::undefined_hint("the inline if-expression on line " + std::to_string(e.line) +
                               " evaluated to false and no else section was defined.");
}

}  // namespace nextlm::chat::jinja
