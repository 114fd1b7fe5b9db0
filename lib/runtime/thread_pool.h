// Persistent worker threads for the CPU backend: ops split their work with
// parallel_for instead of creating threads per op. Work is handed out in
// chunks from an atomic counter (a thread delayed by the OS holds up no one);
// idle threads poll briefly (5 ms unless the pool has more threads than the
// process has CPUs; NEXTLM_POOL_SPIN_US overrides) before sleeping on a
// condition variable.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nextlm::runtime {

class ThreadPool {
 public:
  // n_threads counts the calling thread, which takes a share of every job.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint ranges covering [0, n), split in
  // contiguous chunks of at least `grain` items (except a last, shorter one),
  // handed out dynamically: a thread may get several. Returns when all are done;
  // the first exception thrown by fn is rethrown here.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker(int index);
  void run_share(int index);

  std::chrono::microseconds spin_;  // how long idle threads poll before sleeping
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) to publish a job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int64_t> next_{0};         // first index not yet handed out
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;  // guarded by mu_
};

}  // namespace nextlm::runtime
