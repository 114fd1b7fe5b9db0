// Step-wise generation and batched decoding: Session::generate is a loop of
// decode_together() over one generation; a server runs it over many.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "nextlm/error.h"
#include "nextlm/session.h"
#include "session/model_impl.h"
#include "session/sampler.h"
#include "session/session_impl.h"
#include "session/text_stream.h"

namespace nextlm {

namespace detail {

struct GenerationImpl {
  GenerationImpl(Session& s, SessionImpl& impl, const GenerateOptions& o)
      : session(s),
        d(impl),
        opts(o),
        // Embedding rows past the tokenizer's vocabulary (padding) are not tokens: never sample them.
        sampler(o.sampling,
                static_cast<int32_t>(std::min<int64_t>(impl.m.model->config().n_vocab, impl.m.tokenizer->n_vocab()))),
        stream(*impl.m.tokenizer, o.stop),
        t0(std::chrono::steady_clock::now()) {}

  // Picks the next token, or ends the generation. True when `next` must be fed.
  bool prepare() {
    if (finished) return false;
    if (res.generated_tokens >= opts.max_tokens) return finish(StopReason::kMaxTokens, true);
    if (d.cancel_flag.load()) return finish(StopReason::kCancelled, true);
    const int32_t id = forced ? *forced : sampler.sample(d.logits.data(), d.tokens);
    forced.reset();
    res.tokens.push_back(id);
    ++res.generated_tokens;
    if (!opts.ignore_eos && d.model->is_end_of_generation(id)) return finish(StopReason::kEndOfGeneration, true);
    if (std::find(opts.stop_tokens.begin(), opts.stop_tokens.end(), id) != opts.stop_tokens.end()) {
      return finish(StopReason::kStopToken, true);
    }
    piece = stream.push(id);
    if (stream.stopped()) {
      emit(piece);
      return finish(StopReason::kStopString, false);
    }
    if (d.seq->n_past() >= d.params.n_ctx) {
      emit(piece);  // the token counts, so its text is shown, though it cannot be fed
      return finish(StopReason::kContextFull, true);
    }
    next = id;
    return true;
  }

  // After the forward pass that fed `next` (its logits are in d.logits).
  void commit() {
    d.fed_one(next);
    if (!emit(piece)) finish(StopReason::kCancelled, false);
  }

  bool emit(const std::string& text) {
    if (text.empty()) return true;
    res.text += text;
    return !opts.on_text || opts.on_text(text);
  }

  bool finish(StopReason reason, bool flush) {
    if (flush) emit(stream.finish());
    d.cancel_flag.store(false);
    d.take_checkpoint();
    res.stop_reason = reason;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    finished = true;
    return false;
  }

  Session& session;
  SessionImpl& d;
  GenerateOptions opts;
  session::Sampler sampler;
  session::TextStream stream;
  std::chrono::steady_clock::time_point t0;
  GenerateResult res;
  bool finished = false;
  std::optional<int32_t> forced;
  int32_t next = -1;
  std::string piece;  // text of `next`, shown once it has been fed
};

}  // namespace detail

Generation::Generation(Session& session, const GenerateOptions& options) {
  detail::SessionImpl& d = *session.impl_;
  if (!d.logits_valid) throw Error(ErrorCode::kInvalidArgument, "generate: no prompt to continue (set a prompt first)");
  if (options.max_tokens < 0) throw Error(ErrorCode::kInvalidArgument, "generate: max_tokens must not be negative");
  impl_ = std::make_unique<detail::GenerationImpl>(session, d, options);
}

Generation::~Generation() = default;

bool Generation::done() const { return impl_->finished; }

void Generation::force_next(int32_t id) {
  if (id < 0 || id >= impl_->d.m.model->config().n_vocab) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("force_next: token id {} out of range", id));
  }
  impl_->forced = id;
}

const GenerateResult& Generation::result() const { return impl_->res; }
Session& Generation::session() { return impl_->session; }

size_t decode_together(std::span<Generation* const> generations) {
  std::vector<detail::GenerationImpl*> feed;
  for (Generation* g : generations) {
    if (g->impl_->prepare()) feed.push_back(g->impl_.get());
  }
  if (!feed.empty()) {
    detail::ModelImpl& m = feed.front()->d.m;
    for (size_t i = 0; i < feed.size(); ++i) {
      if (&feed[i]->d.m != &m) throw Error(ErrorCode::kInvalidArgument, "decode_together: sessions of different models");
      for (size_t j = 0; j < i; ++j) {
        if (&feed[j]->d == &feed[i]->d) throw Error(ErrorCode::kInvalidArgument, "decode_together: a session twice");
      }
    }
    static const int64_t row0 = 0;
    std::vector<model::SequenceInput> inputs;
    inputs.reserve(feed.size());
    for (detail::GenerationImpl* g : feed) {
      inputs.push_back({g->d.seq.get(), std::span<const int32_t>(&g->next, 1), std::span<const int64_t>(&row0, 1)});
    }
    const size_t n_vocab = static_cast<size_t>(m.model->config().n_vocab);
    if (feed.size() == 1) {
      m.forward(inputs, feed.front()->d.logits.data());
    } else {
      std::vector<float> rows(feed.size() * n_vocab);
      m.forward(inputs, rows.data());
      for (size_t i = 0; i < feed.size(); ++i) {
        std::copy_n(rows.data() + i * n_vocab, n_vocab, feed[i]->d.logits.data());
      }
    }
    for (detail::GenerationImpl* g : feed) g->commit();
  }
  return static_cast<size_t>(std::count_if(generations.begin(), generations.end(),
                                           [](const Generation* g) { return !g->done(); }));
}

}  // namespace nextlm
