// Counters for GET /metrics, rendered in the Prometheus text format.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace nextlm::server {

// What the scheduler reports about its slots when metrics are rendered.
struct SlotStats {
  int slots = 0;
  int busy = 0;
  size_t queued = 0;
  int64_t cached_tokens = 0;    // tokens held by all slots' sessions
  int64_t capacity_tokens = 0;  // slots x context
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void count_rejected();  // queue full
  void count_prompt(int64_t prompt_tokens, int64_t cached_tokens, double seconds);
  void count_decode_step(int64_t tokens, double seconds);

  std::string render(const SlotStats& slots, bool ready) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t rejected_ = 0;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, completion_tokens_ = 0;
  double prompt_seconds_ = 0, decode_seconds_ = 0;
};

}  // namespace nextlm::server
