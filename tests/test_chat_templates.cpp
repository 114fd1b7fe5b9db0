// Chat templates against fixtures/templates: the 36 real templates x 6
// conversations must match Python jinja2's renders byte for byte (and fail
// where Python fails, with the same message); the extra templates must
// render or fail cleanly; the GGUF's own template is found and used.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat_fixtures.h"
#include "fixtures.h"
#include "gguf/gguf_reader.h"

using namespace nextlm::chat;
using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) { return nextlm::test::read_text(p.string()); }
using nextlm::test::request_for;
using nextlm::test::templates_in;

}  // namespace

TEST_CASE("chat templates match Python jinja2 on every fixture conversation", "[chat][fixtures]") {
  const fs::path root = nextlm::test::fixture("templates");
  const ordered_json convs = ordered_json::parse(slurp(root / "conversations.json"));
  jinja::RenderOptions opts;
  opts.now = nextlm::test::fixture_now();
  int matched = 0, total = 0, errors = 0;
  for (const fs::path& path : templates_in(root / "jinja")) {
    const std::string stem = path.stem().string();
    const ChatTemplate tmpl(slurp(path));
    for (const ordered_json& c : convs) {
      const std::string base = (root / "expected" / (stem + "__" + c["name"].get<std::string>())).string();
      INFO(base);
      ++total;
      if (fs::exists(base + ".txt")) {
        std::string got;
        try {
          got = tmpl.render(request_for(c), opts);
        } catch (const jinja::TemplateError& e) {
          FAIL("unexpected error: " << e.what());
        }
        CHECK(got == slurp(base + ".txt"));
        matched += got == slurp(base + ".txt");
      } else {
        REQUIRE(fs::exists(base + ".error"));
        ++errors;
        try {
          tmpl.render(request_for(c), opts);
          FAIL("rendering should have failed");
        } catch (const jinja::TemplateError& e) {
          CHECK(e.python_message() + "\n" == slurp(base + ".error"));
          matched += e.python_message() + "\n" == slurp(base + ".error");
        }
      }
    }
  }
  CHECK(total == 216);
  CHECK(errors == 10);
  CHECK(matched == total);
}

TEST_CASE("extra chat templates render or fail cleanly", "[chat][fixtures]") {
  const fs::path root = nextlm::test::fixture("templates");
  const ordered_json convs = ordered_json::parse(slurp(root / "conversations.json"));
  int rendered = 0;
  for (const fs::path& path : templates_in(root / "extra-jinja")) {
    INFO(path.string());
    const ChatTemplate tmpl(slurp(path));
    for (const ordered_json& c : convs) {
      std::string out;
      try {
        out = tmpl.render(request_for(c));
      } catch (const jinja::TemplateError&) {
        continue;
      }
      CHECK(!out.empty());
      ++rendered;
    }
  }
  CHECK(rendered >= 160);  // Python renders 167 of the 174
}

TEST_CASE("chat template comes from the GGUF and names its tool-call format", "[chat][fixtures]") {
  auto file = nextlm::gguf::GgufFile::open(nextlm::test::fixture("models/tiny-qwen3next-bf16.gguf"));
  const ChatTemplate tmpl = ChatTemplate::from_gguf(*file);
  CHECK(tmpl.source() == slurp(nextlm::test::fixture("templates/jinja/Qwen3-Coder.jinja")));
  CHECK(tmpl.tool_call_format() == ToolCallFormat::kQwen3CoderXml);
  CHECK(ChatTemplate::template_names(*file) == std::vector<std::string>{""});
  CHECK_THROWS_AS(ChatTemplate::from_gguf(*file, "tool_use"), nextlm::Error);
  ChatRequest req;
  req.messages = ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  CHECK(tmpl.render(req) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("tool-call format detection from templates", "[chat][fixtures]") {
  const fs::path dir = nextlm::test::fixture("templates/jinja");
  CHECK(detect_tool_call_format(slurp(dir / "Qwen3-Coder.jinja")) == ToolCallFormat::kQwen3CoderXml);
  CHECK(detect_tool_call_format(slurp(dir / "Qwen-Qwen3-0.6B.jinja")) == ToolCallFormat::kHermesJson);
  CHECK(detect_tool_call_format(slurp(dir / "Qwen-Qwen2.5-7B-Instruct.jinja")) == ToolCallFormat::kHermesJson);
  CHECK(detect_tool_call_format(slurp(dir / "llama-cpp-rwkv-world.jinja")) == ToolCallFormat::kNone);
}
