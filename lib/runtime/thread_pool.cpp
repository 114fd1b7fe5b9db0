#include "runtime/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NLM_CPU_RELAX() _mm_pause()
#else
#define NLM_CPU_RELAX() std::this_thread::yield()
#endif

namespace nextlm::runtime {

namespace {
// CPUs this process may run on.
int usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

// How long a thread polls before it sleeps on the condition variable: 5 ms
// when the pool has no more threads than the process has CPUs, else a few
// polls only (oversubscribed, spinning takes CPU from the very thread being
// waited for: tg 3.3 vs 3.6 tok/s with 50 us on a loaded machine). A decode
// step is ~100 short jobs with serial work between them; a sleeping thread's
// wake-up (futex, and in a VM a halted vCPU) lands on that path. Measured on
// the idle 2-core VM, alternating runs: tg64 +5% with 5 ms over 50 us (IQ3_M
// 37.2 vs 35.4 tok/s, Q4_K_M 38.8 vs 36.4); idle threads stop polling 5 ms
// after the last job. NEXTLM_POOL_SPIN_US overrides it.
std::chrono::microseconds spin_time(int n_threads) {
  if (const char* env = std::getenv("NEXTLM_POOL_SPIN_US")) return std::chrono::microseconds(std::atoi(env));
  return std::chrono::microseconds(n_threads <= usable_cpus() ? 5000 : 0);
}

// Polls pred until it holds or `limit` passes; true if it holds. After the
// first 50 us each round also yields the CPU, so that a thread of another
// process that shares it runs instead (otherwise two processes that each fit
// the machine would spin against each other: the test suite at -j2 took 2.3x
// as long with a plain 5 ms spin).
template <typename Pred>
bool spin_until(Pred pred, std::chrono::microseconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      NLM_CPU_RELAX();
    }
    const auto waited = std::chrono::steady_clock::now() - t0;
    if (waited >= limit) return pred();
    if (waited >= std::chrono::microseconds(50)) std::this_thread::yield();
  }
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : spin_(spin_time(std::max(1, n_threads))) {
  for (int i = 1; i < std::max(1, n_threads); ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

// Takes chunks of the current job until none is left: dynamic, so a thread
// that the OS delays (other processes on the same cores) holds up no one.
void ThreadPool::run_share(int) {
  for (;;) {
    const int64_t begin = next_.fetch_add(job_chunk_, std::memory_order_relaxed);
    if (begin >= job_n_) return;
    const int64_t end = std::min(job_n_, begin + job_chunk_);
    try {
      (*job_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto ready = [&] {
      return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spin_until(ready, spin_)) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, ready);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    run_share(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);  // pairs with the predicate check in parallel_for
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t threads = std::min<int64_t>(size(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    // A few chunks per thread (NEXTLM_POOL_CHUNKS, default 4), none smaller than the grain.
    static const int64_t per_thread = [] {
      const char* env = std::getenv("NEXTLM_POOL_CHUNKS");
      return std::max<int64_t>(1, env ? std::atoi(env) : 4);
    }();
    const int64_t parts = per_thread * size();
    job_chunk_ = std::max<int64_t>(std::max<int64_t>(1, grain), (n + parts - 1) / parts);
    next_.store(0, std::memory_order_relaxed);
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  run_share(0);
  auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done, spin_)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, done);
  }
  std::lock_guard<std::mutex> lock(mu_);
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace nextlm::runtime
