#include "chat/jinja_eval.h"

#include "chat/jinja_objects.h"
#include "chat/jinja_ops.h"
#include "chat/jinja_parser.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

const Value* Frame::lookup(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return &it->second;
  }
  return nullptr;
}

// ---- Template ----

Template::Template(std::string_view source)
    : ast_(std::make_shared<const TemplateAst>(parse_template(source))) {}

std::string Template::render(const Value& context, const RenderOptions& options) const {
  return render_value(context, options).str();
}

Value Template::render_value(const Value& context, const RenderOptions& options) const {
  Interpreter in(options);
  return in.render(*ast_, context);
}

// ---- Interpreter ----

Interpreter::Interpreter(const RenderOptions& options) : opts_(options), globals_(std::make_shared<Frame>()) {
  install_globals(*globals_);
}

Interpreter::~Interpreter() {
  // Break reference cycles (frame -> macro -> frame, namespace -> itself).
  for (auto& c : closures_) c->frame.reset();
  for (auto& o : objects_) o->clear();
}

Value Interpreter::render(const TemplateAst& ast, const Value& context) {
  auto top = std::make_shared<Frame>();
  top->parent = globals_;
  if (context.is_dict())
    for (const auto& [k, v] : context.dict_data().entries)
      if (k.is_string()) top->vars[k.str()] = v;
  TextBuilder result;
  out_ = &result;
  try {
    exec_body(ast.body, top);
  } catch (const TemplateError& e) {
    if (e.line() == 0) throw TemplateError(e.type(), e.message(), line_);
    throw;
  }
  out_ = nullptr;
  for (auto& c : closures_) c->frame.reset();
  return result.take();
}

void Interpreter::step(uint64_t n) {
  steps_ += n;
  if (steps_ > opts_.limits.max_steps)
    raise("LimitExceeded", "template exceeded the step limit (" + std::to_string(opts_.limits.max_steps) + ")");
}

void Interpreter::check_size(size_t bytes) {
  if (bytes > opts_.limits.max_output_bytes)
    raise("LimitExceeded", "template output exceeded " + std::to_string(opts_.limits.max_output_bytes) + " bytes");
  step(bytes / 256);
}

void Interpreter::emit(const std::string& template_text) {
  out_->append_template(template_text);
  check_size(out_->size());
}

void Interpreter::emit(const Value& v) {
  out_->append(text_of(v));
  check_size(out_->size());
}

Value Interpreter::capture(const Body& body, const FramePtr& frame) {
  TextBuilder buf;
  TextBuilder* saved = out_;
  out_ = &buf;
  try {
    exec_body(body, frame);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buf.take();
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const FramePtr& frame) {
  for (const auto& s : body) {
    Flow f = exec(*s, frame);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

static FramePtr child_of(const FramePtr& parent) {
  auto f = std::make_shared<Frame>();
  f->parent = parent;
  return f;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const FramePtr& frame) {
  if (++eval_depth_ > opts_.limits.max_eval_depth) {
    --eval_depth_;
    raise("LimitExceeded",
          "template evaluation nested too deeply (" + std::to_string(opts_.limits.max_eval_depth) + " levels)");
  }
  struct Restore {
    int& d;
    ~Restore() { --d; }
  } restore{eval_depth_};
  step();
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::kData: emit(s.text); return Flow::kNormal;
    case StmtKind::kPrint: emit(eval(*s.expr, frame)); return Flow::kNormal;
    case StmtKind::kIf:
      for (const auto& [cond, body] : s.branches)
        if (truthy(eval(*cond, frame))) return exec_body(body, frame);
      return exec_body(s.else_body, frame);
    case StmtKind::kFor: return exec_for(s, frame, eval(*s.expr, frame), 0);
    case StmtKind::kSet: assign(*s.target, eval(*s.expr, frame), frame); return Flow::kNormal;
    case StmtKind::kMacro: frame->vars[s.text] = make_macro(s, frame, s.text); return Flow::kNormal;
    case StmtKind::kSetBlock:
    case StmtKind::kCallBlock:
    case StmtKind::kFilterBlock:
    case StmtKind::kWith: return exec_block(s, frame);
    case StmtKind::kBreak: return Flow::kBreak;
    case StmtKind::kContinue: return Flow::kContinue;
    case StmtKind::kBody: return exec_body(s.body, frame);
    case StmtKind::kUnsupported: raise("TypeError", s.text);
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_block(const Stmt& s, const FramePtr& frame) {
  switch (s.kind) {
    case StmtKind::kSetBlock: {
      Value v = capture(s.body, child_of(frame));
      if (s.filter) v = eval_filter(*s.filter, frame, &v);
      assign(*s.target, v, frame);
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock: {
      Value caller = make_macro(s, frame, "caller");
      const Expr& call = *s.expr;
      Value fn = eval(*call.a, frame);
      CallArgs args;
      eval_args(call, frame, args);
      args.kw.emplace_back("caller", caller);
      emit(this->call(fn, args));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      Value v = capture(s.body, child_of(frame));
      emit(eval_filter(*s.filter, frame, &v));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      FramePtr inner = child_of(frame);
      for (size_t i = 0; i < s.targets.size(); ++i) assign(*s.targets[i], eval(*s.values[i], frame), inner);
      return exec_body(s.body, inner);
    }
    default: return Flow::kNormal;
  }
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, const FramePtr& frame, const Value& iterable, int depth) {
  std::vector<Value> items = iterate(iterable);
  if (s.cond) {
    std::vector<Value> kept;
    for (Value& it : items) {
      step();
      FramePtr f = child_of(frame);
      assign(*s.target, it, f);
      if (truthy(eval(*s.cond, f))) kept.push_back(std::move(it));
    }
    items = std::move(kept);
  }
  auto loop = std::make_shared<LoopObject>();
  track(loop);
  loop->items = std::make_shared<std::vector<Value>>(std::move(items));
  loop->depth0 = depth;
  if (s.recursive) {
    const Stmt* stmt = &s;
    FramePtr outer = frame;
    loop->recurse = Value::function("loop", [stmt, outer, depth](Interpreter& in, CallArgs& a) -> Value {
      if (a.pos.size() != 1 || !a.kw.empty()) raise("TypeError", "loop() takes exactly one argument");
      if (++in.call_depth_ > in.opts_.limits.max_call_depth) {
        --in.call_depth_;
        raise("LimitExceeded", "maximum recursion depth exceeded");
      }
      TextBuilder buf;
      TextBuilder* saved = in.out_;
      in.out_ = &buf;
      try {
        in.exec_for(*stmt, outer, a.pos[0], depth + 1);
      } catch (...) {
        in.out_ = saved;
        --in.call_depth_;
        throw;
      }
      in.out_ = saved;
      --in.call_depth_;
      return buf.take();
    });
  }
  const Value loop_value = Value::object(loop);
  const size_t n = loop->items->size();
  for (size_t i = 0; i < n; ++i) {
    if (++iterations_ > opts_.limits.max_loop_iterations)
      raise("LimitExceeded",
            "template exceeded the loop iteration limit (" + std::to_string(opts_.limits.max_loop_iterations) + ")");
    step();
    loop->index0 = i;
    FramePtr f = child_of(frame);
    assign(*s.target, (*loop->items)[i], f);
    f->vars["loop"] = loop_value;
    if (exec_body(s.body, f) == Flow::kBreak) break;
  }
  if (n == 0) exec_body(s.else_body, child_of(frame));
  return Flow::kNormal;
}

void Interpreter::assign(const Expr& target, const Value& value, const FramePtr& frame) {
  switch (target.kind) {
    case ExprKind::kName: frame->vars[target.name] = value; return;
    case ExprKind::kNsRef: {
      const Value* ns = frame->lookup(target.name);
      if (!ns || !ns->is_object() || !ns->object_data().is_namespace())
        raise("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      static_cast<NamespaceObject&>(ns->object_data()).set(target.attr, value);
      return;
    }
    case ExprKind::kTuple: {
      if (!(value.is_list() || value.is_dict() || value.is_string() || value.is_undefined()))
        raise("TypeError", std::string("cannot unpack non-iterable ") + value.type_name() + " object");
      std::vector<Value> parts = iterate(value);
      const size_t want = target.items.size();
      if (parts.size() < want)
        raise("ValueError", "not enough values to unpack (expected " + std::to_string(want) + ", got " +
                                std::to_string(parts.size()) + ")");
      if (parts.size() > want)
        raise("ValueError", "too many values to unpack (expected " + std::to_string(want) + ")");
      for (size_t i = 0; i < want; ++i) assign(*target.items[i], parts[i], frame);
      return;
    }
    default: raise("TemplateSyntaxError", "can't assign to expression");
  }
}

Value Interpreter::make_macro(const Stmt& def, const FramePtr& frame, const std::string& name) {
  auto mc = std::make_shared<MacroClosure>();
  mc->def = &def;
  mc->frame = frame;
  mc->name = name;
  closures_.push_back(mc);
  auto c = std::make_shared<Callable>();
  c->name = name;
  c->type_name = "Macro";
  c->repr = "<Macro " + py::repr_string(name) + ">";
  std::weak_ptr<MacroClosure> weak = mc;
  c->fn = [weak](Interpreter& in, CallArgs& args) -> Value {
    auto m = weak.lock();
    if (!m) raise("TemplateRuntimeError", "macro called after rendering ended");
    return in.call_macro(*m, args);
  };
  return Value::callable(std::move(c));
}

Value Interpreter::call_macro(const MacroClosure& m, CallArgs& args) {
  const Stmt& d = *m.def;
  if (!m.frame) raise("TemplateRuntimeError", "macro called after rendering ended");
  if (call_depth_ + 1 > opts_.limits.max_call_depth) raise("LimitExceeded", "maximum recursion depth exceeded");
  const std::string& name = m.name;
  FramePtr f = child_of(m.frame);
  const size_t np = d.params.size();
  std::vector<bool> bound(np, false);
  for (size_t i = 0; i < args.pos.size() && i < np; ++i) {
    f->vars[d.params[i]] = args.pos[i];
    bound[i] = true;
  }
  std::vector<Value> extra_pos;
  if (args.pos.size() > np) {
    if (!d.uses_varargs)
      raise("TypeError", "macro " + py::repr_string(name) + " takes not more than " + std::to_string(np) +
                             " argument(s)");
    extra_pos.assign(args.pos.begin() + static_cast<std::ptrdiff_t>(np), args.pos.end());
  }
  auto extra_kw = make_dict();
  bool have_caller = false;
  for (auto& [k, v] : args.kw) {
    size_t i = 0;
    while (i < np && d.params[i] != k) ++i;
    if (i < np && !bound[i]) {
      f->vars[k] = v;
      bound[i] = true;
    } else if (k == "caller" && d.uses_caller && d.kind == StmtKind::kMacro) {
      f->vars["caller"] = v;
      have_caller = true;
    } else if (d.uses_kwargs && i == np) {
      extra_kw->set(Value::string(k), v);
    } else {
      raise("TypeError", "macro " + py::repr_string(name) + " takes no keyword argument " + py::repr_string(k));
    }
  }
  const size_t first_default = np - d.defaults.size();
  ++call_depth_;
  struct DepthRestore {
    int& d;
    ~DepthRestore() { --d; }
  } restore{call_depth_};
  for (size_t i = 0; i < np; ++i) {
    if (bound[i]) continue;
    if (i >= first_default) f->vars[d.params[i]] = eval(*d.defaults[i - first_default], f);
    else f->vars[d.params[i]] = Value::undefined_hint("parameter " + py::repr_string(d.params[i]) + " was not provided");
  }
  if (d.uses_varargs) f->vars["varargs"] = Value::tuple(std::move(extra_pos));
  if (d.uses_kwargs) f->vars["kwargs"] = Value::dict(extra_kw);
  if (d.uses_caller && !have_caller && d.kind == StmtKind::kMacro) f->vars["caller"] = Value::undefined_hint("No caller defined");
  return capture(d.body, f);
}

Value Interpreter::call(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) raise_undefined(fn);
  if (fn.is_object()) {
    if (const Value* target = fn.object_data().call_target()) return call(*target, args);
  }
  if (!fn.is_callable()) raise("TypeError", py::repr_string(fn.type_name()) + " object is not callable");
  step();
  return fn.callable_data().fn(*this, args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::kUndefined: raise_undefined(obj);
    case Kind::kDict: {
      if (auto m = find_method(obj, name)) return *m;
      if (const Value* v = obj.dict_data().find(std::string_view(name))) return *v;
      return Value::missing_attr(obj, name);
    }
    case Kind::kObject: {
      if (auto v = obj.object_data().getattr(*this, name)) return *v;
      return Value::missing_attr(obj, name);
    }
    default:
      if (obj.is_list() && obj.list_data().field_names) {
        const auto& names = *obj.list_data().field_names;
        for (size_t i = 0; i < names.size() && i < obj.items().size(); ++i)
          if (names[i] == name) return obj.items()[i];
      }
      if (auto m = find_method(obj, name)) return *m;
      if (name.size() > 1 && name[0] == '_' && name[1] == '_') return Value::unsafe(obj, name);
      return Value::missing_attr(obj, name);
  }
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (obj.is_dict()) {
    if (key.is_list() && !key.is_seq(SeqKind::kTuple)) return Value::missing_item(obj, key);
    if (const Value* v = obj.dict_data().find(key)) return *v;
  } else if (obj.is_list() || obj.is_string()) {
    const bool indexable = obj.is_string() || obj.is_seq(SeqKind::kList) || obj.is_seq(SeqKind::kTuple) ||
                           obj.is_seq(SeqKind::kRange);
    if (indexable && (key.is_int() || key.is_bool())) {
      int64_t i = key.as_int();
      if (obj.is_string()) {
        if (py::is_ascii(obj.str())) {
          const auto n = static_cast<int64_t>(obj.str().size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return derived(Value::string(obj.str().substr(static_cast<size_t>(i), 1)), obj.holds_input());
        } else {
          std::vector<uint32_t> cps = py::to_code_points(obj.str());
          const auto n = static_cast<int64_t>(cps.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n)
            return derived(Value::string(py::from_code_points(&cps[static_cast<size_t>(i)], 1)), obj.holds_input());
        }
      } else {
        const auto& items = obj.items();
        const auto n = static_cast<int64_t>(items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
      }
      return Value::missing_item(obj, key);
    }
  }
  if (key.is_string()) {
    if (obj.is_object()) {
      if (auto v = obj.object_data().getattr(*this, key.str())) return *v;
    } else if (auto m = find_method(obj, key.str())) {
      return *m;
    }
  }
  return Value::missing_item(obj, key);
}

Value Interpreter::apply_filter(const std::string& name, const Value& subject, CallArgs& args) {
  FilterFn f = find_filter(name);
  if (!f) raise("TemplateAssertionError", "No filter named " + py::repr_string(name) + ".");
  step();
  return derived_call(f(*this, subject, args), subject, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& subject, CallArgs& args) {
  TestFn t = find_test(name);
  if (!t) raise("TemplateAssertionError", "No test named " + py::repr_string(name) + ".");
  step();
  return t(*this, subject, args);
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return {};
    case Kind::kList: {
      ListData& l = v.list_data();
      step(l.items.size() / 16);
      if (l.kind == SeqKind::kGenerator || l.kind == SeqKind::kReverseIter) {
        if (l.consumed) return {};
        l.consumed = true;
      }
      return l.items;
    }
    case Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& kv : v.dict_data().entries) keys.push_back(kv.first);
      return keys;
    }
    case Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.str();
      for (size_t i = 0; i < s.size();) {
        size_t j = i;
        py::decode_at(s, j);
        chars.push_back(derived(Value::string(s.substr(i, j - i)), v.holds_input()));
        i = j;
      }
      step(chars.size() / 16);
      return chars;
    }
    default: raise("TypeError", py::repr_string(v.type_name()) + " object is not iterable");
  }
}

}  // namespace nextlm::chat::jinja
