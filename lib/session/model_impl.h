// What a nextlm::Model holds. Internal: sessions reach the engine through it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "model/qwen3next.h"
#include "runtime/backend.h"
#include "runtime/collectives.h"
#include "tokenizer/tokenizer.h"

namespace nextlm::chat {
class ChatTemplate;
}

namespace nextlm::detail {

struct ModelImpl {
  std::string path;
  std::unique_ptr<gguf::GgufFile> file;
  std::vector<std::unique_ptr<runtime::Backend>> backends;  // one per device
  std::unique_ptr<runtime::Backend> expert_backend;         // --cpu-moe
  std::unique_ptr<runtime::Communicator> comm;              // tensor split
  std::unique_ptr<model::Qwen3NextModel> model;             // after what it uses: destroyed first
  std::optional<tokenizer::Tokenizer> tokenizer;
  std::vector<int32_t> end_of_generation;  // sorted
  uint64_t fingerprint = 0;                // identifies the weights in saved session states

  // One backend pass at a time across all sessions of this model.
  void forward(std::span<const model::SequenceInput> inputs, float* logits) {
    std::lock_guard<std::mutex> lock(forward_mu);
    model->forward(inputs, logits);
  }
  std::mutex forward_mu;

  // Parsed chat templates by name ("" = the default), made on first use.
  std::mutex chat_mu;
  std::map<std::string, std::unique_ptr<chat::ChatTemplate>> chat_templates;
  ~ModelImpl();
};

}  // namespace nextlm::detail
