// `nextlm parse-tools --cases FILE.json --out OUT.json [--format F] [--chunk N]`:
// parses every case's model output into content / reasoning / tool calls.
// FILE holds {"format", "tools", "cases": [{"name", "output", ...}]} (the
// layout of fixtures/toolcalls); OUT is a JSON array of {"name", "result"}
// with result {"content", ["reasoning_content",] "tool_calls": [{"name",
// "arguments"}]}. --chunk N feeds the output in pieces of N bytes through the
// streaming parser (default: all at once).
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "chat/toolcall.h"
#include "commands.h"

namespace nextlm::cli {

int cmd_parse_tools(int argc, char** argv) {
  using nlohmann::ordered_json;
  Args args(argc, argv, {"cases", "out", "format", "chunk"}, {});
  const std::string cases_path = args.require("cases");
  const std::string out_path = args.require("out");
  const long long chunk = args.get_int("chunk", 0);
  if (chunk < 0) throw UsageError{"--chunk must be positive"};

  std::ifstream in(cases_path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + cases_path);
  std::ostringstream ss;
  ss << in.rdbuf();
  const ordered_json doc = ordered_json::parse(ss.str());
  if (!doc.is_object() || !doc.contains("cases") || !doc["cases"].is_array())
    throw Error(ErrorCode::kInvalidArgument, cases_path + ": expected {\"cases\": [...]}");

  chat::ToolParserOptions opts;
  opts.format = chat::parse_tool_call_format(args.get("format", doc.value("format", "qwen3-coder-xml")));
  if (doc.contains("tools")) opts.tools = doc["tools"];

  ordered_json results = ordered_json::array();
  for (const ordered_json& c : doc["cases"]) {
    const std::string output = c.value("output", "");
    chat::ToolCallParser parser(opts);
    if (chunk > 0) {
      for (size_t i = 0; i < output.size(); i += static_cast<size_t>(chunk))
        parser.feed(std::string_view(output).substr(i, static_cast<size_t>(chunk)));
    } else {
      parser.feed(output);
    }
    parser.finish();
    results.push_back({{"name", c.value("name", "")}, {"result", parser.result().to_json()}});
  }
  std::ofstream out(out_path, std::ios::binary);
  out << results.dump(1, ' ', false, ordered_json::error_handler_t::replace) << "\n";
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + out_path);
  fmt::print(stderr, "{} cases parsed\n", results.size());
  return 0;
}

}  // namespace nextlm::cli
