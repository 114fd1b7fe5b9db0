#include "chat/jinja_taint.h"

#include <memory>

namespace nextlm::chat::jinja {

void taint_append(Taint& dst, const Taint* src, size_t offset) {
  if (!src) return;
  for (const TaintSpan& s : *src) {
    const TaintSpan shifted{s.begin + offset, s.end + offset};
    if (shifted.begin == shifted.end) continue;
    if (!dst.empty() && dst.back().end >= shifted.begin) {
      dst.back().end = std::max(dst.back().end, shifted.end);
    } else {
      dst.push_back(shifted);
    }
  }
}

Value text_of(const Value& v) {
  if (v.is_string()) return v;
  std::string s = to_str(v);
  return v.holds_input() ? Value::input_string(std::move(s)) : Value::string(std::move(s));
}

namespace {

Value as_input(const Value& s) {
  if (!s.is_string() || s.taint() || s.str().empty()) return s;
  Value r = Value::input_string(s.str());
  return s.is_markup() ? Value::string(r.str(), true, r.taint()) : r;
}

}  // namespace

Value derived(Value result, bool from_input) {
  if (!from_input) return result;
  if (result.is_string()) return as_input(result);
  if (result.is_list()) {
    const ListData& l = result.list_data();
    bool change = false;
    for (const Value& x : l.items) change = change || (x.is_string() && !x.taint() && !x.str().empty());
    if (!change) return result;
    std::vector<Value> items;
    items.reserve(l.items.size());
    for (const Value& x : l.items) items.push_back(as_input(x));
    Value out = Value::list(std::move(items), l.kind);
    out.list_data().field_names = l.field_names;
    return out;
  }
  return result;
}

Value derived_call(Value result, const Value& subject, const CallArgs& args) {
  if (!result.is_string() && !result.is_list()) return result;
  bool from_input = subject.holds_input();
  for (const Value& a : args.pos) from_input = from_input || a.holds_input();
  for (const auto& kv : args.kw) from_input = from_input || kv.second.holds_input();
  return derived(std::move(result), from_input);
}

void TextBuilder::append(const Value& text) {
  taint_append(taint_, text.taint().get(), text_.size());
  text_.append(text.str());
}

Value TextBuilder::take(bool markup) {
  auto t = taint_.empty() ? nullptr : std::make_shared<const Taint>(std::move(taint_));
  taint_.clear();
  return Value::string(std::move(text_), markup, std::move(t));
}

}  // namespace nextlm::chat::jinja
