#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "chat/chat_template.h"
#include "nextlm/error.h"
#include "nextlm/model.h"
#include "quant/quantize.h"
#include "model/placement.h"
#include "session/model_impl.h"

namespace nextlm {

namespace {

// FNV-1a over the tensor table and the hyperparameters: two files with the
// same fingerprint have the same shapes, types and data layout.
uint64_t fingerprint(const gguf::GgufFile& f) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  };
  for (const auto& t : f.tensors()) {
    mix(t.name.data(), t.name.size());
    mix(&t.type, sizeof t.type);
    mix(t.ne, sizeof t.ne);
    mix(&t.offset, sizeof t.offset);
  }
  const uint64_t size = f.file_size();
  mix(&size, sizeof size);
  return h;
}


}  // namespace

detail::ModelImpl::~ModelImpl() = default;

Model::Model(std::unique_ptr<detail::ModelImpl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<Model> Model::load(const std::string& path, const ModelParams& params) {
  auto impl = std::make_unique<detail::ModelImpl>();
  impl->path = path;
  impl->file = gguf::GgufFile::open(path, {.use_mmap = params.use_mmap});
  const int threads = params.n_threads > 0 ? params.n_threads
                                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  impl->tokenizer.emplace(tokenizer::Tokenizer::from_gguf(*impl->file));
  const runtime::Topology topo = runtime::Topology::parse(params.devices.empty() ? params.device : params.devices,
                                                          params.split, params.tensor_split, "", params.cpu_moe);
  model::PlanRequest sizing;
  sizing.n_ctx = params.n_ctx_hint;
  sizing.cpu_huge_pages = params.cpu_huge_pages;
  model::PlacedModel placed =
      model::load_placed(*impl->file, topo, threads,
                         params.exact ? runtime::ComputeMode::kExact : runtime::ComputeMode::kNative, sizing,
                         params.progress);
  impl->backends = std::move(placed.backends);
  impl->expert_backend = std::move(placed.expert_backend);
  impl->comm = std::move(placed.comm);
  impl->model = std::move(placed.model);
  if (impl->model->config().n_vocab < impl->tokenizer->n_vocab()) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: the tokenizer has {} tokens but the embedding only {}", path,
                                                     impl->tokenizer->n_vocab(), impl->model->config().n_vocab));
  }
  const tokenizer::Tokenizer& tok = *impl->tokenizer;
  for (std::string_view s : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>"}) {
    if (int32_t id = tok.find_token(s); id >= 0) impl->end_of_generation.push_back(id);
  }
  if (tok.eos_id() >= 0) impl->end_of_generation.push_back(tok.eos_id());
  std::sort(impl->end_of_generation.begin(), impl->end_of_generation.end());
  impl->fingerprint = fingerprint(*impl->file);
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

MemoryEstimate Model::estimate_memory(const std::string& path, int64_t n_ctx, const std::string& cache_type_k,
                                      const std::string& cache_type_v) {
  auto f = gguf::GgufFile::open(path);
  const auto c = model::Qwen3NextConfig::from_gguf(*f);
  MemoryEstimate m;
  for (const auto& t : f->tensors()) m.weights_bytes += t.n_bytes;
  int64_t attn_layers = 0;
  for (bool r : c.recurrent) attn_layers += r ? 0 : 1;
  const uint64_t cells = static_cast<uint64_t>(n_ctx) * c.n_head_kv * attn_layers;
  m.kv_cache_bytes = cells * (quant::row_bytes(quant::cache_type_from_name(cache_type_k), c.head_dim) +
                              quant::row_bytes(quant::cache_type_from_name(cache_type_v), c.head_dim));
  const uint64_t recurrent_layers = static_cast<uint64_t>(c.n_layer - attn_layers);
  m.recurrent_bytes = recurrent_layers * 4 *
                      (static_cast<uint64_t>(c.conv_kernel - 1) * c.conv_dim() +
                       static_cast<uint64_t>(c.ssm_dt_rank) * c.ssm_d_state * c.ssm_d_state);
  return m;
}

std::string Model::architecture() const { return impl_->file->get_string("general.architecture", ""); }
std::string Model::name() const { return impl_->file->get_string("general.name", ""); }

std::string Model::metadata(std::string_view key) const {
  const gguf::Value* v = impl_->file->find(key);
  if (!v) return "";
  if (v->is_string()) return std::string(v->as_string());
  return v->to_display();
}

std::string Model::chat_template(std::string_view name) const {
  const std::string key = name.empty() ? "tokenizer.chat_template" : fmt::format("tokenizer.chat_template.{}", name);
  return impl_->file->get_string(key, "");
}

int64_t Model::n_vocab() const { return impl_->model->config().n_vocab; }
int64_t Model::n_ctx_train() const { return impl_->model->config().n_ctx_train; }
int64_t Model::n_layer() const { return impl_->model->config().n_layer; }
int64_t Model::n_params() const {
  int64_t n = 0;
  for (const auto& t : impl_->file->tensors()) n += t.n_elements();
  return n;
}

std::vector<int32_t> Model::tokenize(std::string_view text, bool parse_special) const {
  tokenizer::EncodeOptions opts;
  opts.parse_special = parse_special;
  return impl_->tokenizer->encode(text, opts);
}

std::string Model::detokenize(const std::vector<int32_t>& ids, bool render_special) const {
  return impl_->tokenizer->decode(ids, render_special);
}

std::string Model::token_text(int32_t id) const { return std::string(impl_->tokenizer->token_text(id)); }
int32_t Model::eos_token() const { return impl_->tokenizer->eos_id(); }
bool Model::is_special_token(int32_t id) const {
  const tokenizer::Tokenizer& t = *impl_->tokenizer;
  if (id < 0 || id >= t.n_vocab()) return false;
  return t.token_type(id) == tokenizer::TokenType::kControl || t.token_type(id) == tokenizer::TokenType::kUserDefined;
}
bool Model::is_end_of_generation(int32_t id) const {
  return std::binary_search(impl_->end_of_generation.begin(), impl_->end_of_generation.end(), id);
}

}  // namespace nextlm
