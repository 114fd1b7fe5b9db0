// Python operators on jinja values: arithmetic, `in`, comparisons, slicing,
// and printf-style / str.format formatting (jinja_format.cpp).
#pragma once

#include <string>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

class Interpreter;

Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v);
Value positive(const Value& v);
bool contains(Interpreter& in, const Value& container, const Value& item);
bool compare(CmpOp op, const Value& a, const Value& b);
// obj[start:stop:step] (each part may be None / undefined).
Value slice(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step);
// Python's `fmt % args`.
std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args);
// Python's `fmt.format(*args, **kwargs)`.
std::string str_format(Interpreter& in, const std::string& fmt, const CallArgs& args);

}  // namespace nextlm::chat::jinja
