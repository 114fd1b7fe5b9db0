// nextlm-chat: a terminal chat with streaming.
//   nextlm-chat MODEL [-p PROMPT] [-n MAX_TOKENS] [--temp T] [--ctx N] [--threads N]
//               [--device D | --devices D,D [--split layer|tensor] [--tensor-split R,R]] [--cpu-moe N]
// With -p it answers once and exits (non-interactive). Interactive commands:
// /reset, /save FILE, /load FILE, /quit.
#include <cstdio>
#include <fstream>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "nextlm/chat.h"
#include "nextlm/error.h"
#include "nextlm/model.h"
#include "nextlm/session.h"

namespace {

struct Options {
  std::string model, prompt;
  int max_tokens = 256;
  float temperature = 0.7f;
  int64_t n_ctx = 8192;
  int threads = 0;
  std::string device = "cpu", devices, split = "layer", tensor_split;
  int cpu_moe = 0;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "-p") o.prompt = value();
    else if (a == "-n") o.max_tokens = std::stoi(value());
    else if (a == "--temp") o.temperature = std::stof(value());
    else if (a == "--ctx") o.n_ctx = std::stoll(value());
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--device") o.device = value();
    else if (a == "--devices") o.devices = value();
    else if (a == "--split") o.split = value();
    else if (a == "--tensor-split") o.tensor_split = value();
    else if (a == "--cpu-moe") o.cpu_moe = std::stoi(value());
    else if (!a.empty() && a[0] == '-') throw std::runtime_error("unknown option " + a);
    else o.model = a;
  }
  if (o.model.empty()) throw std::runtime_error("usage: nextlm-chat MODEL [-p PROMPT] [-n N] [--temp T] [--ctx N]");
  return o;
}

// One turn: the whole conversation goes in, the session reuses its prefix.
void answer(nextlm::Session& s, nlohmann::json& messages, const Options& o) {
  nextlm::ChatOptions c;
  c.generate.max_tokens = o.max_tokens;
  c.generate.sampling.temperature = o.temperature;
  c.generate.on_text = [](std::string_view t) {
    std::fwrite(t.data(), 1, t.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  nextlm::ChatResult r = nextlm::chat_completion(s, messages.dump(), c);
  std::printf("\n");
  std::fprintf(stderr, "[%lld prompt tokens, %lld cached, %lld generated, %.1f tok/s]\n",
               static_cast<long long>(r.prompt.prompt_tokens), static_cast<long long>(r.prompt.cached_tokens),
               static_cast<long long>(r.generation.generated_tokens),
               r.generation.seconds > 0 ? r.generation.generated_tokens / r.generation.seconds : 0.0);
  messages.push_back({{"role", "assistant"}, {"content", r.content}});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    nextlm::ModelParams mp;
    mp.n_threads = o.threads;
    mp.device = o.device;
    mp.devices = o.devices;
    mp.split = o.split;
    mp.tensor_split = o.tensor_split;
    mp.cpu_moe = o.cpu_moe;
    mp.n_ctx_hint = o.n_ctx;
    auto model = nextlm::Model::load(o.model, mp);
    nextlm::Session session(model, {.n_ctx = o.n_ctx});
    nlohmann::json messages = nlohmann::json::array();
    if (!o.prompt.empty()) {
      messages.push_back({{"role", "user"}, {"content", o.prompt}});
      answer(session, messages, o);
      return 0;
    }
    std::fprintf(stderr, "nextlm-chat: %s (%s). /reset /save FILE /load FILE /quit\n", o.model.c_str(),
                 model->name().c_str());
    std::string line;
    while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
      if (line == "/quit") break;
      if (line == "/reset") {
        messages = nlohmann::json::array();
        continue;
      }
      if (line.rfind("/save ", 0) == 0 || line.rfind("/load ", 0) == 0) {
        const std::string path = line.substr(6);
        try {
          if (line[1] == 's') {
            session.save_file(path);
            std::ofstream(path + ".json") << messages.dump();
          } else {
            session.load_file(path);
            std::ifstream in(path + ".json");
            messages = in ? nlohmann::json::parse(in) : nlohmann::json::array();
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "error: %s\n", e.what());
        }
        continue;
      }
      messages.push_back({{"role", "user"}, {"content", line}});
      answer(session, messages, o);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nextlm-chat: error: %s\n", e.what());
    return 1;
  }
}
