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

Value Interpreter::eval(const Expr& e, const FramePtr& frame) {
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
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& x : e.items) items.push_back(eval(*x, frame));
      return Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
    }
    case ExprKind::kDict: {
      auto d = make_dict();
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i], frame);
        d->set(k, eval(*e.items[i + 1], frame));
      }
      return Value::dict(d);
    }
    case ExprKind::kGetattr: return getattr(eval(*e.a, frame), e.name);
    case ExprKind::kGetitem: {
      Value obj = eval(*e.a, frame);
      if (e.b->kind == ExprKind::kSlice) {
        const Expr& s = *e.b;
        Value start = s.a ? eval(*s.a, frame) : Value::none();
        Value stop = s.b ? eval(*s.b, frame) : Value::none();
        Value stride = s.c ? eval(*s.c, frame) : Value::none();
        return slice(*this, obj, start, stop, stride);
      }
      return getitem(obj, eval(*e.b, frame));
    }
    case ExprKind::kSlice: raise("TemplateSyntaxError", "slice outside of a subscript");
    case ExprKind::kCall: return eval_call(e, frame);
    case ExprKind::kFilter: return eval_filter(e, frame, nullptr);
    case ExprKind::kTest: {
      Value v = eval(*e.a, frame);
      CallArgs args;
      eval_args(e, frame, args);
      line_ = e.line;
      return Value::boolean(apply_test(e.name, v, args));
    }
    case ExprKind::kNot: return Value::boolean(!truthy(eval(*e.a, frame)));
    case ExprKind::kNeg: return negate(eval(*e.a, frame));
    case ExprKind::kPos: return positive(eval(*e.a, frame));
    case ExprKind::kBinary: {
      Value l = eval(*e.a, frame);
      Value r = eval(*e.b, frame);
      line_ = e.line;
      return binary_op(*this, e.op, l, r);
    }
    case ExprKind::kAnd: {
      Value l = eval(*e.a, frame);
      return truthy(l) ? eval(*e.b, frame) : l;
    }
    case ExprKind::kOr: {
      Value l = eval(*e.a, frame);
      return truthy(l) ? l : eval(*e.b, frame);
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& x : e.items) {
        s += to_str(eval(*x, frame));
        check_size(s.size());
      }
      return Value::string(std::move(s));
    }
    case ExprKind::kCompare: {
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
    case ExprKind::kCondExpr: {
      if (truthy(eval(*e.a, frame))) return eval(*e.b, frame);
      if (e.c) return eval(*e.c, frame);
      return Value::undefined_hint("the inline if-expression on line " + std::to_string(e.line) +
                                   " evaluated to false and no else section was defined.");
    }
  }
  return Value();
}

}  // namespace nextlm::chat::jinja
