// Parser from jinja tokens to the syntax tree, following jinja2's grammar
// (operator precedence, tuples, filters/tests, call arguments, statements).
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"

namespace nextlm::chat::jinja {

constexpr int kMaxExprDepth = 100;   // nesting of one expression tree
constexpr int kMaxBlockDepth = 100;  // nesting of statements

// Throws TemplateError("TemplateSyntaxError", ...).
TemplateAst parse_template(std::string_view source);

}  // namespace nextlm::chat::jinja
