// The objects of jinja2's runtime a template can hold: namespace(), the
// for-loop's `loop`, cycler() and joiner().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace nextlm::chat::jinja {

class NamespaceObject : public Object {
 public:
  const char* type_name() const override { return "Namespace"; }
  std::optional<Value> getattr(Interpreter&, const std::string& name) override {
    if (const Value* v = attrs_.find(std::string_view(name))) return *v;
    return std::nullopt;
  }
  std::string repr(int depth) const override;
  bool is_namespace() const override { return true; }
  void clear() override { attrs_ = DictData(); }
  void set(const std::string& name, const Value& v) { attrs_.set(Value::string(name), v); }
  const DictData& attrs() const { return attrs_; }

 private:
  DictData attrs_;
};

class LoopObject : public Object, public std::enable_shared_from_this<LoopObject> {
 public:
  const char* type_name() const override { return "LoopContext"; }
  std::optional<Value> getattr(Interpreter& in, const std::string& name) override;
  std::string repr(int) const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items->size()) + ">";
  }
  const Value* call_target() const override { return recurse.is_callable() ? &recurse : nullptr; }
  void clear() override {
    recurse = Value();
    changed_last = Value();
  }

  std::shared_ptr<std::vector<Value>> items;
  size_t index0 = 0;
  int depth0 = 0;
  Value recurse;       // loop(...) in recursive loops
  Value changed_last;  // loop.changed() state
  bool changed_seen = false;
};

class CyclerObject : public Object, public std::enable_shared_from_this<CyclerObject> {
 public:
  explicit CyclerObject(std::vector<Value> items) : items_(std::move(items)) {}
  const char* type_name() const override { return "Cycler"; }
  std::optional<Value> getattr(Interpreter& in, const std::string& name) override;
  std::string repr(int) const override { return "<jinja2.utils.Cycler object>"; }
  void clear() override { items_.clear(); }

 private:
  std::vector<Value> items_;
  size_t pos_ = 0;
};

class JoinerObject : public Object {
 public:
  explicit JoinerObject(std::string sep);
  const char* type_name() const override { return "Joiner"; }
  std::optional<Value> getattr(Interpreter&, const std::string&) override { return std::nullopt; }
  std::string repr(int) const override { return "<jinja2.utils.Joiner object>"; }
  const Value* call_target() const override { return &fn_; }
  void clear() override { fn_ = Value(); }

 private:
  Value fn_;
};

}  // namespace nextlm::chat::jinja
