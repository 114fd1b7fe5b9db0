// Internal: the filter table is assembled from two files.
#pragma once

#include <string>
#include <unordered_map>

#include "chat/jinja_eval.h"

namespace nextlm::chat::jinja {

using FilterTable = std::unordered_map<std::string, FilterFn>;

void add_text_filters(FilterTable& t);      // jinja_filters.cpp
void add_sequence_filters(FilterTable& t);  // jinja_filters_seq.cpp

// jinja2's make_attrgetter: "a.b.0" looked up item-first on `item`.
Value lookup_attribute(Interpreter& in, const Value& item, const std::string& attribute);
// str.lower() for strings (the case_sensitive=False key), the value otherwise.
Value ignore_case(const Value& v);

}  // namespace nextlm::chat::jinja
