// The HTTP endpoints: /v1/chat/completions, /v1/completions, /v1/models,
// /health, /metrics, plus API-key checks and OpenAI-shaped error bodies.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "metrics.h"
#include "nextlm/model.h"
#include "server_options.h"
#include "slot_scheduler.h"

namespace httplib {
class Server;
}

namespace nextlm::server {

struct ServerState {
  explicit ServerState(const ServerOptions& o) : opts(o) {}
  const ServerOptions& opts;
  Metrics metrics;
  int64_t created = 0;  // unix time the server started
  // Set once by main before `ready`; handlers read them only when ready.
  std::shared_ptr<Model> model;
  std::unique_ptr<SlotScheduler> scheduler;
  std::vector<int32_t> test_reply_tokens;
  std::atomic<bool> ready{false};
  std::atomic<uint64_t> next_id{1};
};

void install_routes(httplib::Server& svr, ServerState& state);

}  // namespace nextlm::server
