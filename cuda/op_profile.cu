#include "op_profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nextlm::cuda {

namespace {
// Events pending before they are settled: bounds the memory, and one wait per
// this many ops keeps the profile's own cost small.
constexpr size_t kSettleEvery = 4096;
}  // namespace

OpProfile::OpProfile(int device) : device_(device) {
  const char* v = std::getenv("NEXTLM_CUDA_OP_PROFILE");
  enabled_ = v && *v && std::strcmp(v, "0") != 0;
}

OpProfile::~OpProfile() {
  if (!enabled_) return;
  report();
  for (cudaEvent_t e : free_) cudaEventDestroy(e);
  cudaGetLastError();
}

cudaEvent_t OpProfile::take_event() {
  if (free_.empty()) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreate(&e) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return e;
  }
  cudaEvent_t e = free_.back();
  free_.pop_back();
  return e;
}

OpProfile::Scope::Scope(OpProfile& p, cudaStream_t s, const char* name, const char* a, const char* b) {
  if (!p.enabled_) return;
  p_ = &p;
  if (p.depth_++ > 0) return;
  start_ = p.take_event();
  if (!start_) return;
  timed_ = true;
  stream_ = s;
  name_ = name;
  for (const char* part : {a, b}) {
    if (part) name_ += std::string(" ") + part;
  }
  cudaEventRecord(start_, s);
  host0_ = std::chrono::steady_clock::now();
}

OpProfile::Scope::~Scope() {
  if (!p_) return;
  --p_->depth_;
  if (!timed_) return;
  cudaEvent_t stop = p_->take_event();
  if (!stop) {
    p_->free_.push_back(start_);
    return;
  }
  cudaEventRecord(stop, stream_);
  const double host_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - host0_).count();
  p_->pending_.push_back({std::move(name_), start_, stop, host_ms});
  if (p_->pending_.size() >= kSettleEvery) p_->settle();
}

void OpProfile::settle() {
  for (Pending& q : pending_) {
    float ms = 0;
    if (cudaEventSynchronize(q.stop) == cudaSuccess && cudaEventElapsedTime(&ms, q.start, q.stop) == cudaSuccess) {
      Total& t = totals_[q.name];
      ++t.count;
      t.ms += ms;
      t.host_ms += q.host_ms;
    } else {
      cudaGetLastError();
    }
    free_.push_back(q.start);
    free_.push_back(q.stop);
  }
  pending_.clear();
}

void OpProfile::report() {
  settle();
  if (totals_.empty()) return;
  std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double all = 0;
  for (const auto& r : rows) all += r.second.ms;
  std::string out = fmt::format("cuda:{} op profile (GPU time between events; {:.1f} ms in all)\n", device_, all);
  out += fmt::format("  {:<34} {:>9} {:>11} {:>10} {:>7} {:>12}\n", "op", "count", "total ms", "mean us", "share",
                     "host us/op");
  for (const auto& [name, t] : rows) {
    out += fmt::format("  {:<34} {:>9} {:>11.2f} {:>10.2f} {:>6.1f}% {:>12.2f}\n", name, t.count, t.ms,
                       1000.0 * t.ms / t.count, all > 0 ? 100.0 * t.ms / all : 0.0, 1000.0 * t.host_ms / t.count);
  }
  std::fputs(out.c_str(), stderr);
  totals_.clear();
}

}  // namespace nextlm::cuda
