// nextlm-server's command line; the model and session flags are spelled as
// the `nextlm` commands spell them (parsed with the same cli::Args).
#pragma once

#include <cstdint>
#include <string>

#include "nextlm/model.h"
#include "nextlm/session.h"

namespace nextlm::server {

struct ServerOptions {
  std::string model_path;
  std::string model_alias;  // the id /v1/models reports (default: the file name)
  ModelParams model;
  SessionParams session;  // per slot: n_ctx is each slot's context
  int slots = 4;
  size_t queue = 16;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed on start)
  std::string api_key;
  size_t max_body_bytes = 8u << 20;
  bool parse_special_in_input = false;  // raw behaviour: control-token text in messages becomes tokens
  std::string test_reply;  // test-only: chat replies are this text, fed instead of sampled
};

extern const char* const kServerUsage;

// Throws cli::UsageError.
ServerOptions parse_server_options(int argc, char** argv);

}  // namespace nextlm::server
