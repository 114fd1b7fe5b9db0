// One request in flight, shared by the HTTP thread that answers it and the
// scheduler thread that runs it. The scheduler pushes stream events and the
// final outcome; the HTTP side reads them and may cancel (client gone).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nextlm/chat.h"
#include "nextlm/session.h"

namespace nextlm::server {

struct Job {
  enum class Kind { kChat, kCompletion };
  Kind kind = Kind::kChat;

  // Input, fixed before submission.
  std::unique_ptr<ChatGeneration> chat;  // kChat: rendered and tokenized already
  std::vector<int32_t> prompt;           // the prompt tokens (both kinds)
  GenerateOptions generate;              // kCompletion
  std::vector<int32_t> scripted;         // test-only: tokens fed instead of sampled ones

  // Scheduler-side state.
  std::unique_ptr<Generation> completion;  // kCompletion, once started
  size_t scripted_pos = 0;
  PromptResult prompt_result;
  std::chrono::steady_clock::time_point queued_at = std::chrono::steady_clock::now();

  std::atomic<bool> cancelled{false};  // the client went away

  // Channel to the HTTP thread (guarded by mu).
  std::mutex mu;
  std::condition_variable cv;
  std::deque<ChatEvent> events;  // content (kCompletion: text) and tool-call deltas, for streaming
  bool finished = false;
  int error_status = 0;  // set with error_message when the job failed
  std::string error_message;
  ChatResult result;  // when finished without error (kCompletion fills content, prompt, generation)

  void push(ChatEvent e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(e));
    }
    cv.notify_all();
  }
  void complete(ChatResult r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(r);
      finished = true;
    }
    cv.notify_all();
  }
  void fail(int status, std::string message) {
    {
      std::lock_guard<std::mutex> lock(mu);
      error_status = status;
      error_message = std::move(message);
      finished = true;
    }
    cv.notify_all();
  }
};

}  // namespace nextlm::server
