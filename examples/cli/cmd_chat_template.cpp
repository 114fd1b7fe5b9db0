// `nextlm render-template (--template FILE.jinja | --model MODEL.gguf [--name NAME])
//  --conversations FILE.json --out DIR [--now 2026-01-02T03:04:05]`:
// renders every conversation with the chat template, writing
// DIR/<template stem>__<conversation name>.txt, or .error holding the message
// when rendering fails (the layout of fixtures/templates/expected).
// bos_token/eos_token are "<BOS>"/"<EOS>".
#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "chat/chat_template.h"
#include "commands.h"
#include "gguf/gguf_reader.h"

namespace nextlm::cli {

namespace {

using nlohmann::ordered_json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(ErrorCode::kIo, "cannot write " + path.string());
}

std::tm parse_now(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &sec, &tail) != 6)
    throw UsageError{"--now expects YYYY-MM-DDTHH:MM:SS, got '" + s + "'"};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  std::tm copy = tm;
  timegm(&copy);  // fills in the weekday and day of the year
  tm.tm_wday = copy.tm_wday;
  tm.tm_yday = copy.tm_yday;
  return tm;
}

}  // namespace

int cmd_render_template(int argc, char** argv) {
  Args args(argc, argv, {"template", "model", "name", "conversations", "out", "now"}, {});
  if (args.has("template") == args.has("model")) throw UsageError{"give one of --template or --model"};
  const std::string conv_path = args.require("conversations");
  const std::filesystem::path out_dir = args.require("out");

  std::string stem;
  std::optional<chat::ChatTemplate> tmpl;
  std::string parse_error;
  if (args.has("template")) {
    const std::string path = args.get("template");
    stem = std::filesystem::path(path).stem().string();
    try {
      tmpl.emplace(read_text(path));
    } catch (const chat::jinja::TemplateError& e) {
      parse_error = e.python_message();  // every conversation fails the same way
    }
  } else {
    auto file = gguf::GgufFile::open(args.get("model"));
    stem = std::filesystem::path(args.get("model")).stem().string();
    tmpl.emplace(chat::ChatTemplate::from_gguf(*file, args.get("name")));
  }

  chat::jinja::RenderOptions opts;
  if (args.has("now")) opts.now = parse_now(args.get("now"));

  const ordered_json convs = ordered_json::parse(read_text(conv_path));
  if (!convs.is_array()) throw Error(ErrorCode::kInvalidArgument, conv_path + ": expected a JSON array of conversations");
  std::filesystem::create_directories(out_dir);
  int rendered = 0, failed = 0;
  for (const ordered_json& c : convs) {
    const std::string name = c.value("name", "conversation" + std::to_string(rendered + failed));
    chat::ChatRequest req;
    req.bos_token = "<BOS>";
    req.eos_token = "<EOS>";
    for (const auto& [k, v] : c.items()) {
      if (k == "name") continue;
      else if (k == "messages") req.messages = v;
      else if (k == "tools") req.tools = v;
      else if (k == "add_generation_prompt") req.add_generation_prompt = v.is_boolean() && v.get<bool>();
      else req.extra[k] = v;
    }
    if (!c.contains("add_generation_prompt")) req.add_generation_prompt = false;  // as apply_chat_template
    const std::filesystem::path base = out_dir / (stem + "__" + name);
    std::string error = parse_error;
    if (error.empty()) {
      try {
        write_text(base.string() + ".txt", tmpl->render(req, opts));
        std::filesystem::remove(base.string() + ".error");
        ++rendered;
        continue;
      } catch (const chat::jinja::TemplateError& e) {
        error = e.python_message();
      }
    }
    write_text(base.string() + ".error", error + "\n");
    std::filesystem::remove(base.string() + ".txt");
    ++failed;
  }
  fmt::print(stderr, "{}: {} rendered, {} failed\n", stem, rendered, failed);
  return 0;
}

}  // namespace nextlm::cli
