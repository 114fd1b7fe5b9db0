#include "server_options.h"

#include <filesystem>

#include "args.h"

namespace nextlm::server {

const char* const kServerUsage =
    "usage: nextlm-server -m MODEL [--ctx N (per slot)] [--slots N] [--queue N] [--host 127.0.0.1] [--port 8080]\n"
    "  [--api-key KEY] [--alias NAME] [--threads N] [--cache-type-k T] [--cache-type-v T] [--batch N]\n"
    "  [--device D | --devices cpu:0,cpu:1|cuda:0,... [--split layer] [--tensor-split 1,1]] [--cpu-moe N]\n"
    "  [--max-body BYTES] [--no-mmap] [--no-huge-pages] [--parse-special-in-input] [--test-reply TEXT (tests only)]";

ServerOptions parse_server_options(int argc, char** argv) {
  using cli::UsageError;
  cli::Args args(argc - 1, argv + 1,
                 {"m", "model", "ctx", "cache-type-k", "cache-type-v", "device", "devices", "split", "tensor-split",
                  "cpu-moe", "threads", "slots", "host", "port", "queue", "api-key", "alias", "batch", "max-body",
                  "test-reply"},
                 {"no-mmap", "no-huge-pages", "parse-special-in-input", "help", "h"});
  if (args.has("help") || args.has("h")) throw UsageError{""};
  ServerOptions o;
  o.model_path = args.get("model", args.get("m"));
  if (o.model_path.empty() && args.positionals().size() == 1) o.model_path = args.positionals()[0];
  if (o.model_path.empty()) throw UsageError{"give the model with -m FILE"};
  if (args.positionals().size() > (args.has("model") || args.has("m") ? 0u : 1u)) {
    throw UsageError{"unexpected argument " + args.positionals().back()};
  }
  o.model_alias = args.get("alias", std::filesystem::path(o.model_path).filename().string());

  if (args.has("device") && args.has("devices")) throw UsageError{"give --device or --devices, not both"};
  o.model.device = args.get("device", "cpu");
  o.model.devices = args.get("devices", "");
  o.model.split = args.get("split", "layer");
  o.model.tensor_split = args.get("tensor-split", "");
  o.model.cpu_moe = static_cast<int>(args.get_int("cpu-moe", 0));
  o.model.n_threads = static_cast<int>(args.get_int("threads", 0));
  o.model.use_mmap = !args.has("no-mmap");
  o.model.cpu_huge_pages = !args.has("no-huge-pages");
  if (o.model.n_threads < 0 || o.model.n_threads > 1024) throw UsageError{"--threads out of range"};

  o.session.n_ctx = args.get_int("ctx", 4096);
  o.session.cache_type_k = args.get("cache-type-k", "f16");
  o.session.cache_type_v = args.get("cache-type-v", "f16");
  o.session.n_batch = args.get_int("batch", 512);
  if (o.session.n_ctx <= 0 || o.session.n_ctx > (int64_t{1} << 24)) throw UsageError{"--ctx out of range"};
  if (o.session.n_batch <= 0) throw UsageError{"--batch must be positive"};
  o.model.n_ctx_hint = o.session.n_ctx;

  const long long slots = args.get_int("slots", 4), queue = args.get_int("queue", 16);
  if (slots < 1 || slots > 256) throw UsageError{"--slots must be in [1, 256]"};
  if (queue < 0 || queue > 4096) throw UsageError{"--queue must be in [0, 4096]"};
  o.slots = static_cast<int>(slots);
  o.queue = static_cast<size_t>(queue);
  o.host = args.get("host", "127.0.0.1");
  const long long port = args.get_int("port", 8080);
  if (port < 0 || port > 65535) throw UsageError{"--port must be in [0, 65535]"};
  o.port = static_cast<int>(port);
  o.api_key = args.get("api-key", "");
  const long long body = args.get_int("max-body", static_cast<long long>(o.max_body_bytes));
  if (body < 1024) throw UsageError{"--max-body must be at least 1024"};
  o.max_body_bytes = static_cast<size_t>(body);
  o.test_reply = args.get("test-reply", "");
  o.parse_special_in_input = args.has("parse-special-in-input");
  return o;
}

}  // namespace nextlm::server
