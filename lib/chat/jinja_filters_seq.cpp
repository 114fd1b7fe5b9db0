// Jinja filters on sequences and mappings. Like jinja2, map/select/reject/
// selectattr/rejectattr/unique/items/batch/slice produce generators (which
// `tojson` refuses and which iterate once) and reverse an iterator.
#include <algorithm>

#include "chat/jinja_args.h"
#include "chat/jinja_filters.h"
#include "chat/jinja_ops.h"
#include "chat/py_text.h"

namespace nextlm::chat::jinja {

Value lookup_attribute(Interpreter& in, const Value& item, const std::string& attribute) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = attribute.find('.', start);
    std::string part = attribute.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18)
      v = in.getitem(v, Value::integer(std::stoll(part)));
    else
      v = in.getitem(v, Value::string(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value ignore_case(const Value& v) { return v.is_string() ? Value::string(py::lower(v.str())) : v; }

namespace {

Value generator(std::vector<Value> items) { return Value::list(std::move(items), SeqKind::kGenerator); }

// The key function of sort/unique/min/max: attribute(s) then ignore_case.
Value sort_key(Interpreter& in, const Value& item, const std::optional<std::string>& attribute, bool case_sensitive) {
  if (!attribute) return case_sensitive ? item : ignore_case(item);
  if (attribute->find(',') == std::string::npos) {
    Value k = lookup_attribute(in, item, *attribute);
    return case_sensitive ? k : ignore_case(k);
  }
  std::vector<Value> parts;
  size_t start = 0;
  while (true) {
    size_t comma = attribute->find(',', start);
    Value k = lookup_attribute(in, item, attribute->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    parts.push_back(case_sensitive ? k : ignore_case(k));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Value::list(std::move(parts));
}

Value f_length(Interpreter&, const Value& v, CallArgs& a) {
  Args(a, "length", {});
  switch (v.kind()) {
    case Kind::kUndefined: return Value::integer(0);
    case Kind::kString: return Value::integer(static_cast<int64_t>(py::length(v.str())));
    case Kind::kDict: return Value::integer(static_cast<int64_t>(v.dict_data().size()));
    case Kind::kList:
      if (!v.is_seq(SeqKind::kGenerator) && !v.is_seq(SeqKind::kReverseIter))
        return Value::integer(static_cast<int64_t>(v.items().size()));
      break;
    default: break;
  }
  raise("TypeError", std::string("object of type '") + v.type_name() + "' has no len()");
}

Value f_first(Interpreter& in, const Value& v, CallArgs& a) {
  Args(a, "do_first", {});
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined_hint("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs& a) {
  Args(a, "do_last", {});
  if (v.is_seq(SeqKind::kGenerator) || v.is_seq(SeqKind::kReverseIter) ||
      !(v.is_list() || v.is_string() || v.is_dict() || v.is_undefined()))
    raise("TypeError", std::string("'") + v.type_name() + "' object is not reversible");
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined_hint("No last item, sequence was empty.");
  return items.back();
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_join", {"d", "attribute"});
  const Value sep = args.has(0) ? text_of(args.get(0)) : Value::string("");
  std::optional<std::string> attr = args.string(1);
  TextBuilder out;  // exact input ranges: a joined list of template and input text stays mixed
  bool first = true;
  for (const Value& x : in.iterate(v)) {
    if (!first) out.append(sep);
    first = false;
    out.append(text_of(attr ? lookup_attribute(in, x, *attr) : x));
    in.check_size(out.size());
  }
  return out.take();
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  if (!truthy(v)) return generator({});  // jinja2: `if value:` guards the generator
  std::vector<Value> items = in.iterate(v);
  std::vector<Value> out;
  out.reserve(items.size());
  if (a.pos.empty()) {
    std::optional<std::string> attr;
    Value dflt;
    bool has_default = false;
    for (const auto& [k, x] : a.kw) {
      if (k == "attribute") attr = to_str(x);
      else if (k == "default") dflt = x, has_default = true;
      else raise("FilterArgumentError", "Unexpected keyword argument " + py::repr_string(k));
    }
    if (!attr) raise("FilterArgumentError", "map requires a filter argument");
    for (const Value& x : items) {
      Value r = lookup_attribute(in, x, *attr);
      out.push_back(r.is_undefined() && has_default ? dflt : r);
    }
    return generator(std::move(out));
  }
  const std::string name = to_str(a.pos[0]);
  for (const Value& x : items) {
    CallArgs fa;
    fa.pos.assign(a.pos.begin() + 1, a.pos.end());
    fa.kw = a.kw;
    out.push_back(in.apply_filter(name, x, fa));
  }
  return generator(std::move(out));
}

// select / reject / selectattr / rejectattr.
Value select_or_reject(Interpreter& in, const Value& v, CallArgs& a, bool want, bool lookup_attr) {
  if (!truthy(v)) return generator({});  // jinja2: `if value:` guards the generator
  size_t i = 0;
  std::optional<std::string> attr;
  if (lookup_attr) {
    if (a.pos.empty()) raise("FilterArgumentError", "Missing parameter for attribute name");
    attr = to_str(a.pos[i++]);
  }
  std::optional<std::string> test;
  if (i < a.pos.size()) test = to_str(a.pos[i++]);
  CallArgs targs;
  targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(std::min(i, a.pos.size())), a.pos.end());
  targs.kw = a.kw;
  std::vector<Value> out;
  for (const Value& x : in.iterate(v)) {
    Value subject = attr ? lookup_attribute(in, x, *attr) : x;
    bool r;
    if (test) {
      CallArgs copy = targs;
      r = in.apply_test(*test, subject, copy);
    } else {
      r = truthy(subject);
    }
    if (r == want) out.push_back(x);
  }
  return generator(std::move(out));
}

Value f_items(Interpreter&, const Value& v, CallArgs& a) {
  Args(a, "do_items", {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict()) raise("TypeError", "Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_data().entries) out.push_back(Value::tuple({k, x}));
  return generator(std::move(out));
}

void sort_values(Interpreter& in, std::vector<Value>& items, std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  in.step(items.size() * 4);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return reverse ? less(keys[y], keys[x], "<") : less(keys[x], keys[y], "<");
  });
  std::vector<Value> sorted;
  sorted.reserve(items.size());
  for (size_t i : order) sorted.push_back(items[i]);
  items = std::move(sorted);
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_dictsort", {"case_sensitive", "by", "reverse"});
  const bool cs = args.flag(0, false);
  const std::string by = args.has(1) ? to_str(args.get(1)) : "key";
  if (by != "key" && by != "value") raise("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  if (v.is_undefined()) raise_undefined(v);
  if (!v.is_dict()) raise("AttributeError", std::string("'") + v.type_name() + "' object has no attribute 'items'");
  std::vector<Value> items, keys;
  for (const auto& [k, x] : v.dict_data().entries) {
    items.push_back(Value::tuple({k, x}));
    keys.push_back(cs ? (by == "key" ? k : x) : ignore_case(by == "key" ? k : x));
  }
  sort_values(in, items, keys, args.flag(2, false));
  return Value::list(std::move(items));
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_sort", {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = in.iterate(v), keys;
  const std::optional<std::string> attr = args.string(2);
  for (const Value& x : items) keys.push_back(sort_key(in, x, attr, args.flag(1, false)));
  sort_values(in, items, keys, args.flag(0, false));
  return Value::list(std::move(items));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_unique", {"case_sensitive", "attribute"});
  const std::optional<std::string> attr = args.string(1);
  std::vector<Value> out;
  std::unordered_map<std::string, bool> seen;
  for (const Value& x : in.iterate(v)) {
    std::string k = hash_key(sort_key(in, x, attr, args.flag(0, false)));
    if (seen.emplace(std::move(k), true).second) out.push_back(x);
  }
  return generator(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  Args args(a, want_max ? "do_max" : "do_min", {"case_sensitive", "attribute"});
  const std::optional<std::string> attr = args.string(1);
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined_hint("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(in, items[0], attr, args.flag(0, false));
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = sort_key(in, items[i], attr, args.flag(0, false));
    if (want_max ? less(best_key, k, ">", 0, true) : less(k, best_key, "<")) best = i, best_key = k;
  }
  return items[best];
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_sum", {"attribute", "start"});
  const std::optional<std::string> attr = args.string(0);
  Value total = args.get(1, Value::integer(0));
  for (const Value& x : in.iterate(v)) total = binary_op(in, "+", total, attr ? lookup_attribute(in, x, *attr) : x);
  return total;
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_batch", {"linecount", "fill_with"});
  const int64_t n = args.integer(0, 0);
  if (n <= 0) raise("ValueError", "linecount must be positive");
  std::vector<Value> out, tmp;
  for (const Value& x : in.iterate(v)) {
    if (static_cast<int64_t>(tmp.size()) == n) out.push_back(Value::list(std::move(tmp))), tmp.clear();
    tmp.push_back(x);
  }
  if (!tmp.empty()) {
    in.check_size(static_cast<size_t>(std::min<int64_t>(n, int64_t{1} << 40)) * 16);
    if (args.has(1) && !args.get(1).is_none())
      while (static_cast<int64_t>(tmp.size()) < n) tmp.push_back(args.get(1));
    out.push_back(Value::list(std::move(tmp)));
  }
  return generator(std::move(out));
}

Value f_slice(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_slice", {"slices", "fill_with"});
  const int64_t slices = args.integer(0, 0);
  if (slices <= 0) raise("ValueError", "slices must be positive");
  if (slices > 100000) raise("LimitExceeded", "too many slices");
  in.step(static_cast<uint64_t>(slices));
  std::vector<Value> seq = in.iterate(v);
  const auto length = static_cast<int64_t>(seq.size());
  const int64_t per = length / slices, extra = length % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t i = 0; i < slices; ++i) {
    const int64_t start = offset + i * per;
    if (i < extra) ++offset;
    const int64_t end = offset + (i + 1) * per;
    std::vector<Value> part(seq.begin() + start, seq.begin() + end);
    if (args.has(1) && !args.get(1).is_none() && i >= extra) part.push_back(args.get(1));
    out.push_back(Value::list(std::move(part)));
  }
  return generator(std::move(out));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& a) {
  Args(a, "do_reverse", {});
  if (v.is_string()) {
    std::vector<uint32_t> cps = py::to_code_points(v.str());
    std::reverse(cps.begin(), cps.end());
    return Value::string(py::from_code_points(cps), v.is_markup());
  }
  const bool lazy = v.is_seq(SeqKind::kGenerator) || v.is_seq(SeqKind::kReverseIter);
  if (!(v.is_list() || v.is_dict() || v.is_undefined())) raise("FilterArgumentError", "argument must be iterable");
  std::vector<Value> items = in.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items), lazy ? SeqKind::kList : SeqKind::kReverseIter);
}

Value f_list(Interpreter& in, const Value& v, CallArgs& a) {
  Args(a, "list", {});
  return Value::list(in.iterate(v));
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  Args args(a, "do_attr", {"name"});
  const std::string name = to_str(args.get(0));
  if (v.is_undefined()) raise_undefined(v);
  if (v.is_object())
    if (auto x = v.object_data().getattr(in, name)) return *x;
  if (auto m = find_method(v, name)) return *m;
  return Value::missing_attr(v, name);
}

Value f_groupby(Interpreter& in, const Value& v, CallArgs& a) {
  static const std::vector<std::string> kFields = {"grouper", "list"};
  Args args(a, "do_groupby", {"attribute", "default", "case_sensitive"});
  const std::string attr = to_str(args.get(0));
  const bool cs = args.flag(2, false);
  auto key_of = [&](const Value& item) {
    Value k = lookup_attribute(in, item, attr);
    return k.is_undefined() && args.has(1) ? args.get(1) : k;
  };
  std::vector<Value> items = in.iterate(v), keys;
  for (const Value& x : items) keys.push_back(cs ? key_of(x) : ignore_case(key_of(x)));
  std::vector<Value> sorted_keys = keys;
  {
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    in.step(items.size() * 4);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return less(keys[x], keys[y], "<"); });
    std::vector<Value> si;
    sorted_keys.clear();
    for (size_t i : order) si.push_back(items[i]), sorted_keys.push_back(keys[i]);
    items = std::move(si);
  }
  std::vector<Value> out;
  for (size_t i = 0; i < items.size();) {
    size_t j = i + 1;
    while (j < items.size() && equals(sorted_keys[j], sorted_keys[i])) ++j;
    Value group = Value::tuple({cs ? sorted_keys[i] : key_of(items[i]),
                                Value::list(std::vector<Value>(items.begin() + static_cast<std::ptrdiff_t>(i),
                                                               items.begin() + static_cast<std::ptrdiff_t>(j)))});
    group.list_data().field_names = &kFields;
    out.push_back(std::move(group));
    i = j;
  }
  return Value::list(std::move(out));
}

Value f_xmlattr(Interpreter&, const Value& v, CallArgs& a) {
  Args args(a, "do_xmlattr", {"autospace"});
  if (v.is_undefined()) raise_undefined(v);
  if (!v.is_dict()) raise("AttributeError", std::string("'") + v.type_name() + "' object has no attribute 'items'");
  std::string rv;
  for (const auto& [k, x] : v.dict_data().entries) {
    if (x.is_none() || x.is_undefined()) continue;
    const std::string key = to_str(k);
    if (key.find_first_of(" \t\n\r\f\v/>=") != std::string::npos)
      raise("ValueError", "Invalid character in attribute name: " + py::repr_string(key));
    if (!rv.empty()) rv += ' ';
    rv += py::html_escape(key);
    rv += "=\"";
    rv += x.is_markup() ? x.str() : py::html_escape(to_str(x));
    rv += '"';
  }
  if (args.flag(0, true) && !rv.empty()) rv = std::string(1, ' ').append(rv);
  return Value::string(std::move(rv), true);
}

}  // namespace

void add_sequence_filters(FilterTable& t) {
  t["groupby"] = f_groupby;
  t["xmlattr"] = f_xmlattr;
  t["length"] = f_length;
  t["count"] = f_length;
  t["first"] = f_first;
  t["last"] = f_last;
  t["join"] = f_join;
  t["map"] = f_map;
  t["select"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, false); };
  t["reject"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, false); };
  t["selectattr"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, true, true); };
  t["rejectattr"] = [](Interpreter& in, const Value& v, CallArgs& a) { return select_or_reject(in, v, a, false, true); };
  t["items"] = f_items;
  t["dictsort"] = f_dictsort;
  t["sort"] = f_sort;
  t["unique"] = f_unique;
  t["min"] = [](Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, false); };
  t["max"] = [](Interpreter& in, const Value& v, CallArgs& a) { return min_max(in, v, a, true); };
  t["sum"] = f_sum;
  t["batch"] = f_batch;
  t["slice"] = f_slice;
  t["reverse"] = f_reverse;
  t["list"] = f_list;
  t["attr"] = f_attr;
}

}  // namespace nextlm::chat::jinja
