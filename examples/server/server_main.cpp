// nextlm-server: an OpenAI-compatible HTTP server over one model, with N
// slots decoded together (see slot_scheduler.h). It listens before loading
// the model so that /health can answer 503 while loading.
#include <httplib.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include "args.h"
#include "http_routes.h"
#include "nextlm/error.h"
#include "server_options.h"

using namespace nextlm;
using namespace nextlm::server;

namespace {

// main waits here until a signal arrives or the listener ends by itself.
struct StopLatch {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  void trigger() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
  }
  bool triggered() {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
};

}  // namespace

int main(int argc, char** argv) {
  ServerOptions opts;
  try {
    opts = parse_server_options(argc, argv);
  } catch (const cli::UsageError& e) {
    if (!e.message.empty()) std::fprintf(stderr, "nextlm-server: %s\n", e.message.c_str());
    std::fprintf(stderr, "%s\n", kServerUsage);
    return e.message.empty() ? 0 : 2;
  }

  // SIGINT/SIGTERM are blocked in every thread (they inherit this mask) and
  // taken by one waiting thread, so a shutdown runs as ordinary code.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that vanished must fail a write, not end the process

  ServerState st(opts);
  st.created = static_cast<int64_t>(std::time(nullptr));
  httplib::Server svr;
  svr.set_payload_max_length(opts.max_body_bytes);
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);
  // A thread per open connection: every slot and queue place, plus a few for /health and /metrics.
  const size_t n_threads = static_cast<size_t>(opts.slots) + opts.queue + 8;
  svr.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
  install_routes(svr, st);

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
  } else if (!svr.bind_to_port(opts.host, port)) {
    port = -1;
  }
  if (port < 0) {
    std::fprintf(stderr, "nextlm-server: cannot listen on %s:%d\n", opts.host.c_str(), opts.port);
    return 1;
  }
  std::fprintf(stderr, "nextlm-server: listening on http://%s:%d\n", opts.host.c_str(), port);

  StopLatch latch;
  std::thread http([&] {
    svr.listen_after_bind();
    latch.trigger();
  });
  std::atomic<bool> quit_signals{false};
  std::thread signals([&] {
    while (!quit_signals) {
      const timespec tick{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig > 0) {
        std::fprintf(stderr, "nextlm-server: signal %d, stopping\n", sig);
        latch.trigger();
        return;
      }
    }
  });

  int rc = 0;
  try {
    ModelParams mp = opts.model;
    mp.progress = [&](float) { return !latch.triggered(); };
    st.model = Model::load(opts.model_path, mp);
    if (!opts.test_reply.empty()) {
      // Test-only: a fixed reply (e.g. a tool call) that a random test model cannot be made to write.
      st.test_reply_tokens = st.model->tokenize(opts.test_reply, true);
      if (st.model->eos_token() >= 0) st.test_reply_tokens.push_back(st.model->eos_token());
      std::fprintf(stderr, "nextlm-server: TEST MODE: every chat reply is the --test-reply text\n");
    }
    st.scheduler = std::make_unique<SlotScheduler>(st.model, opts.session, opts.slots, opts.queue, st.metrics);
    st.ready = true;
    std::fprintf(stderr, "nextlm-server: ready (%s, %d slots x %lld tokens)\n", opts.model_alias.c_str(), opts.slots,
                 static_cast<long long>(opts.session.n_ctx));
  } catch (const Error& e) {
    if (!(e.code() == ErrorCode::kCancelled && latch.triggered())) {
      std::fprintf(stderr, "nextlm-server: %s\n", e.what());
      rc = 1;
    }
    latch.trigger();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nextlm-server: %s\n", e.what());
    rc = 1;
    latch.trigger();
  }

  latch.wait();
  // Running and queued requests end first (their handlers return), then the listener.
  if (st.scheduler) st.scheduler->stop();
  svr.stop();
  http.join();
  quit_signals = true;
  signals.join();
  std::fprintf(stderr, "nextlm-server: stopped\n");
  return rc;
}
