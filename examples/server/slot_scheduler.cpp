#include "slot_scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "nextlm/error.h"

namespace nextlm::server {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

ChatResult completion_result(const PromptResult& prompt, const GenerateResult& gen) {
  ChatResult r;
  r.prompt = prompt;
  r.generation = gen;
  r.content = gen.text;
  r.raw_text = gen.text;
  switch (gen.stop_reason) {
    case StopReason::kMaxTokens:
    case StopReason::kContextFull: r.finish_reason = "length"; break;
    case StopReason::kCancelled: r.finish_reason = "cancelled"; break;
    default: r.finish_reason = "stop";
  }
  return r;
}

}  // namespace

SlotScheduler::SlotScheduler(std::shared_ptr<Model> model, const SessionParams& params, int n_slots, size_t max_queue,
                             Metrics& metrics)
    : model_(std::move(model)), params_(params), max_queue_(max_queue), metrics_(metrics) {
  slots_.resize(static_cast<size_t>(n_slots));
  for (Slot& s : slots_) s.session = std::make_unique<Session>(model_, params_);
  free_slots_ = n_slots;
  publish_stats();
  thread_ = std::thread([this] { run(); });
}

SlotScheduler::~SlotScheduler() { stop(); }

bool SlotScheduler::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    // Jobs whose clients left while queued give their places back now.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->cancelled) {
        (*it)->fail(499, "cancelled");
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    // Free slots take jobs at the next step; beyond them only max_queue_ may wait.
    if (queue_.size() >= max_queue_ + static_cast<size_t>(free_slots_)) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return true;
}

void SlotScheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SlotStats SlotScheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SlotStats s = stats_;
  s.queued = queue_.size();
  return s;
}

void SlotScheduler::publish_stats() {
  SlotStats s;
  s.slots = static_cast<int>(slots_.size());
  for (const Slot& slot : slots_) {
    s.busy += slot.job ? 1 : 0;
    s.cached_tokens += slot.cached;
  }
  s.capacity_tokens = params_.n_ctx * s.slots;
  std::lock_guard<std::mutex> lock(mu_);
  stats_ = s;
  free_slots_ = s.slots - s.busy;
}

size_t SlotScheduler::pick_slot(const Job& job) const {
  // Most reusable prefix first (an agent's next turn lands where its history
  // is); among equals the least recently used, so fresh caches survive longer.
  size_t best = slots_.size();
  int64_t best_reuse = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.job) continue;
    const int64_t reuse = s.session->reusable_prefix(job.prompt);
    if (best == slots_.size() || reuse > best_reuse || (reuse == best_reuse && s.last_used < slots_[best].last_used)) {
      best = i;
      best_reuse = reuse;
    }
  }
  return best;
}

void SlotScheduler::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool running = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
      cv_.wait(lock, [&] { return stopping_ || running || (!queue_.empty() && free_slots_ > 0); });
      if (stopping_) break;
      while (!queue_.empty()) {
        std::shared_ptr<Job> job = queue_.front();
        if (job->cancelled) {  // its client left while it waited
          queue_.pop_front();
          job->fail(499, "cancelled");
          continue;
        }
        const size_t i = pick_slot(*job);
        if (i == slots_.size()) break;
        queue_.pop_front();
        --free_slots_;  // now, not at the next publish_stats(): submit() counts on it
        slots_[i].job = std::move(job);
        slots_[i].last_used = ++clock_;
      }
    }
    // Prompt processing is not batched with decoding: while slots decode, start one
    // request per step, so that a burst of new prompts does not stall them all at once.
    const bool decoding = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job && s.started; });
    for (Slot& s : slots_) {
      if (!s.job || s.started) continue;
      start(s);
      if (decoding) break;
    }
    step();
    publish_stats();
  }
  // Shutting down: nobody will run what is left.
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (auto& job : left) job->fail(503, "the server is shutting down");
  for (Slot& s : slots_) {
    if (s.job) s.job->fail(503, "the server is shutting down");
    s.job.reset();
  }
}

void SlotScheduler::start(Slot& slot) {
  Job& job = *slot.job;
  slot.started = true;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    PromptResult pr;
    if (job.kind == Job::Kind::kChat) {
      pr = job.chat->start(*slot.session);
    } else {
      pr = slot.session->set_prompt(job.prompt);
      job.completion = std::make_unique<Generation>(*slot.session, job.generate);
    }
    job.prompt_result = pr;
    metrics_.count_prompt(pr.prompt_tokens, pr.cached_tokens, seconds_since(t0));
    slot.cached = static_cast<int64_t>(slot.session->tokens().size());
  } catch (const Error& e) {
    reset(slot, e.code() == ErrorCode::kInvalidArgument ? 400 : 500, e.what());
  } catch (const std::exception& e) {
    reset(slot, 500, e.what());
  }
}

void SlotScheduler::step() {
  std::vector<Generation*> gens;
  std::vector<Slot*> running;
  for (Slot& s : slots_) {
    if (!s.job || !s.started) continue;
    Job& job = *s.job;
    Generation& g = job.kind == Job::Kind::kChat ? job.chat->generation() : *job.completion;
    if (job.cancelled) s.session->cancel();
    if (job.scripted_pos < job.scripted.size() && !g.done()) g.force_next(job.scripted[job.scripted_pos++]);
    gens.push_back(&g);
    running.push_back(&s);
  }
  if (gens.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> before;
  for (Generation* g : gens) before.push_back(g->result().generated_tokens);
  try {
    decode_together(gens);
  } catch (const std::exception& e) {
    // A failed batched pass leaves the sessions' states unknown: start them afresh.
    std::fprintf(stderr, "nextlm-server: decode failed: %s\n", e.what());
    for (Slot* s : running) reset(*s, 500, e.what());
    return;
  }
  int64_t produced = 0;
  for (size_t i = 0; i < gens.size(); ++i) produced += gens[i]->result().generated_tokens - before[i];
  metrics_.count_decode_step(produced, seconds_since(t0));
  for (Slot* s : running) {
    s->cached = static_cast<int64_t>(s->session->tokens().size());
    Job& job = *s->job;
    const bool done = job.kind == Job::Kind::kChat ? job.chat->done() : job.completion->done();
    if (done) finish(*s);
  }
}

void SlotScheduler::finish(Slot& slot) {
  std::shared_ptr<Job> job = std::move(slot.job);
  slot.job.reset();
  slot.started = false;
  try {
    if (job->kind == Job::Kind::kChat) {
      job->complete(job->chat->finish());
    } else {
      job->complete(completion_result(job->prompt_result, job->completion->result()));
    }
  } catch (const std::exception& e) {
    job->fail(500, e.what());
  }
}

void SlotScheduler::reset(Slot& slot, int status, const std::string& message) {
  if (slot.job) slot.job->fail(status, message);
  slot.job.reset();
  slot.started = false;
  try {
    slot.session = std::make_unique<Session>(model_, params_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nextlm-server: could not recreate a slot's session: %s\n", e.what());
  }
  slot.cached = 0;
}

}  // namespace nextlm::server
