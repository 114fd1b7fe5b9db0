// Syntax tree of a parsed Jinja template. The parser bounds the depth of
// every tree (expressions and nested blocks), so walking or destroying one
// never recurses deeply.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

enum class ExprKind : uint8_t {
  kConst,      // value
  kName,       // name
  kNsRef,      // name.attr as an assignment target
  kList,       // items
  kTuple,      // items
  kDict,       // items: key0, value0, key1, value1, ...
  kGetattr,    // a.name
  kGetitem,    // a[b]
  kSlice,      // a:b:c (each may be null)
  kCall,       // a(items..., kwargs..., *dyn_args, **dyn_kwargs)
  kFilter,     // a | name(items..., kwargs...); a null inside filter blocks / set blocks
  kTest,       // a is name(items...)
  kNot,        // not a
  kNeg,        // -a
  kPos,        // +a
  kBinary,     // a op b (op: + - * / // % **)
  kAnd,        // a and b
  kOr,         // a or b
  kConcat,     // items joined with ~
  kCompare,    // items[0] ops[0] items[1] ops[1] items[2] ...
  kCondExpr,   // b if a else c
};

enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kConst;
  int line = 0;
  int depth = 1;
  std::string op;  // binary operator text
  Value value;
  std::string name;
  std::string attr;  // kNsRef
  std::vector<ExprPtr> items;
  std::vector<CmpOp> cmp_ops;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr a, b, c;
  ExprPtr dyn_args, dyn_kwargs;
};

enum class StmtKind : uint8_t {
  kData,         // text
  kPrint,        // expr
  kIf,           // branches (cond, body); else_body
  kFor,          // target in expr [if cond] [recursive]: body; else_body
  kSet,          // target = expr
  kSetBlock,     // target [| filter]: body
  kMacro,        // name(params = defaults): body
  kCallBlock,    // call(params) expr: body
  kFilterBlock,  // filter: body
  kWith,         // targets = values: body
  kBreak,
  kContinue,
  kBody,         // a plain body (block, generation)
  kUnsupported,  // extends / include / import: fails when reached (text: the message)
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::kData;
  int line = 0;
  std::string text;  // data; macro name
  ExprPtr expr;
  ExprPtr target;
  ExprPtr cond;
  ExprPtr filter;
  Body body, else_body;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  std::vector<ExprPtr> targets, values;  // kWith
  bool recursive = false;
  // Macro / call block: whether the body reads `caller`, `varargs`, `kwargs`.
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct TemplateAst {
  Body body;
};

}  // namespace nextlm::chat::jinja
