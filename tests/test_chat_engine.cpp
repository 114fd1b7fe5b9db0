// Jinja engine: the cases of test_chat_engine_cases.json (expected outputs
// and error messages produced by Python's jinja2 configured as Hugging Face
// does; scripts/jinja_cases.py --check re-derives them), plus resource limits
// and the Python formatting helpers.
#include <catch2/catch.hpp>

#include "fixtures.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chat/jinja.h"
#include "chat/json_format.h"
#include "chat/py_text.h"

using namespace nextlm::chat;
using jinja::Template;
using jinja::TemplateError;
using jinja::Value;

namespace {

// Renders; returns the text, or "!" + "Type: message" on failure.
std::string run(const std::string& src, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object(),
                jinja::RenderOptions opts = {}) {
  if (!opts.now) opts.now = nextlm::test::fixture_now();
  try {
    return Template(src).render(value_from_json(ctx), opts);
  } catch (const TemplateError& e) {
    return std::string(1, '!').append(e.python_message());
  }
}

std::string error_type(const std::string& r) { return r.substr(0, r.find(':')); }

}  // namespace

TEST_CASE("jinja engine matches Python jinja2 on the case table", "[chat][jinja]") {
  // Not __FILE__: ccache's base_dir makes it relative to the build directory.
  const auto path = std::filesystem::path(NEXTLM_TESTS_SOURCE_DIR) / "test_chat_engine_cases.json";
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto cases = nlohmann::ordered_json::parse(ss.str());
  REQUIRE(cases.size() > 150);
  size_t exact_errors = 0, errors = 0;
  for (const auto& c : cases) {
    const std::string src = c["t"];
    const std::string got = run(src, c["ctx"]);
    INFO("template: " << src);
    if (c.contains("out")) {
      CHECK(got == c["out"].get<std::string>());
    } else {
      const std::string want = "!" + c["err"].get<std::string>();
      ++errors;
      // Syntax errors need only fail as syntax errors; runtime errors match
      // Python's exception type, and mostly its message.
      REQUIRE(got.size() > 1);
      CHECK(got[0] == '!');
      if (error_type(want) == "!TemplateSyntaxError" || error_type(want) == "!SyntaxError" ||
          error_type(want) == "!TemplateAssertionError") {
        CHECK((error_type(got) == "!TemplateSyntaxError" || error_type(got) == "!TemplateAssertionError"));
      } else {
        CHECK(error_type(got) == error_type(want));
        exact_errors += got == want;
      }
    }
  }
  WARN(exact_errors << " of " << errors << " error messages identical to Python's");
}

TEST_CASE("jinja float repr and string repr follow Python", "[chat][jinja]") {
  CHECK(py::float_repr(0.1) == "0.1");
  CHECK(py::float_repr(1.0) == "1.0");
  CHECK(py::float_repr(1e16) == "1e+16");
  CHECK(py::float_repr(1e15) == "1000000000000000.0");
  CHECK(py::float_repr(1.5e-7) == "1.5e-07");
  CHECK(py::float_repr(0.0001) == "0.0001");
  CHECK(py::float_repr(-0.0) == "-0.0");
  CHECK(py::float_repr(123456789012345678.0) == "1.2345678901234568e+17");
  CHECK(py::float_repr(2.5e-310) == "2.5e-310");
  CHECK(py::repr_string("it's") == "\"it's\"");
  CHECK(py::repr_string("a'\"b") == "'a\\'\"b'");
  CHECK(py::repr_string("\xC3\xA9\n\x01") == "'\xC3\xA9\\n\\x01'");
}

TEST_CASE("json_dumps follows Python's json.dumps", "[chat][jinja]") {
  auto v = value_from_json(nlohmann::ordered_json::parse(R"({"b": [1, 2.5, "\u00e9\n"], "a": {}, "c": []})"));
  JsonDumpOptions o;
  CHECK(json_dumps(v, o) == "{\"b\": [1, 2.5, \"\xC3\xA9\\n\"], \"a\": {}, \"c\": []}");
  o.ensure_ascii = true;
  o.sort_keys = true;
  CHECK(json_dumps(v, o) == "{\"a\": {}, \"b\": [1, 2.5, \"\\u00e9\\n\"], \"c\": []}");
  JsonDumpOptions ind;
  ind.indent = "  ";
  ind.item_sep = ",";
  CHECK(json_dumps(v, ind) == "{\n  \"b\": [\n    1,\n    2.5,\n    \"\xC3\xA9\\n\"\n  ],\n  \"a\": {},\n  \"c\": []\n}");
  CHECK(json_dumps(value_from_json("\xF0\x9F\x98\x80"), o) == "\"\\ud83d\\ude00\"");
}

TEST_CASE("jinja limits stop hostile templates with an error", "[chat][jinja]") {
  jinja::RenderOptions small;
  small.limits.max_steps = 200000;
  small.limits.max_loop_iterations = 50000;
  small.limits.max_output_bytes = 1 << 20;
  small.limits.max_call_depth = 50;
  // Nested loops: the iteration budget.
  CHECK(error_type(run("{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}", {}, small)) ==
        "!LimitExceeded");
  // Output growth.
  CHECK(error_type(run("{% for a in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}", {}, small)) ==
        "!LimitExceeded");
  // Doubling strings / lists in a namespace.
  CHECK(error_type(run("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                       {}, small)) == "!LimitExceeded");
  CHECK(error_type(run("{% set ns = namespace(s=[1]) %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                       {}, small)) == "!LimitExceeded");
  CHECK(error_type(run("{{ 'x' * 100000000 }}", {}, small)) == "!LimitExceeded");
  CHECK(error_type(run("{{ [1] * 100000000 }}", {}, small)) == "!LimitExceeded");
  // Unbounded and exponential recursion.
  CHECK(error_type(run("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {}, small)) == "!LimitExceeded");
  CHECK(error_type(run("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", {}, small)) ==
        "!LimitExceeded");
  // Deeply nested values built in a loop.
  CHECK(error_type(run("{% set ns = namespace(v=[]) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}",
                       {}, small)) == "!RecursionError");
  // A namespace that holds itself prints as a bounded error, and is freed.
  CHECK(error_type(run("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", {}, small)) == "!RecursionError");
  // Deep nesting in the source is a syntax error, not a stack overflow.
  CHECK(error_type(run("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")) == "!TemplateSyntaxError");
  CHECK(error_type(run("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}")) == "!TemplateSyntaxError");
  std::string filters = "{{ x";
  for (int i = 0; i < 3000; ++i) filters += "|trim";
  CHECK(error_type(run(filters + " }}")) == "!TemplateSyntaxError");
  CHECK(error_type(run("{{ " + std::string(3000, '-') + "1 }}")) == "!TemplateSyntaxError");
  CHECK(error_type(run("{{ " + [] { std::string s; for (int i = 0; i < 3000; ++i) s += "not "; return s; }() + "1 }}")) ==
        "!TemplateSyntaxError");
  CHECK(error_type(run("{{ " + std::string(20000, '-') + "1 }}")) == "!TemplateSyntaxError");
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  CHECK(error_type(run(chain + " }}")) == "!TemplateSyntaxError");
  // Deep expressions inside deep recursion, at the default limits: the
  // evaluation-depth bound keeps the C++ stack small (also under ASan).
  std::string deep_expr = "f(n - 1)";
  for (int i = 0; i < 90; ++i) deep_expr = "('a' ~ " + deep_expr + ")";
  CHECK(error_type(run("{% macro f(n) %}{% if n > 0 %}{{ " + deep_expr + " }}{% endif %}{% endmacro %}{{ f(10000) }}")) ==
        "!LimitExceeded");
  CHECK(error_type(run("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(10000) }}")) ==
        "!LimitExceeded");
  CHECK(run("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}x{% endmacro %}{{ f(150) }}").size() == 151);
  CHECK(error_type(run("{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}")) == "!TypeError");
  CHECK(error_type(run("{% set ns = namespace(l=[]) %}{% for x in range(3) %}{% set ns.l = ns.l + [ns.l] %}{% endfor %}"
                       "{% for x in [ns.l] recursive %}{{ loop(x) }}{% endfor %}")) != "!LimitExceeded");
  std::string ifs;
  for (int i = 0; i < 1000; ++i) ifs += "{% if true %}";
  CHECK(error_type(run(ifs)) == "!TemplateSyntaxError");
}

TEST_CASE("jinja values from JSON keep key order and types", "[chat][jinja]") {
  auto j = nlohmann::ordered_json::parse(R"({"z": 1, "a": [true, null, 1.5, "s", 18446744073709551615]})");
  Value v = value_from_json(j);
  REQUIRE(v.is_dict());
  CHECK(jinja::to_repr(v) == "{'z': 1, 'a': [True, None, 1.5, 's', 1.8446744073709552e+19]}");
  CHECK(value_to_json(v).dump() == R"({"z":1,"a":[true,null,1.5,"s",1.8446744073709552e+19]})");
  // Deeply nested JSON is refused, not recursed into without bound.
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  CHECK_THROWS_AS(value_from_json(nlohmann::ordered_json::parse(deep)), TemplateError);
}

TEST_CASE("jinja Template renders repeatedly and with different contexts", "[chat][jinja]") {
  Template t("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  for (int i = 0; i < 3; ++i) {
    auto ctx = nlohmann::ordered_json{{"messages", {{{"role", "user"}, {"content", std::to_string(i)}}}}};
    CHECK(t.render(value_from_json(ctx)) == "user:" + std::to_string(i) + ";");
  }
}
