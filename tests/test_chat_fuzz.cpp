// Generated inputs for the chat layer (run in the sanitizer build too):
// random templates from a small grammar, byte-mutated real templates, and
// random tool-call text. Every template must parse and render or fail with
// jinja::TemplateError, within the limits; every tool-call text must give
// the same result one-shot and streamed in random pieces.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "chat/jinja.h"
#include "chat/json_format.h"
#include "chat/py_text.h"
#include "chat/toolcall.h"
#include "model_output_check.h"
#include "fixtures.h"
#include "util/rng.h"

using namespace nextlm::chat;
using nextlm::util::Rng;
using nlohmann::ordered_json;

namespace {

const char* const kNames[] = {"messages", "tools", "x", "ns", "loop", "d", "l", "s", "n", "nope", "messages",
                              "d", "l", "x", "i", "k"};
const char* const kFilters[] = {
    "tojson", "trim", "length", "count", "join", "map", "select", "reject", "selectattr", "rejectattr", "first",
    "last", "list", "string", "int", "float", "default", "d", "safe", "escape", "e", "upper", "lower", "capitalize",
    "title", "replace", "items", "dictsort", "unique", "min", "max", "sum", "round", "abs", "indent", "wordcount",
    "batch", "slice", "reverse", "sort", "format", "center", "truncate", "attr", "pprint", "nosuch"};
const char* const kTests[] = {"defined", "undefined", "none", "string", "number", "integer", "float", "mapping",
                              "sequence", "iterable", "boolean", "true", "false", "even", "odd", "divisibleby",
                              "in", "eq", "ne", "lt", "callable", "nosuch"};
const char* const kMethods[] = {"strip", "split", "startswith", "endswith", "upper", "lower", "title", "replace",
                                "find", "count", "format", "items", "keys", "values", "get", "append", "pop",
                                "join", "lstrip", "rstrip", "splitlines", "capitalize", "index"};
const char* const kOps[] = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"};

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  std::string expr(int depth) {
    const uint64_t k = depth > 3 ? rng_.below(6) : rng_.below(20);
    switch (k) {
      case 0: return std::to_string(static_cast<int64_t>(rng_.below(2000)) - 1000);
      case 1: return one_of({"'a'", "\"b c\"", "''", "'\\n'", "'x,y'", "'\xC3\xA9\xF0\x9F\x98\x80'", "' pad '"});
      case 2: return one_of({"none", "true", "false", "1.5", "-0.0", "1e300", "3"});
      case 3:
      case 4: return pick(kNames);
      case 5: return "range(" + std::to_string(rng_.below(6)) + ")";
      case 6: return "[" + expr(depth + 1) + ", " + expr(depth + 1) + "]";
      case 7: return "{" + expr(depth + 1) + ": " + expr(depth + 1) + "}";
      case 8: return expr(depth + 1) + "." + pick(kNames);
      case 9: return expr(depth + 1) + "[" + expr(depth + 1) + "]";
      case 10: return expr(depth + 1) + "[" + one_of({"1:", ":-1", "::-1", "::0", "a:b"}) + "]";
      case 11: {
        std::string f = "(" + expr(depth + 1) + "|" + pick(kFilters);
        if (rng_.below(2)) f += "(" + expr(depth + 1) + (rng_.below(2) ? ", " + expr(depth + 1) : "") + ")";
        return f + ")";
      }
      case 12: return "(" + expr(depth + 1) + " is " + (rng_.below(3) ? "" : "not ") + pick(kTests) + ")";
      case 13:
      case 14: return "(" + expr(depth + 1) + " " + pick(kOps) + " " + expr(depth + 1) + ")";
      case 15: return one_of({"not ", "-", "+"}) + expr(depth + 1);
      case 16: return "(" + expr(depth + 1) + " if " + expr(depth + 1) + (rng_.below(2) ? " else " + expr(depth + 1) : "") + ")";
      case 17: return expr(depth + 1) + "." + pick(kMethods) + "(" + (rng_.below(2) ? expr(depth + 1) : "") + ")";
      case 18: return one_of({"namespace(a=1)", "dict(a=2)", "cycler(1, 2).next()", "joiner()()", "ns.a", "loop.index",
                            "loop.cycle(1, 2)", "raise_exception('boom')", "strftime_now('%Y')", "m()", "caller()"});
      default: return "(" + expr(depth + 1) + ", " + expr(depth + 1) + ")";
    }
  }

  std::string stmts(int depth, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += stmt(depth);
    return out;
  }

  std::string stmt(int depth) {
    const uint64_t k = depth > 2 ? rng_.below(5) : rng_.below(16);
    const std::string l = one_of({"{%", "{%-", "{%+"}), r = one_of({"%}", "-%}", "+%}"});
    switch (k) {
      case 0: return one_of({"text ", "\n", "  line\n  ", "\xE6\x97\xA5", "{ not a tag }", "<tool_call>"});
      case 1:
      case 2: return one_of({"{{ ", "{{- "}) + expr(0) + one_of({" }}", " -}}"});
      case 3: return l + " set " + one_of({"x", "ns.a", "a, b", "n"}) + " = " + expr(0) + " " + r;
      case 4: return "{# comment " + expr(0) + " #}";
      case 5:
      case 6:
        return l + " if " + expr(0) + " " + r + stmts(depth + 1, 2) + (rng_.below(2) ? l + " elif " + expr(0) + " " + r : "") +
               stmts(depth + 1, 1) + (rng_.below(2) ? "{% else %}" + stmts(depth + 1, 1) : "") + "{% endif %}";
      case 7:
      case 8:
        return l + " for " + one_of({"i", "k, v", "m"}) + " in " + expr(0) + (rng_.below(3) ? "" : " if " + expr(0)) +
               (rng_.below(4) ? "" : " recursive") + " " + r + stmts(depth + 1, 2) +
               one_of({"", "{% break %}", "{% continue %}", "{{ loop(l) }}"}) + (rng_.below(3) ? "" : "{% else %}x") +
               "{% endfor %}";
      case 9: return "{% macro m(a, b=1) %}" + stmts(depth + 1, 2) + "{% endmacro %}{{ m(" + expr(0) + ") }}";
      case 10: return "{% call(q) m(1) %}" + stmts(depth + 1, 1) + "{% endcall %}";
      case 11: return "{% filter " + std::string(pick(kFilters)) + " %}" + stmts(depth + 1, 1) + "{% endfilter %}";
      case 12: return "{% set ns = namespace(a=" + expr(0) + ") %}";
      case 13: return "{% raw %}{{ raw }}{% endraw %}";
      case 14: return "{% with w = " + expr(0) + " %}{{ w }}{% endwith %}";
      default: return "{% set x %}" + stmts(depth + 1, 1) + "{% endset %}{{ x }}";
    }
  }

  // A few random byte edits.
  std::string mutate(std::string s) {
    const int edits = 1 + static_cast<int>(rng_.below(4));
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng_.below(s.size());
      switch (rng_.below(5)) {
        case 0: s[at] = static_cast<char>(rng_.below(256)); break;
        case 1: s.erase(at, 1 + rng_.below(8)); break;
        case 2: s.insert(at, one_of({"{{", "}}", "{%", "%}", "(", ")", "[", "'", "|", "-", " if ", "endif", "{% endfor %}"})); break;
        case 3: s.resize(at); break;
        default: {
          const size_t from = rng_.below(s.size());
          s.insert(at, s.substr(from, rng_.below(40)));
        }
      }
    }
    return s;
  }

  uint64_t below(uint64_t n) { return rng_.below(n); }

  template <size_t N>
  const char* pick(const char* const (&a)[N]) {
    return a[rng_.below(N)];
  }
  std::string one_of(std::initializer_list<const char*> a) { return *(a.begin() + rng_.below(a.size())); }

 private:
  Rng rng_;
};

jinja::Value fuzz_context() {
  return value_from_json(ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Hi \u00fc"},
                 {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "content": "{}"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "x": 3, "d": {"k": [1, 2], "b": "v"}, "l": [3, 1, 2], "s": " Str ", "n": null})"));
}

std::map<std::string, int> g_error_types;

void render_any(const std::string& src, const jinja::Value& ctx, int* ok, int* failed) {
  jinja::RenderOptions opts;
  opts.limits.max_steps = 30000;
  opts.limits.max_loop_iterations = 5000;
  opts.limits.max_output_bytes = 1 << 18;
  opts.limits.max_call_depth = 30;
  try {
    jinja::Template t(src);
    std::string out = t.render(ctx, opts);
    CHECK(out.size() <= opts.limits.max_output_bytes);
    ++*ok;
  } catch (const jinja::TemplateError& e) {
    if (e.type() == "TemplateSyntaxError" && std::getenv("NEXTLM_SHOW_SYNTAX") && g_error_types[e.type()] < 12)
      std::printf("%s\n  -> %s\n", src.c_str(), e.what());
    ++g_error_types[e.type()];
    ++*failed;
  }
}

std::vector<std::string> seed_templates() {
  std::vector<std::string> seeds;
  const std::filesystem::path dir = nextlm::test::fixture("templates/jinja");
  if (std::filesystem::is_directory(dir)) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      seeds.push_back(ss.str());
    }
    std::sort(seeds.begin(), seeds.end());
  }
  Gen g(7);
  while (seeds.size() < 48) seeds.push_back(g.stmts(0, 6));
  return seeds;
}

}  // namespace

TEST_CASE("generated templates render or fail cleanly", "[chat][fuzz]") {
  const jinja::Value ctx = fuzz_context();
  int ok = 0, failed = 0;
  Gen g(20260102);
  for (int i = 0; i < 6000; ++i) render_any(g.stmts(0, 1 + static_cast<int>(g.below(5))), ctx, &ok, &failed);
  std::string kinds;
  for (const auto& [k, n] : g_error_types) kinds += " " + k + "=" + std::to_string(n);
  WARN("grammar: " << ok << " rendered, " << failed << " failed:" << kinds);
  g_error_types.clear();
  CHECK(ok > 100);
  CHECK(failed > 100);
}

TEST_CASE("mutated real templates render or fail cleanly", "[chat][fuzz]") {
  const jinja::Value ctx = fuzz_context();
  const std::vector<std::string> seeds = seed_templates();
  int ok = 0, failed = 0;
  Gen g(99);
  for (int i = 0; i < 2500; ++i) render_any(g.mutate(seeds[g.below(seeds.size())]), ctx, &ok, &failed);
  WARN("mutated: " << ok << " rendered, " << failed << " failed");
  CHECK(ok + failed == 2500);
}

TEST_CASE("random tool-call text parses the same one-shot and streamed", "[chat][fuzz]") {
  static const char* const kFrag[] = {
      "<tool_call>", "</tool_call>", "<function=", "read_file", "f", ">", "\n", "<parameter=", "path", "max_bytes",
      "</parameter>", "</function>", "<think>", "</think>", "{", "}", "\"name\"", ":", "\"f\"", "\"arguments\"",
      " ", "42", "true", "null", "[1, 2]", "text", "\xC3\xBC", "\xF0\x9F\x98", "\x80", "<", "</", "<tool_", "\"", ","};
  ToolParserOptions opts;
  opts.tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "read_file", "parameters":
      {"type": "object", "properties": {"path": {"type": "string"}, "max_bytes": {"type": "integer"}}}}}])");
  Gen g(4242);
  for (int i = 0; i < 8000; ++i) {
    std::string text;
    const size_t n = g.below(40);
    for (size_t k = 0; k < n; ++k) text += g.pick(kFrag);
    opts.format = g.below(4) ? ToolCallFormat::kQwen3CoderXml : ToolCallFormat::kHermesJson;
    opts.reasoning_open = g.below(8) == 0;
    const ParsedMessage one = parse_tool_calls(text, opts);
    ToolCallParser p(opts);
    std::string content;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t len = 1 + g.below(6);
      for (const auto& e : p.feed(std::string_view(text).substr(pos, len)))
        if (e.kind == ToolCallEvent::Kind::kContent) content += e.text;
      pos += len;
    }
    for (const auto& e : p.finish())
      if (e.kind == ToolCallEvent::Kind::kContent) content += e.text;
    INFO("text: " << py::repr_string(text));
    const ParsedMessage& r = p.result();
    REQUIRE(r.content == one.content);
    REQUIRE(r.reasoning_content == one.reasoning_content);
    REQUIRE(r.tool_calls.size() == one.tool_calls.size());
    for (size_t k = 0; k < r.tool_calls.size(); ++k) {
      REQUIRE(r.tool_calls[k].id == one.tool_calls[k].id);
      REQUIRE(r.tool_calls[k].name == one.tool_calls[k].name);
      REQUIRE(r.tool_calls[k].arguments == one.tool_calls[k].arguments);
    }
    REQUIRE(content == r.content);
  }
}

TEST_CASE("random token ids as model output never fail the reply path", "[chat][fuzz]") {
  const auto& tok = nextlm::test::fuzz_vocabulary("chat.generated_inputs");
  // Pieces a model might plausibly produce, as token sequences, among random ids.
  std::vector<std::vector<int32_t>> pieces;
  nextlm::tokenizer::EncodeOptions special;
  special.parse_special = true;
  for (const char* t : {"<tool_call>", "</tool_call>", "<think>", "</think>", "<function=f>", "</function>",
                        "<parameter=i>", "<parameter=s>", "</parameter>", "{\"name\": \"f\", \"arguments\": {\"i\": ",
                        "12", "}}", "\n", "é", "<|im_end|>", "<|endoftext|>", "\"", "{", "<"})
    pieces.push_back(tok.encode(t, special));
  Rng g(2026);
  int checked = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<int32_t> ids;
    const size_t n = g.below(48);
    for (size_t k = 0; k < n; ++k) {
      const uint64_t kind = g.below(4);
      if (kind == 0) ids.push_back(static_cast<int32_t>(g.below(static_cast<uint64_t>(tok.n_vocab()))));
      else if (kind == 1) ids.push_back(static_cast<int32_t>(g.below(256)));  // byte tokens: split UTF-8
      else for (int32_t id : pieces[g.below(pieces.size())]) ids.push_back(id);
    }
    const auto mode = static_cast<uint8_t>(g.below(16));
    const std::string bad = nextlm::test::check_model_output(tok, ids, mode);
    INFO("mode " << int(mode) << ", " << ids.size() << " ids");
    REQUIRE(bad == "");
    ++checked;
  }
  CHECK(checked == 3000);
}
