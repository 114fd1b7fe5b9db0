// The tree-walking evaluator behind jinja::Template, and the services it
// offers builtins (filters, tests, methods, globals): calling values,
// attribute/item access, iteration, and the resource limits.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/jinja.h"
#include "chat/jinja_ast.h"
#include "chat/jinja_taint.h"

namespace nextlm::chat::jinja {

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
  const Value* lookup(const std::string& name) const;
};
using FramePtr = std::shared_ptr<Frame>;

class Interpreter {
 public:
  explicit Interpreter(const RenderOptions& options);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // The output as a string value whose ranges mark the text from input.
  Value render(const TemplateAst& ast, const Value& context);

  // ---- services for builtins ----
  Value call(const Value& fn, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
  bool apply_test(const std::string& name, const Value& subject, CallArgs& args);
  // The elements `for x in v` visits (dict keys, string characters, ...).
  std::vector<Value> iterate(const Value& v);
  // Accounts work; throws LimitExceeded past the step budget.
  void step(uint64_t n = 1);
  // Throws LimitExceeded when a string of `bytes` would pass the output limit.
  void check_size(size_t bytes);
  // Registers an object whose references are dropped when rendering ends
  // (namespaces and loops may form reference cycles).
  void track(const std::shared_ptr<Object>& obj) { objects_.push_back(obj); }
  const RenderOptions& options() const { return opts_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct MacroClosure {
    const Stmt* def = nullptr;
    FramePtr frame;
    std::string name;
  };

  Flow exec_body(const Body& body, const FramePtr& frame);
  Flow exec(const Stmt& s, const FramePtr& frame);
  [[gnu::noinline]] Flow exec_block(const Stmt& s, const FramePtr& frame);  // set/call/filter/with blocks
  Flow exec_for(const Stmt& s, const FramePtr& frame, const Value& iterable, int depth);
  Value capture(const Body& body, const FramePtr& frame);
  void emit(const std::string& template_text);
  void emit(const Value& v);  // str(v), keeping which text came from input
  Value eval(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_call(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_sequence(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_dict(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_getitem(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_test(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_binary(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_logic(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_concat(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_compare(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_cond(const Expr& e, const FramePtr& frame);
  [[gnu::noinline]] Value eval_filter(const Expr& e, const FramePtr& frame, const Value* subject);
  void eval_args(const Expr& e, const FramePtr& frame, CallArgs& args);
  void assign(const Expr& target, const Value& value, const FramePtr& frame);
  Value make_macro(const Stmt& def, const FramePtr& frame, const std::string& name);
  Value call_macro(const MacroClosure& m, CallArgs& args);

  RenderOptions opts_;
  FramePtr globals_;
  TextBuilder* out_ = nullptr;
  uint64_t steps_ = 0;
  uint64_t iterations_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;  // nested eval()/exec() frames: bounds the C++ stack
  int line_ = 0;
  std::vector<std::shared_ptr<Object>> objects_;
  std::vector<std::shared_ptr<MacroClosure>> closures_;
};

// Builtin tables (jinja_filters.cpp, jinja_tests.cpp, jinja_methods.cpp,
// jinja_globals.cpp).
using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);
// `obj.name` for the methods of str, dict and list: the bound method,
// an unsafe-access Undefined for mutating methods, or nullopt.
std::optional<Value> find_method(const Value& obj, const std::string& name);
void install_globals(Frame& globals);

}  // namespace nextlm::chat::jinja
