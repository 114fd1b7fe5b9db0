// Internal: the parser class, whose statement and expression halves live in
// jinja_parser.cpp and jinja_parser_expr.cpp.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace nextlm::chat::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  TemplateAst run() {
    TemplateAst ast;
    ast.body = subparse({});
    if (cur().type != Tok::kEof) fail("unexpected " + describe(cur()));
    return ast;
  }

 private:
  // ---- token stream ----
  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  static std::string describe(const Token& t) {
    if (t.type == Tok::kName || t.type == Tok::kOp) return "'" + t.value + "'";
    return std::string("'") + token_type_name(t.type) + "'";
  }
  [[noreturn]] void fail(const std::string& msg, int line = 0) const {
    throw TemplateError("TemplateSyntaxError", msg, line ? line : cur().line);
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected token '") + op + "', got " + describe(cur()));
  }
  void expect_type(Tok type) {
    if (cur().type != type) fail(std::string("expected token '") + token_type_name(type) + "', got " + describe(cur()));
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) fail("expected token 'name', got " + describe(cur()));
    std::string v = cur().value;
    next();
    return v;
  }
  void expect_name(const char* n) {
    if (!skip_name(n)) fail(std::string("expected token '") + n + "', got " + describe(cur()));
  }

  struct DepthGuard {
    DepthGuard(Parser& p, int& counter, int limit, const char* what) : c(counter) {
      if (++c > limit) p.fail(std::string(what) + " nested too deeply");
    }
    ~DepthGuard() { --c; }
    int& c;
  };

  ExprPtr mk(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }
  ExprPtr done(ExprPtr e) {
    int d = 0;
    auto see = [&](const ExprPtr& x) {
      if (x) d = std::max(d, x->depth);
    };
    see(e->a), see(e->b), see(e->c), see(e->dyn_args), see(e->dyn_kwargs);
    for (const auto& x : e->items) see(x);
    for (const auto& kv : e->kwargs) see(kv.second);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth) fail("expression nested too deeply", e->line);
    return e;
  }

  bool at_end_tag(std::initializer_list<const char*> ends) const;
  Body subparse(std::initializer_list<const char*> ends);
  [[noreturn]] void fail_unknown_or_eof(const std::string* tag);
  Body parse_statements(std::initializer_list<const char*> ends, bool drop_needle);
  StmtPtr parse_statement();
  StmtPtr parse_for(StmtPtr s);
  StmtPtr parse_if(StmtPtr s);
  StmtPtr parse_set(StmtPtr s);
  void parse_signature(Stmt& s);
  StmtPtr parse_macro(StmtPtr s);
  StmtPtr parse_call_block(StmtPtr s);
  StmtPtr parse_with(StmtPtr s);
  static void scan_expr(const Expr* e, Stmt& m);
  static void scan_body(const Body& body, Stmt& m);
  static void scan_special_names(Stmt& m);
  void check_assignable(const Expr& e);
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;
  ExprPtr parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                              bool with_namespace);
  ExprPtr parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                      bool explicit_parens, bool with_namespace = false);
  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }
  ExprPtr binary(ExprKind k, ExprPtr l, ExprPtr r, int line, std::string op = "");
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary(bool with_namespace);
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  void parse_call_args(Expr& e);
  ExprPtr parse_call(ExprPtr node);
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);

  std::vector<Token> t_;
  size_t i_ = 0;
  int expr_depth_ = 0;
  int block_depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::vector<std::string>> end_stack_;  // end tags each open body waits for
  std::vector<std::string> tag_stack_;               // statements being parsed
};

}  // namespace nextlm::chat::jinja
