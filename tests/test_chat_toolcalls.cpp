// Tool-call parsing: every case of fixtures/toolcalls/qwen3-coder.json
// one-shot and streamed at every split point (and byte by byte), with the
// streamed events checked against the final result; Hermes JSON and further
// Qwen3-Coder cases of our own.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "chat/toolcall.h"
#include "fixtures.h"

using namespace nextlm::chat;
using nlohmann::ordered_json;

namespace {

// Order-insensitive comparison of objects (the fixture's key order is not
// part of the contract).
nlohmann::json plain(const ordered_json& j) { return nlohmann::json::parse(j.dump()); }

// Feeds `text` split at the given offsets, checks that the events add up to
// the final result, and returns the result.
ParsedMessage stream(const std::string& text, const std::vector<size_t>& cuts, const ToolParserOptions& opts) {
  ToolCallParser p(opts);
  std::vector<ToolCallEvent> events;
  size_t prev = 0;
  for (size_t cut : cuts) {
    auto ev = p.feed(std::string_view(text).substr(prev, cut - prev));
    events.insert(events.end(), ev.begin(), ev.end());
    prev = cut;
  }
  auto ev = p.feed(std::string_view(text).substr(prev));
  events.insert(events.end(), ev.begin(), ev.end());
  ev = p.finish();
  events.insert(events.end(), ev.begin(), ev.end());
  const ParsedMessage& r = p.result();

  std::string content, reasoning;
  std::map<size_t, std::string> args;
  std::set<size_t> open;
  std::vector<ToolCall> ended;
  for (const ToolCallEvent& e : events) {
    switch (e.kind) {
      case ToolCallEvent::Kind::kContent: content += e.text; break;
      case ToolCallEvent::Kind::kReasoning: reasoning += e.text; break;
      case ToolCallEvent::Kind::kToolCallBegin:
        CHECK(open.insert(e.index).second);
        CHECK(!e.name.empty());
        break;
      case ToolCallEvent::Kind::kToolCallArguments:
        CHECK(open.count(e.index));
        args[e.index] += e.text;
        break;
      case ToolCallEvent::Kind::kToolCallEnd:
        CHECK(open.erase(e.index) == 1);
        CHECK(args[e.index] == e.arguments.dump());
        ended.push_back(ToolCall{e.id, e.name, e.arguments});
        break;
      case ToolCallEvent::Kind::kToolCallAbandoned: CHECK(open.erase(e.index) == 1); break;
    }
  }
  CHECK(open.empty());
  CHECK(content == r.content);
  CHECK(reasoning == r.reasoning_content.value_or(""));
  REQUIRE(ended.size() == r.tool_calls.size());
  for (size_t i = 0; i < ended.size(); ++i) {
    CHECK(ended[i].id == r.tool_calls[i].id);
    CHECK(ended[i].name == r.tool_calls[i].name);
    CHECK(ended[i].arguments == r.tool_calls[i].arguments);
  }
  return r;
}

// One-shot, every two-piece split, byte by byte and a few piece sizes must
// all give `want`.
void check_all_splits(const std::string& text, const ordered_json& want, const ToolParserOptions& opts) {
  INFO("output: " << text);
  CHECK(plain(parse_tool_calls(text, opts).to_json()) == plain(want));
  for (size_t k = 0; k <= text.size(); ++k) {
    INFO("split at " << k);
    CHECK(plain(stream(text, {k}, opts).to_json()) == plain(want));
  }
  for (size_t step : {1, 2, 3, 7}) {
    std::vector<size_t> cuts;
    for (size_t k = step; k < text.size(); k += step) cuts.push_back(k);
    INFO("pieces of " << step);
    CHECK(plain(stream(text, cuts, opts).to_json()) == plain(want));
  }
}

ordered_json load_fixture() {
  std::ifstream in(nextlm::test::fixture("toolcalls/qwen3-coder.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ordered_json::parse(ss.str());
}

ordered_json expect(const std::string& content, const std::vector<std::pair<std::string, ordered_json>>& calls,
                    const char* reasoning = nullptr) {
  ordered_json j = {{"content", content}, {"tool_calls", ordered_json::array()}};
  if (reasoning) j["reasoning_content"] = reasoning;
  for (const auto& [name, args] : calls) j["tool_calls"].push_back({{"name", name}, {"arguments", args}});
  return j;
}

const char* kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
    "location": {"type": "string"}, "days": {"type": "integer"}, "units": {"type": ["string", "null"]},
    "ratio": {"anyOf": [{"type": "number"}, {"type": "null"}]}, "opts": {"type": "object"}}}}},
  {"name": "bare_schema", "parameters": {"properties": {"flag": {"type": "boolean"}}}}
])";

}  // namespace

TEST_CASE("qwen3-coder fixture cases parse one-shot and streamed at every split", "[chat][toolcalls][fixtures]") {
  const ordered_json doc = load_fixture();
  REQUIRE(doc["format"] == "qwen3-coder-xml");
  ToolParserOptions opts;
  opts.format = ToolCallFormat::kQwen3CoderXml;
  opts.tools = doc["tools"];
  REQUIRE(doc["cases"].size() >= 12);
  for (const ordered_json& c : doc["cases"]) {
    INFO("case " << c["name"].get<std::string>());
    check_all_splits(c["output"].get<std::string>(), c["expected"], opts);
  }
}

TEST_CASE("hermes tool calls", "[chat][toolcalls]") {
  ToolParserOptions opts;
  opts.format = ToolCallFormat::kHermesJson;
  opts.tools = ordered_json::parse(kTools);
  SECTION("single call") {
    check_all_splits("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Vienna\", \"days\": 3}}\n</tool_call>",
                     expect("", {{"get_weather", {{"location", "Vienna"}, {"days", 3}}}}), opts);
  }
  SECTION("text around and between two calls") {
    check_all_splits(
        "Checking both.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
        "and\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}\n</tool_call>\nDone.",
        expect("Checking both.\nand\nDone.", {{"a", ordered_json::object()}, {"b", {{"x", {1, {{"y", "}"}}}}}}}), opts);
  }
  SECTION("think block, then a call") {
    check_all_splits("<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                     "{\"location\": \"Graz\"}}\n</tool_call>",
                     expect("", {{"get_weather", {{"location", "Graz"}}}}, "Need weather."), opts);
  }
  SECTION("arguments as a JSON string, and `parameters`") {
    check_all_splits("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"k\\\": 1}\"}</tool_call>"
                     "<tool_call>{\"name\": \"g\", \"parameters\": {\"p\": true}}</tool_call>",
                     expect("", {{"f", {{"k", 1}}}, {"g", {{"p", true}}}}), opts);
  }
  SECTION("unicode in names' arguments") {
    check_all_splits("Hallo \xC3\xBC\n<tool_call>{\"name\": \"f\", \"arguments\": {\"t\": \"\xE6\x97\xA5\xF0\x9F\x98\x80\"}}</tool_call>",
                     expect("Hallo \xC3\xBC", {{"f", {{"t", "\xE6\x97\xA5\xF0\x9F\x98\x80"}}}}), opts);
  }
  SECTION("invalid JSON stays content") {
    check_all_splits("<tool_call>{\"name\": \"f\", \"arguments\": {oops}</tool_call>",
                     expect("<tool_call>{\"name\": \"f\", \"arguments\": {oops}</tool_call>", {}), opts);
  }
  SECTION("unclosed call stays content") {
    check_all_splits("Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}",
                     expect("Sure.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}", {}), opts);
  }
  SECTION("no calls") { check_all_splits("  plain answer with <b>tags</b> and <tool  \n", expect("plain answer with <b>tags</b> and <tool", {}), opts); }
  SECTION("the name is announced before the arguments arrive") {
    ToolCallParser p(opts);
    auto ev = p.feed("<tool_call>\n{\"name\": \"get_weather\", \"argu");
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == ToolCallEvent::Kind::kToolCallBegin);
    CHECK(ev[0].name == "get_weather");
    CHECK(ev[0].id == "call_0");
    ev = p.feed("ments\": {\"location\": \"Linz\"}}\n</tool_call>");
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == ToolCallEvent::Kind::kToolCallArguments);
    CHECK(ev[0].text == R"({"location":"Linz"})");
    CHECK(ev[1].kind == ToolCallEvent::Kind::kToolCallEnd);
    CHECK(ev[1].arguments == ordered_json::parse(R"({"location": "Linz"})"));
  }
  SECTION("a begun call that never closes is abandoned and becomes content") {
    ToolCallParser p(opts);
    auto ev = p.feed("<tool_call>{\"name\": \"f\", ");
    REQUIRE(ev.size() == 1);
    ev = p.finish();
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == ToolCallEvent::Kind::kToolCallAbandoned);
    CHECK(ev[1].kind == ToolCallEvent::Kind::kContent);
    CHECK(p.result().content == "<tool_call>{\"name\": \"f\",");
    CHECK(p.result().tool_calls.empty());
  }
}

TEST_CASE("qwen3-coder tool calls beyond the fixture", "[chat][toolcalls]") {
  ToolParserOptions opts;
  opts.format = ToolCallFormat::kQwen3CoderXml;
  opts.tools = ordered_json::parse(kTools);
  SECTION("schema unions, objects, unknown functions") {
    check_all_splits(
        "<tool_call>\n<function=get_weather>\n<parameter=units>\nnull\n</parameter>\n<parameter=ratio>\n0.5\n"
        "</parameter>\n<parameter=opts>\n{\"a\": [1]}\n</parameter>\n<parameter=location>\nnull\n</parameter>\n"
        "</function>\n</tool_call>\n<tool_call>\n<function=unknown_fn>\n<parameter=n>\n5\n</parameter>\n</function>\n"
        "</tool_call><tool_call>\n<function=bare_schema>\n<parameter=flag>\nfalse\n</parameter>\n</function>\n</tool_call>",
        expect("", {{"get_weather", {{"units", nullptr}, {"ratio", 0.5}, {"opts", {{"a", {1}}}}, {"location", "null"}}},
                    {"unknown_fn", {{"n", "5"}}},
                    {"bare_schema", {{"flag", false}}}}),
        opts);
  }
  SECTION("missing </parameter>, values keep inner newlines and markup") {
    check_all_splits("<tool_call>\n<function=get_weather>\n<parameter=location>\n\nline1\n<b>x</b>\n\n<parameter=days>\n2\n"
                     "</function>\n</tool_call>",
                     expect("", {{"get_weather", {{"location", "\nline1\n<b>x</b>\n"}, {"days", 2}}}}), opts);
  }
  SECTION("two functions in one block; missing </tool_call> after a complete call") {
    check_all_splits("<tool_call>\n<function=a>\n</function>\n<function=b>\n<parameter=x>\n1\n</parameter>\n</function>\n",
                     expect("", {{"a", ordered_json::object()}, {"b", {{"x", "1"}}}}), opts);
  }
  SECTION("a bare function followed by a stray </tool_call>, then text") {
    check_all_splits("Run it.\n<function=a>\n<parameter=x>\ny\n</parameter>\n</function>\n</tool_call>\nAfter.",
                     expect("Run it.\nAfter.", {{"a", {{"x", "y"}}}}), opts);
  }
  SECTION("the generation prompt opened the think block") {
    ToolParserOptions o = opts;
    o.reasoning_open = true;
    check_all_splits("I think.\n</think>\n\nAnswer.", expect("Answer.", {}, "I think."), o);
    check_all_splits("Still thinking", expect("", {}, "Still thinking"), o);
  }
  SECTION("a think block that does not lead is content; empty think block") {
    check_all_splits("Hi <think>x</think>", expect("Hi <think>x</think>", {}), opts);
    check_all_splits("<think>\n\n</think>\n\nHello", expect("Hello", {}, ""), opts);
  }
  SECTION("Hermes JSON inside <tool_call> is understood in Qwen3-Coder mode too") {
    check_all_splits("<tool_call>{\"name\": \"a\", \"arguments\": {\"k\": 1}}</tool_call>", expect("", {{"a", {{"k", 1}}}}),
                     opts);
  }
  SECTION("no format: everything is content") {
    ToolParserOptions o;
    o.format = ToolCallFormat::kNone;
    check_all_splits("<tool_call>\n<function=a>\n</function>\n</tool_call>",
                     expect("<tool_call>\n<function=a>\n</function>\n</tool_call>", {}), o);
  }
  SECTION("ids and indexes") {
    auto r = parse_tool_calls("<function=a>\n</function><function=b>\n</function>", opts);
    REQUIRE(r.tool_calls.size() == 2);
    CHECK(r.tool_calls[0].id == "call_0");
    CHECK(r.tool_calls[1].id == "call_1");
    CHECK(r.to_json(true)["tool_calls"][1]["id"] == "call_1");
  }
}
