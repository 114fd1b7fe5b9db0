// Continuous batching over a fixed set of slots. Each slot keeps its Session
// between requests (its tokens are a reusable prefix); a queued request goes
// to the free slot that can reuse the most of its prompt. One thread
// runs everything model-related: it starts requests (prompt processing),
// then advances all running slots one token per step with decode_together().
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "job.h"
#include "metrics.h"
#include "nextlm/model.h"
#include "nextlm/session.h"

namespace nextlm::server {

class SlotScheduler {
 public:
  SlotScheduler(std::shared_ptr<Model> model, const SessionParams& params, int n_slots, size_t max_queue,
                Metrics& metrics);
  ~SlotScheduler();

  // False when every slot is busy and the queue is full (the caller answers 503).
  bool submit(std::shared_ptr<Job> job);
  // Fails queued and running jobs and ends the thread; idempotent.
  void stop();
  SlotStats stats() const;
  int64_t n_ctx() const { return params_.n_ctx; }

 private:
  struct Slot {
    std::unique_ptr<Session> session;
    std::shared_ptr<Job> job;
    bool started = false;  // its prompt has been processed; it decodes with the others
    uint64_t last_used = 0;
    int64_t cached = 0;  // session tokens, mirrored for stats()
  };

  void run();
  size_t pick_slot(const Job& job) const;
  void start(Slot& slot);
  void step();
  void finish(Slot& slot);
  void reset(Slot& slot, int status, const std::string& message);
  void publish_stats();

  std::shared_ptr<Model> model_;
  SessionParams params_;
  size_t max_queue_;
  Metrics& metrics_;

  std::vector<Slot> slots_;  // scheduler thread only
  uint64_t clock_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  int free_slots_ = 0;  // mirrored under mu_ for submit()
  bool stopping_ = false;
  SlotStats stats_;

  std::thread thread_;
};

}  // namespace nextlm::server
