// Parser: expressions (jinja2's precedence: conditional, or, and, not,
// comparisons, + -, ~, * / // %, **, unary, postfix, filters and tests).
#include "chat/jinja_parser_impl.h"

namespace nextlm::chat::jinja {

// ---- assignment targets ----
void Parser::check_assignable(const Expr& e) {
  if (e.kind == ExprKind::kName) {
    if (e.name == "true" || e.name == "false" || e.name == "none" || e.name == "True" || e.name == "False" ||
        e.name == "None")
      fail("can't assign to const");
    return;
  }
  if (e.kind == ExprKind::kNsRef) return;
  if (e.kind == ExprKind::kTuple) {
    for (const auto& x : e.items) check_assignable(*x);
    return;
  }
  fail(e.kind == ExprKind::kConst ? "can't assign to 'const'" : "can't assign to expression", e.line);
}

// ---- expressions ----
bool Parser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || is_op(")")) return true;
  return at_end_tag(extra_end);
}

ExprPtr Parser::parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                                    bool with_namespace) {
  ExprPtr target;
  if (name_only) {
    target = mk(ExprKind::kName, cur().line);
    target->name = expect_name();
    return done(std::move(target));
  }
  if (with_tuple) target = parse_tuple(true, true, extra_end, false, with_namespace);
  else target = parse_primary(with_namespace);
  check_assignable(*target);
  return target;
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                            bool explicit_parens, bool with_namespace) {
  const int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    args.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
    if (is_op(",")) is_tuple = true;
    else break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) fail("Expected an expression, got " + describe(cur()));
  }
  auto t = mk(ExprKind::kTuple, line);
  t->items = std::move(args);
  return done(std::move(t));
}

ExprPtr Parser::binary(ExprKind k, ExprPtr l, ExprPtr r, int line, std::string op) {
  auto e = mk(k, line);
  e->a = std::move(l);
  e->b = std::move(r);
  e->op = std::move(op);
  return done(std::move(e));
}

ExprPtr Parser::parse_condexpr() {
  DepthGuard g(*this, expr_depth_, 3 * kMaxExprDepth, "expression");
  int line = cur().line;
  ExprPtr e1 = parse_or();
  while (skip_name("if")) {
    auto ce = mk(ExprKind::kCondExpr, line);
    ce->a = parse_or();
    ce->b = std::move(e1);
    if (skip_name("else")) ce->c = parse_condexpr();
    e1 = done(std::move(ce));
    line = cur().line;
  }
  return e1;
}

ExprPtr Parser::parse_or() {
  int line = cur().line;
  ExprPtr l = parse_and();
  while (skip_name("or")) {
    l = binary(ExprKind::kOr, std::move(l), parse_and(), line);
    line = cur().line;
  }
  return l;
}

ExprPtr Parser::parse_and() {
  int line = cur().line;
  ExprPtr l = parse_not();
  while (skip_name("and")) {
    l = binary(ExprKind::kAnd, std::move(l), parse_not(), line);
    line = cur().line;
  }
  return l;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    DepthGuard g(*this, expr_depth_, 3 * kMaxExprDepth, "expression");
    const int line = cur().line;
    next();
    auto e = mk(ExprKind::kNot, line);
    e->a = parse_not();
    return done(std::move(e));
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const int line = cur().line;
  ExprPtr first = parse_math1();
  std::vector<CmpOp> ops;
  std::vector<ExprPtr> rest;
  while (true) {
    CmpOp op;
    if (cur().type == Tok::kOp && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                   cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
      const std::string& v = cur().value;
      op = v == "==" ? CmpOp::kEq : v == "!=" ? CmpOp::kNe : v == "<" ? CmpOp::kLt : v == "<=" ? CmpOp::kLe
           : v == ">" ? CmpOp::kGt : CmpOp::kGe;
      next();
    } else if (skip_name("in")) {
      op = CmpOp::kIn;
    } else if (is_name("not") && look().type == Tok::kName && look().value == "in") {
      next();
      next();
      op = CmpOp::kNotIn;
    } else {
      break;
    }
    ops.push_back(op);
    rest.push_back(parse_math1());
  }
  if (ops.empty()) return first;
  auto e = mk(ExprKind::kCompare, line);
  e->items.push_back(std::move(first));
  for (auto& r : rest) e->items.push_back(std::move(r));
  e->cmp_ops = std::move(ops);
  return done(std::move(e));
}

ExprPtr Parser::parse_math1() {
  int line = cur().line;
  ExprPtr l = parse_concat();
  while (is_op("+") || is_op("-")) {
    std::string op = cur().value;
    next();
    l = binary(ExprKind::kBinary, std::move(l), parse_concat(), line, op);
    line = cur().line;
  }
  return l;
}

ExprPtr Parser::parse_concat() {
  const int line = cur().line;
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto e = mk(ExprKind::kConcat, line);
  e->items.push_back(std::move(first));
  while (skip_op("~")) e->items.push_back(parse_math2());
  return done(std::move(e));
}

ExprPtr Parser::parse_math2() {
  int line = cur().line;
  ExprPtr l = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    std::string op = cur().value;
    next();
    l = binary(ExprKind::kBinary, std::move(l), parse_pow(), line, op);
    line = cur().line;
  }
  return l;
}

ExprPtr Parser::parse_pow() {
  int line = cur().line;
  ExprPtr l = parse_unary(true);
  while (skip_op("**")) {
    l = binary(ExprKind::kBinary, std::move(l), parse_unary(true), line, "**");
    line = cur().line;
  }
  return l;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard g(*this, expr_depth_, 3 * kMaxExprDepth, "expression");
  const int line = cur().line;
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    const bool neg = is_op("-");
    next();
    node = mk(neg ? ExprKind::kNeg : ExprKind::kPos, line);
    node->a = parse_unary(false);
    node = done(std::move(node));
  } else {
    node = parse_primary(false);
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary(bool with_namespace) {
  DepthGuard g(*this, expr_depth_, 3 * kMaxExprDepth, "expression");
  const Token& tok = cur();
  const int line = tok.line;
  if (tok.type == Tok::kName) {
    const std::string v = tok.value;
    next();
    auto e = mk(ExprKind::kConst, line);
    if (v == "true" || v == "True" || v == "false" || v == "False") {
      e->value = Value::boolean(v == "true" || v == "True");
    } else if (v == "none" || v == "None") {
      e->value = Value::none();
    } else if (with_namespace && is_op(".")) {
      next();
      e->kind = ExprKind::kNsRef;
      e->name = v;
      e->attr = expect_name();
    } else {
      e->kind = ExprKind::kName;
      e->name = v;
    }
    return done(std::move(e));
  }
  if (tok.type == Tok::kString) {
    std::string s;
    while (cur().type == Tok::kString) {
      s += cur().value;
      next();
    }
    auto e = mk(ExprKind::kConst, line);
    e->value = Value::string(std::move(s));
    return done(std::move(e));
  }
  if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
    auto e = mk(ExprKind::kConst, line);
    e->value = tok.type == Tok::kInt ? Value::integer(tok.ival) : Value::number(tok.fval);
    next();
    return done(std::move(e));
  }
  if (skip_op("(")) {
    ExprPtr e = parse_tuple(false, true, {}, true);
    expect_op(")");
    return e;
  }
  if (skip_op("[")) {
    auto e = mk(ExprKind::kList, line);
    while (!is_op("]")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("]")) break;
      e->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return done(std::move(e));
  }
  if (skip_op("{")) {
    auto e = mk(ExprKind::kDict, line);
    while (!is_op("}")) {
      if (!e->items.empty()) expect_op(",");
      if (is_op("}")) break;
      e->items.push_back(parse_expression(true));
      expect_op(":");
      e->items.push_back(parse_expression(true));
    }
    expect_op("}");
    return done(std::move(e));
  }
  fail("unexpected " + describe(tok));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
    else if (is_op("(")) node = parse_call(std::move(node));
    else break;
  }
  return node;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) node = parse_filter(std::move(node), false);
    else if (is_name("is")) node = parse_test(std::move(node));
    else if (is_op("(")) node = parse_call(std::move(node));
    else break;
  }
  return node;
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const int line = cur().line;
  if (skip_op(".")) {
    if (cur().type == Tok::kName) {
      auto e = mk(ExprKind::kGetattr, line);
      e->a = std::move(node);
      e->name = cur().value;
      next();
      return done(std::move(e));
    }
    if (cur().type != Tok::kInt) fail("expected name or number");
    auto e = mk(ExprKind::kGetitem, line);
    e->a = std::move(node);
    auto k = mk(ExprKind::kConst, line);
    k->value = Value::integer(cur().ival);
    next();
    e->b = done(std::move(k));
    return done(std::move(e));
  }
  expect_op("[");
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto e = mk(ExprKind::kGetitem, line);
  e->a = std::move(node);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    auto t = mk(ExprKind::kTuple, line);
    t->items = std::move(args);
    e->b = done(std::move(t));
  }
  return done(std::move(e));
}

ExprPtr Parser::parse_subscribed() {
  const int line = cur().line;
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression(true);
    if (!is_op(":")) return start;
  }
  next();  // ':'
  auto s = mk(ExprKind::kSlice, line);
  s->a = std::move(start);
  if (!is_op("]") && !is_op(",") && !is_op(":")) s->b = parse_expression(true);
  if (skip_op(":")) {
    if (!is_op("]") && !is_op(",")) s->c = parse_expression(true);
  }
  return done(std::move(s));
}

void Parser::parse_call_args(Expr& e) {
  expect_op("(");
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    auto ensure = [&](bool ok) {
      if (!ok) fail("invalid syntax for function call expression");
    };
    if (skip_op("*")) {
      ensure(!e.dyn_args && !e.dyn_kwargs);
      e.dyn_args = parse_expression(true);
    } else if (skip_op("**")) {
      ensure(!e.dyn_kwargs);
      e.dyn_kwargs = parse_expression(true);
    } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().value == "=") {
      ensure(!e.dyn_kwargs);
      std::string key = cur().value;
      next();
      next();
      e.kwargs.emplace_back(std::move(key), parse_expression(true));
    } else {
      ensure(!e.dyn_args && !e.dyn_kwargs && e.kwargs.empty());
      e.items.push_back(parse_expression(true));
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr node) {
  auto e = mk(ExprKind::kCall, cur().line);
  e->a = std::move(node);
  parse_call_args(*e);
  return done(std::move(e));
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    auto e = mk(ExprKind::kFilter, cur().line);
    e->name = expect_name();
    while (skip_op(".")) {
      e->name += '.';
      e->name += expect_name();
    }
    e->a = std::move(node);
    if (is_op("(")) parse_call_args(*e);
    node = done(std::move(e));
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const int line = cur().line;
  next();  // 'is'
  const bool negated = skip_name("not");
  auto e = mk(ExprKind::kTest, line);
  e->name = expect_name();
  while (skip_op(".")) {
    e->name += '.';
    e->name += expect_name();
  }
  e->a = std::move(node);
  const Token& t = cur();
  if (is_op("(")) {
    parse_call_args(*e);
  } else if ((t.type == Tok::kName || t.type == Tok::kString || t.type == Tok::kInt || t.type == Tok::kFloat ||
              is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("You cannot chain multiple tests with is");
    e->items.push_back(parse_postfix(parse_primary(false)));
  }
  ExprPtr out = done(std::move(e));
  if (negated) {
    auto n = mk(ExprKind::kNot, line);
    n->a = std::move(out);
    out = done(std::move(n));
  }
  return out;
}

}  // namespace nextlm::chat::jinja
