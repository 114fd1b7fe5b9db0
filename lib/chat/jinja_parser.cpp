// Parser: template structure and statements.
#include "chat/jinja_parser_impl.h"

namespace nextlm::chat::jinja {

// ---- statements ----
bool Parser::at_end_tag(std::initializer_list<const char*> ends) const {
  if (cur().type != Tok::kName) return false;
  for (const char* e : ends)
    if (cur().value == e) return true;
  return false;
}

Body Parser::subparse(std::initializer_list<const char*> ends) {
  Body body;
  if (ends.size()) end_stack_.emplace_back(ends.begin(), ends.end());
  while (cur().type != Tok::kEof) {
    const Token& tok = cur();
    if (tok.type == Tok::kData) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kData;
      s->line = tok.line;
      s->text = tok.value;
      body.push_back(std::move(s));
      next();
    } else if (tok.type == Tok::kVarBegin) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kPrint;
      s->line = tok.line;
      next();
      s->expr = parse_tuple(false, true, {}, false);
      expect_type(Tok::kVarEnd);
      body.push_back(std::move(s));
    } else if (tok.type == Tok::kBlockBegin) {
      next();
      if (ends.size() && at_end_tag(ends)) {
        end_stack_.pop_back();
        return body;
      }
      body.push_back(parse_statement());
      expect_type(Tok::kBlockEnd);
    } else {
      fail("unexpected " + describe(tok));
    }
  }
  if (ends.size()) fail_unknown_or_eof(nullptr);
  return body;
}

// jinja2's messages for a tag nobody expects and for a template that ends
// inside a block.
void Parser::fail_unknown_or_eof(const std::string* tag) {
  std::string msg = tag ? "Encountered unknown tag '" + *tag + "'." : std::string("Unexpected end of template.");
  if (!end_stack_.empty()) {
    std::string looking;
    for (const std::string& e : end_stack_.back()) looking += (looking.empty() ? "'" : " or '") + e + "'";
    bool expected = false;
    for (const auto& level : end_stack_)
      for (const std::string& e : level) expected |= tag && e == *tag;
    if (expected)
      msg += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " + looking + ".";
    else
      msg += " Jinja was looking for the following tags: " + looking + ".";
  }
  if (!tag_stack_.empty()) msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  fail(msg);
}

// Body of a block statement up to one of `ends` (left as the current token).
Body Parser::parse_statements(std::initializer_list<const char*> ends, bool drop_needle) {
  skip_op(":");
  expect_type(Tok::kBlockEnd);
  Body b = subparse(ends);
  if (cur().type == Tok::kEof) fail_unknown_or_eof(nullptr);
  if (drop_needle) next();
  return b;
}

StmtPtr Parser::parse_statement() {
  DepthGuard g(*this, block_depth_, kMaxBlockDepth, "blocks");
  if (cur().type != Tok::kName) fail("tag name expected");
  const std::string tag = cur().value;
  struct TagScope {
    std::vector<std::string>& stack;
    bool on = true;
    TagScope(std::vector<std::string>& st, const std::string& t) : stack(st) { stack.push_back(t); }
    void drop() {
      if (on) stack.pop_back();
      on = false;
    }
    ~TagScope() { drop(); }
  } tag_scope(tag_stack_, tag);
  const int line = cur().line;
  auto s = std::make_unique<Stmt>();
  s->line = line;
  if (tag == "for") return parse_for(std::move(s));
  if (tag == "if") return parse_if(std::move(s));
  if (tag == "set") return parse_set(std::move(s));
  if (tag == "macro") return parse_macro(std::move(s));
  if (tag == "call") return parse_call_block(std::move(s));
  if (tag == "filter") {
    next();
    s->kind = StmtKind::kFilterBlock;
    s->filter = parse_filter(nullptr, true);
    s->body = parse_statements({"endfilter"}, true);
    return s;
  }
  if (tag == "with") return parse_with(std::move(s));
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop");  // jinja2: unknown tag outside loops
    next();
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    return s;
  }
  if (tag == "print") {
    next();
    s->kind = StmtKind::kPrint;
    auto t = mk(ExprKind::kTuple, line);
    while (cur().type != Tok::kBlockEnd) {
      if (!t->items.empty()) expect_op(",");
      t->items.push_back(parse_expression(true));
    }
    s->expr = t->items.size() == 1 ? std::move(t->items[0]) : done(std::move(t));
    return s;
  }
  if (tag == "generation" || tag == "autoescape") {
    next();
    if (tag == "autoescape") parse_expression(true);
    s->kind = StmtKind::kBody;
    s->body = parse_statements({tag == "generation" ? "endgeneration" : "endautoescape"}, true);
    return s;
  }
  if (tag == "block") {
    next();
    std::string name = expect_name();
    skip_name("scoped");
    skip_name("required");
    s->kind = StmtKind::kBody;
    s->body = parse_statements({"endblock"}, true);
    skip_name(name.c_str());
    return s;
  }
  if (tag == "extends" || tag == "include" || tag == "import" || tag == "from") {
    // Chat templates are single files: like jinja2 without a loader, these
    // fail when reached.
    while (cur().type != Tok::kBlockEnd && cur().type != Tok::kEof) next();
    s->kind = StmtKind::kUnsupported;
    s->text = "no loader for this environment specified";
    return s;
  }
  tag_scope.drop();  // the unknown tag is not a block being closed
  fail_unknown_or_eof(&tag);
}

StmtPtr Parser::parse_for(StmtPtr s) {
  next();
  s->kind = StmtKind::kFor;
  s->target = parse_assign_target(true, false, {"in"}, false);
  expect_name("in");
  s->expr = parse_tuple(false, false, {"recursive"}, false);
  if (skip_name("if")) s->cond = parse_expression(true);
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  const bool is_else = is_name("else");
  next();
  if (is_else) {
    const int saved = loop_depth_;
    loop_depth_ = 0;  // `break` in a for-else is outside the loop
    s->else_body = parse_statements({"endfor"}, true);
    loop_depth_ = saved;
  }
  return s;
}

StmtPtr Parser::parse_if(StmtPtr s) {
  next();
  s->kind = StmtKind::kIf;
  while (true) {
    ExprPtr cond = parse_tuple(false, false, {}, false);
    Body body = parse_statements({"elif", "else", "endif"}, false);
    s->branches.emplace_back(std::move(cond), std::move(body));
    const std::string which = cur().value;
    next();
    if (which == "elif") continue;
    if (which == "else") s->else_body = parse_statements({"endif"}, true);
    break;
  }
  return s;
}

StmtPtr Parser::parse_set(StmtPtr s) {
  next();
  s->target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    s->kind = StmtKind::kSet;
    s->expr = parse_tuple(false, true, {}, false);
    return s;
  }
  s->kind = StmtKind::kSetBlock;
  if (is_op("|")) s->filter = parse_filter(nullptr, false);
  s->body = parse_statements({"endset"}, true);
  return s;
}

void Parser::parse_signature(Stmt& s) {
  expect_op("(");
  while (!is_op(")")) {
    if (!s.params.empty()) expect_op(",");
    s.params.push_back(expect_name());
    if (skip_op("=")) s.defaults.push_back(parse_expression(true));
    else if (!s.defaults.empty()) fail("non-default argument follows default argument");
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro(StmtPtr s) {
  next();
  s->kind = StmtKind::kMacro;
  s->text = expect_name();
  parse_signature(*s);
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->body = parse_statements({"endmacro"}, true);
  loop_depth_ = saved;
  scan_special_names(*s);
  return s;
}

StmtPtr Parser::parse_call_block(StmtPtr s) {
  next();
  s->kind = StmtKind::kCallBlock;
  if (is_op("(")) parse_signature(*s);
  s->expr = parse_expression(true);
  if (s->expr->kind != ExprKind::kCall) fail("expected call", s->line);
  const int saved = loop_depth_;
  loop_depth_ = 0;
  s->body = parse_statements({"endcall"}, true);
  loop_depth_ = saved;
  scan_special_names(*s);
  return s;
}

StmtPtr Parser::parse_with(StmtPtr s) {
  next();
  s->kind = StmtKind::kWith;
  while (cur().type != Tok::kBlockEnd) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(parse_assign_target(true, false, {}, false));
    expect_op("=");
    s->values.push_back(parse_expression(true));
  }
  s->body = parse_statements({"endwith"}, true);
  return s;
}

// Which of caller/varargs/kwargs a macro body reads.
void Parser::scan_expr(const Expr* e, Stmt& m) {
  if (!e) return;
  if (e->kind == ExprKind::kName) {
    if (e->name == "caller") m.uses_caller = true;
    if (e->name == "varargs") m.uses_varargs = true;
    if (e->name == "kwargs") m.uses_kwargs = true;
  }
  scan_expr(e->a.get(), m), scan_expr(e->b.get(), m), scan_expr(e->c.get(), m);
  scan_expr(e->dyn_args.get(), m), scan_expr(e->dyn_kwargs.get(), m);
  for (const auto& x : e->items) scan_expr(x.get(), m);
  for (const auto& kv : e->kwargs) scan_expr(kv.second.get(), m);
}

void Parser::scan_body(const Body& body, Stmt& m) {
  for (const auto& s : body) {
    for (const Expr* e : {s->expr.get(), s->target.get(), s->cond.get(), s->filter.get()}) scan_expr(e, m);
    for (const auto& d : s->defaults) scan_expr(d.get(), m);
    for (const auto& v : s->values) scan_expr(v.get(), m);
    for (const auto& br : s->branches) {
      scan_expr(br.first.get(), m);
      scan_body(br.second, m);
    }
    scan_body(s->body, m);
    scan_body(s->else_body, m);
  }
}

void Parser::scan_special_names(Stmt& m) {
  scan_body(m.body, m);
  for (const auto& d : m.defaults) scan_expr(d.get(), m);
}

TemplateAst parse_template(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace nextlm::chat::jinja
