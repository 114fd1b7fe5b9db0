// Binding call arguments to a builtin's parameter names, Python style
// (positional, then keyword; TypeError for extra or unknown arguments).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

class Args {
 public:
  // `names` are the parameters after the subject; `fname` names the builtin
  // in error messages.
  Args(const CallArgs& a, const char* fname, std::initializer_list<const char*> names) : fname_(fname) {
    std::vector<const char*> n(names);
    vals_.resize(n.size());
    if (a.pos.size() > n.size())
      raise("TypeError", std::string(fname) + "() takes " + std::to_string(n.size()) +
                             " positional argument(s) but " + std::to_string(a.pos.size()) + " were given");
    for (size_t i = 0; i < a.pos.size(); ++i) vals_[i] = a.pos[i], set_.push_back(i);
    for (const auto& [k, v] : a.kw) {
      size_t i = 0;
      while (i < n.size() && k != n[i]) ++i;
      if (i == n.size()) raise("TypeError", std::string(fname) + "() got an unexpected keyword argument '" + k + "'");
      if (has(i)) raise("TypeError", std::string(fname) + "() got multiple values for argument '" + k + "'");
      vals_[i] = v;
      set_.push_back(i);
    }
  }

  bool has(size_t i) const {
    for (size_t s : set_)
      if (s == i) return true;
    return false;
  }
  Value get(size_t i, Value fallback = Value()) const { return has(i) ? vals_[i] : fallback; }
  bool flag(size_t i, bool fallback) const { return has(i) ? truthy(vals_[i]) : fallback; }
  int64_t integer(size_t i, int64_t fallback) const {
    if (!has(i)) return fallback;
    const Value& v = vals_[i];
    if (v.is_int() || v.is_bool()) return v.as_int();
    if (v.is_float()) {
      const double f = v.as_float();
      if (!(f > -9.2e18 && f < 9.2e18)) raise("OverflowError", "cannot convert float " + to_str(v) + " to integer");
      return static_cast<int64_t>(f);
    }
    raise("TypeError", std::string(fname_) + "(): expected an integer, got " + py_type(v));
  }
  // A string parameter; nullopt when absent or None.
  std::optional<std::string> string(size_t i) const {
    if (!has(i) || vals_[i].is_none()) return std::nullopt;
    return to_str(vals_[i]);
  }

 private:
  static std::string py_type(const Value& v) { return std::string("'") + v.type_name() + "'"; }
  const char* fname_;
  std::vector<Value> vals_;
  std::vector<size_t> set_;
};

}  // namespace nextlm::chat::jinja
