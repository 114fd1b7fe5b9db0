#include "nextlm/session.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "nextlm/error.h"
#include "quant/quantize.h"
#include "session/model_impl.h"
#include "session/session_impl.h"

namespace nextlm {

namespace detail {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

SessionImpl::SessionImpl(std::shared_ptr<Model> mdl, const SessionParams& p)
    : model(std::move(mdl)), m(model->impl()), params(p) {
  if (p.n_ctx <= 0) throw Error(ErrorCode::kInvalidArgument, "session: n_ctx must be positive");
  if (p.n_batch <= 0) throw Error(ErrorCode::kInvalidArgument, "session: n_batch must be positive");
  if (p.checkpoint_interval < 0 || p.max_checkpoints < 1) {
    throw Error(ErrorCode::kInvalidArgument, "session: bad checkpoint settings");
  }
  types = {quant::cache_type_from_name(p.cache_type_k), quant::cache_type_from_name(p.cache_type_v)};
  seq = m.model->new_sequence(p.n_ctx, types);
  checkpoints.push_back(seq->snapshot());  // position 0: the empty state
  logits.resize(static_cast<size_t>(m.model->config().n_vocab));
}

void SessionImpl::take_checkpoint() {
  const int64_t pos = seq->n_past();
  if (checkpoints.back()->pos == pos) return;
  checkpoints.push_back(seq->snapshot());
  // Drop the oldest (never position 0) beyond the limit.
  while (static_cast<int>(checkpoints.size()) > params.max_checkpoints) checkpoints.erase(checkpoints.begin() + 1);
}

void SessionImpl::go_back(int64_t target) {
  // The newest checkpoint at or before target; later ones describe a future that is being discarded.
  while (checkpoints.back()->pos > target) checkpoints.pop_back();
  if (seq->n_past() != checkpoints.back()->pos) seq->restore(*checkpoints.back());
  tokens.resize(static_cast<size_t>(seq->n_past()));
  logits_valid = false;
}

void SessionImpl::process(std::span<const int32_t> add, std::span<const int64_t> boundaries) {
  const int64_t n_vocab = m.model->config().n_vocab;
  for (int32_t id : add) {
    if (id < 0 || id >= n_vocab) throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} out of range", id));
  }
  if (seq->n_past() + static_cast<int64_t>(add.size()) > params.n_ctx) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("context full: {} + {} tokens exceed n_ctx {}", seq->n_past(),
                                                         add.size(), params.n_ctx));
  }
  std::set<int64_t> cuts(boundaries.begin(), boundaries.end());
  size_t i = 0;
  while (i < add.size()) {
    const int64_t pos = seq->n_past();
    int64_t n = std::min<int64_t>(params.n_batch, static_cast<int64_t>(add.size() - i));
    // End the batch at the next checkpoint position so the state there can be kept.
    auto next_cut = cuts.upper_bound(pos);
    if (next_cut != cuts.end() && *next_cut < pos + n) n = *next_cut - pos;
    if (params.checkpoint_interval > 0) {
      const int64_t next_auto = (pos / params.checkpoint_interval + 1) * params.checkpoint_interval;
      if (next_auto < pos + n) n = next_auto - pos;
    }
    const bool last = i + n == add.size();
    const int64_t row = n - 1;
    model::SequenceInput in{seq.get(), add.subspan(i, n), last ? std::span<const int64_t>(&row, 1)
                                                               : std::span<const int64_t>()};
    m.forward(std::span<const model::SequenceInput>(&in, 1), logits.data());
    tokens.insert(tokens.end(), add.begin() + i, add.begin() + i + n);
    i += n;
    const int64_t now = seq->n_past();
    if (cuts.count(now) || (params.checkpoint_interval > 0 && now % params.checkpoint_interval == 0)) take_checkpoint();
  }
  if (!add.empty()) logits_valid = true;
}

int64_t SessionImpl::reusable_prefix(std::span<const int32_t> prompt) const {
  if (prompt.empty()) return 0;
  const size_t lcp = static_cast<size_t>(
      std::mismatch(tokens.begin(), tokens.end(), prompt.begin(), prompt.end()).first - tokens.begin());
  if (lcp == prompt.size() && lcp == tokens.size() && logits_valid) return static_cast<int64_t>(lcp);
  // As set_prompt: at least one token runs; going back lands on a checkpoint.
  const int64_t target = std::min<int64_t>(static_cast<int64_t>(lcp), static_cast<int64_t>(prompt.size()) - 1);
  if (target >= seq->n_past()) return seq->n_past();
  int64_t best = 0;
  for (const auto& c : checkpoints) {
    if (c->pos <= target) best = std::max(best, c->pos);
  }
  return best;
}

PromptResult SessionImpl::set_prompt(std::span<const int32_t> prompt, std::span<const int64_t> boundaries) {
  const auto t0 = std::chrono::steady_clock::now();
  PromptResult r;
  r.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) {
    go_back(0);
    return r;
  }
  const size_t lcp = static_cast<size_t>(
      std::mismatch(tokens.begin(), tokens.end(), prompt.begin(), prompt.end()).first - tokens.begin());
  if (lcp == prompt.size() && lcp == tokens.size() && logits_valid) {
    r.cached_tokens = r.prompt_tokens;
    return r;
  }
  // At least one token must run to produce logits for what follows.
  const int64_t target = std::min<int64_t>(static_cast<int64_t>(lcp), r.prompt_tokens - 1);
  if (target < seq->n_past()) go_back(target);
  r.cached_tokens = seq->n_past();
  process(prompt.subspan(static_cast<size_t>(seq->n_past())), boundaries);
  take_checkpoint();  // the end of a prompt is where the next request most likely diverges
  r.processed_tokens = r.prompt_tokens - r.cached_tokens;
  r.seconds = seconds_since(t0);
  return r;
}

void SessionImpl::fed_one(int32_t id) {
  tokens.push_back(id);
  logits_valid = true;
  if (params.checkpoint_interval > 0 && seq->n_past() % params.checkpoint_interval == 0) take_checkpoint();
}

}  // namespace detail

Session::Session(std::shared_ptr<Model> model, const SessionParams& params)
    : impl_(std::make_unique<detail::SessionImpl>(std::move(model), params)) {}
Session::~Session() = default;

PromptResult Session::set_prompt(std::span<const int32_t> tokens, std::span<const int64_t> boundaries) {
  return impl_->set_prompt(tokens, boundaries);
}

int64_t Session::reusable_prefix(std::span<const int32_t> tokens) const { return impl_->reusable_prefix(tokens); }

PromptResult Session::append(std::span<const int32_t> add) {
  std::vector<int32_t> all = impl_->tokens;
  all.insert(all.end(), add.begin(), add.end());
  return impl_->set_prompt(all, {});
}

PromptResult Session::append_text(std::string_view text, bool parse_special) {
  const auto ids = impl_->model->tokenize(text, parse_special);
  return append(ids);
}

GenerateResult Session::generate(const GenerateOptions& options) {
  Generation g(*this, options);
  Generation* one[] = {&g};
  while (!g.done()) decode_together(one);
  return g.result();
}
void Session::cancel() { impl_->cancel_flag.store(true); }

void Session::rewind(int64_t n) {
  if (n < 0 || n > static_cast<int64_t>(impl_->tokens.size())) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("rewind: {} is outside 0..{}", n, impl_->tokens.size()));
  }
  std::vector<int32_t> keep(impl_->tokens.begin(), impl_->tokens.begin() + n);
  impl_->set_prompt(keep, {});
}

std::unique_ptr<Session> Session::fork() const {
  auto s = std::make_unique<Session>(impl_->model, impl_->params);
  detail::SessionImpl& d = *s->impl_;
  d.seq->copy_from(*impl_->seq);
  d.tokens = impl_->tokens;
  d.logits = impl_->logits;
  d.logits_valid = impl_->logits_valid;
  d.take_checkpoint();
  return s;
}

const std::vector<int32_t>& Session::tokens() const { return impl_->tokens; }
int64_t Session::n_ctx() const { return impl_->params.n_ctx; }
int Session::n_checkpoints() const { return static_cast<int>(impl_->checkpoints.size()); }
const Model& Session::model() const { return *impl_->model; }

}  // namespace nextlm
