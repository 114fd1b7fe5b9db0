#include "metrics.h"

#include <fmt/format.h>

namespace nextlm::server {

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::count_rejected() {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejected_;
}

void Metrics::count_prompt(int64_t prompt_tokens, int64_t cached_tokens, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt_tokens;
  cached_tokens_ += cached_tokens;
  prompt_seconds_ += seconds;
}

void Metrics::count_decode_step(int64_t tokens, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  completion_tokens_ += tokens;
  decode_seconds_ += seconds;
}

std::string Metrics::render(const SlotStats& s, bool ready) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("nextlm_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, n] : requests_) {
    out += fmt::format("nextlm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  metric("nextlm_requests_rejected_total", "counter", "Requests refused with 503 because the queue was full.");
  out += fmt::format("nextlm_requests_rejected_total {}\n", rejected_);
  metric("nextlm_prompt_tokens_total", "counter", "Prompt tokens of started requests.");
  out += fmt::format("nextlm_prompt_tokens_total {}\n", prompt_tokens_);
  metric("nextlm_prompt_cached_tokens_total", "counter", "Prompt tokens reused from a slot's cache.");
  out += fmt::format("nextlm_prompt_cached_tokens_total {}\n", cached_tokens_);
  metric("nextlm_completion_tokens_total", "counter", "Generated tokens.");
  out += fmt::format("nextlm_completion_tokens_total {}\n", completion_tokens_);
  metric("nextlm_prompt_tokens_per_second", "gauge", "Prompt tokens processed per second of prompt processing.");
  out += fmt::format("nextlm_prompt_tokens_per_second {:.3f}\n",
                     prompt_seconds_ > 0 ? (prompt_tokens_ - cached_tokens_) / prompt_seconds_ : 0.0);
  metric("nextlm_generation_tokens_per_second", "gauge", "Generated tokens per second of batched decoding.");
  out += fmt::format("nextlm_generation_tokens_per_second {:.3f}\n",
                     decode_seconds_ > 0 ? completion_tokens_ / decode_seconds_ : 0.0);
  metric("nextlm_slots", "gauge", "Decoding slots.");
  out += fmt::format("nextlm_slots {}\n", s.slots);
  metric("nextlm_slots_busy", "gauge", "Slots running a request.");
  out += fmt::format("nextlm_slots_busy {}\n", s.busy);
  metric("nextlm_queue_length", "gauge", "Requests waiting for a slot.");
  out += fmt::format("nextlm_queue_length {}\n", s.queued);
  metric("nextlm_cache_tokens", "gauge", "Tokens held in the slots' caches (reusable prefixes).");
  out += fmt::format("nextlm_cache_tokens {}\n", s.cached_tokens);
  metric("nextlm_cache_capacity_tokens", "gauge", "Slots times context size.");
  out += fmt::format("nextlm_cache_capacity_tokens {}\n", s.capacity_tokens);
  metric("nextlm_cache_usage_ratio", "gauge", "Cache tokens over capacity.");
  out += fmt::format("nextlm_cache_usage_ratio {:.6f}\n",
                     s.capacity_tokens > 0 ? static_cast<double>(s.cached_tokens) / s.capacity_tokens : 0.0);
  metric("nextlm_ready", "gauge", "1 once the model is loaded.");
  out += fmt::format("nextlm_ready {}\n", ready ? 1 : 0);
  return out;
}

}  // namespace nextlm::server
