// The C API over the C++ library: every entry point catches everything and
// turns it into a status code plus a message on the handle.
#include "nextlm.h"

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "nextlm/chat.h"
#include "nextlm/error.h"
#include "nextlm/model.h"
#include "nextlm/session.h"

struct nlm_model {
  std::shared_ptr<nextlm::Model> model;
  std::string error;
};

struct nlm_session {
  std::unique_ptr<nextlm::Session> session;
  std::string error;
  std::string text;  // last generated text, returned through nlm_generate_result
  nextlm::ChatResult chat;  // last chat turn, whose strings nlm_chat_result points into
};

namespace {

thread_local std::string g_last_error;

nlm_status status_of(nextlm::ErrorCode c) {
  switch (c) {
    case nextlm::ErrorCode::kInvalidArgument: return NLM_ERR_INVALID_ARGUMENT;
    case nextlm::ErrorCode::kIo: return NLM_ERR_IO;
    case nextlm::ErrorCode::kCorruptFile: return NLM_ERR_CORRUPT_FILE;
    case nextlm::ErrorCode::kUnsupported: return NLM_ERR_UNSUPPORTED;
    case nextlm::ErrorCode::kOutOfMemory: return NLM_ERR_OUT_OF_MEMORY;
    case nextlm::ErrorCode::kCancelled: return NLM_ERR_CANCELLED;
    case nextlm::ErrorCode::kInternal: return NLM_ERR_INTERNAL;
  }
  return NLM_ERR_INTERNAL;
}

// Runs fn, storing any failure's message in `error`.
template <typename F>
nlm_status guarded(std::string& error, F&& fn) {
  try {
    fn();
    error.clear();
    return NLM_OK;
  } catch (const nextlm::Error& e) {
    error = e.what();
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    error = "out of memory";
    return NLM_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    error = e.what();
    return NLM_ERR_INTERNAL;
  } catch (...) {
    error = "unknown error";
    return NLM_ERR_INTERNAL;
  }
}

nlm_status copy_out(const std::string& s, char* buf, size_t buf_size, size_t* needed, std::string& error) {
  if (needed) *needed = s.size();
  if (!buf || buf_size < s.size() + 1) {
    error = "buffer too small: " + std::to_string(s.size() + 1) + " bytes needed";
    return NLM_ERR_BUFFER_TOO_SMALL;
  }
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return NLM_OK;
}

#define NLM_REQUIRE(cond, err, msg)      \
  do {                                    \
    if (!(cond)) {                        \
      (err) = (msg);                      \
      return NLM_ERR_INVALID_ARGUMENT;    \
    }                                     \
  } while (0)

}  // namespace

extern "C" {

const char* nlm_version(void) { return "0.1.0"; }
const char* nlm_last_error(void) { return g_last_error.c_str(); }

nlm_model_params nlm_model_default_params(void) {
  return nlm_model_params{0, true, nullptr, nullptr, nullptr, nullptr, nullptr, 0, true};
}

nlm_status nlm_model_load(const char* path, const nlm_model_params* params, nlm_model** out) {
  NLM_REQUIRE(out, g_last_error, "nlm_model_load: out is NULL");
  *out = nullptr;
  NLM_REQUIRE(path, g_last_error, "nlm_model_load: path is NULL");
  const nlm_model_params p = params ? *params : nlm_model_default_params();
  return guarded(g_last_error, [&] {
    nextlm::ModelParams mp;
    mp.n_threads = p.n_threads;
    mp.use_mmap = p.use_mmap;
    if (p.devices && *p.devices) mp.devices = p.devices;
    if (p.split && *p.split) mp.split = p.split;
    if (p.tensor_split) mp.tensor_split = p.tensor_split;
    mp.cpu_moe = p.cpu_moe;
    mp.cpu_huge_pages = p.cpu_huge_pages;
    if (p.progress) {
      mp.progress = [cb = p.progress, ud = p.progress_user_data](float f) { return cb(f, ud); };
    }
    auto m = std::make_unique<nlm_model>();
    m->model = nextlm::Model::load(path, mp);
    *out = m.release();
  });
}

void nlm_model_free(nlm_model* model) { delete model; }
const char* nlm_model_error(const nlm_model* model) { return model ? model->error.c_str() : "model is NULL"; }
int64_t nlm_model_n_vocab(const nlm_model* model) { return model ? model->model->n_vocab() : 0; }
int64_t nlm_model_n_ctx_train(const nlm_model* model) { return model ? model->model->n_ctx_train() : 0; }

nlm_status nlm_model_metadata(nlm_model* model, const char* key, char* buf, size_t buf_size, size_t* needed) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(key, model->error, "nlm_model_metadata: key is NULL");
  std::string value;
  nlm_status st = guarded(model->error, [&] { value = model->model->metadata(key); });
  return st == NLM_OK ? copy_out(value, buf, buf_size, needed, model->error) : st;
}

// Copies tokens out; NLM_ERR_BUFFER_TOO_SMALL (with the count) when they do not fit.
static nlm_status copy_tokens(const std::vector<int32_t>& toks, int32_t* ids, size_t capacity, size_t* n_tokens,
                              std::string& error) {
  if (n_tokens) *n_tokens = toks.size();
  if (toks.size() > capacity || (!ids && !toks.empty())) {
    error = "token buffer too small: " + std::to_string(toks.size()) + " tokens";
    return NLM_ERR_BUFFER_TOO_SMALL;
  }
  if (!toks.empty()) std::memcpy(ids, toks.data(), toks.size() * sizeof(int32_t));
  return NLM_OK;
}

nlm_status nlm_tokenize(nlm_model* model, const char* text, size_t len, bool parse_special, int32_t* ids,
                        size_t capacity, size_t* n_tokens) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(text || len == 0, model->error, "nlm_tokenize: text is NULL");
  std::vector<int32_t> toks;
  nlm_status st = guarded(model->error, [&] { toks = model->model->tokenize(std::string_view(text, len), parse_special); });
  if (st != NLM_OK) return st;
  return copy_tokens(toks, ids, capacity, n_tokens, model->error);
}

nlm_status nlm_chat_tokenize(nlm_model* model, const char* messages_json, const char* tools_json,
                             bool add_generation_prompt, bool parse_special_in_input, int32_t* ids, size_t capacity,
                             size_t* n_tokens) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(messages_json, model->error, "nlm_chat_tokenize: messages_json is NULL");
  std::vector<int32_t> toks;
  nlm_status st = guarded(model->error, [&] {
    const nextlm::ChatPrompt p =
        nextlm::render_chat_prompt(*model->model, messages_json, tools_json ? tools_json : "", add_generation_prompt);
    toks = nextlm::tokenize_chat_prompt(*model->model, p, parse_special_in_input);
  });
  if (st != NLM_OK) return st;
  return copy_tokens(toks, ids, capacity, n_tokens, model->error);
}

nlm_status nlm_detokenize(nlm_model* model, const int32_t* ids, size_t n_ids, bool render_special, char* buf,
                          size_t buf_size, size_t* needed) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(ids || n_ids == 0, model->error, "nlm_detokenize: ids is NULL");
  std::string text;
  nlm_status st = guarded(model->error, [&] {
    text = model->model->detokenize(std::vector<int32_t>(ids, ids + n_ids), render_special);
  });
  return st == NLM_OK ? copy_out(text, buf, buf_size, needed, model->error) : st;
}

nlm_session_params nlm_session_default_params(void) {
  const nextlm::SessionParams d;
  return nlm_session_params{d.n_ctx, "f16", "f16", d.checkpoint_interval, d.max_checkpoints};
}

nlm_status nlm_session_create(nlm_model* model, const nlm_session_params* params, nlm_session** out) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(out, model->error, "nlm_session_create: out is NULL");
  *out = nullptr;
  const nlm_session_params p = params ? *params : nlm_session_default_params();
  return guarded(model->error, [&] {
    nextlm::SessionParams sp;
    sp.n_ctx = p.n_ctx;
    sp.cache_type_k = p.cache_type_k ? p.cache_type_k : "f16";
    sp.cache_type_v = p.cache_type_v ? p.cache_type_v : "f16";
    sp.checkpoint_interval = p.checkpoint_interval;
    sp.max_checkpoints = p.max_checkpoints;
    auto s = std::make_unique<nlm_session>();
    s->session = std::make_unique<nextlm::Session>(model->model, sp);
    *out = s.release();
  });
}

void nlm_session_free(nlm_session* session) { delete session; }
const char* nlm_session_error(const nlm_session* session) {
  return session ? session->error.c_str() : "session is NULL";
}

static void fill(nlm_prompt_result* out, const nextlm::PromptResult& r) {
  if (out) *out = nlm_prompt_result{r.prompt_tokens, r.cached_tokens, r.processed_tokens};
}

nlm_status nlm_session_set_prompt(nlm_session* session, const int32_t* tokens, size_t n, nlm_prompt_result* result) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(tokens || n == 0, session->error, "nlm_session_set_prompt: tokens is NULL");
  return guarded(session->error,
                 [&] { fill(result, session->session->set_prompt(std::span<const int32_t>(tokens, n))); });
}

nlm_status nlm_session_append_text(nlm_session* session, const char* text, bool parse_special,
                                   nlm_prompt_result* result) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(text, session->error, "nlm_session_append_text: text is NULL");
  return guarded(session->error, [&] { fill(result, session->session->append_text(text, parse_special)); });
}

static nextlm::GenerateOptions generate_options(const nlm_generate_params& p) {
  nextlm::GenerateOptions o;
  o.max_tokens = p.max_tokens;
  o.sampling.temperature = p.temperature;
  o.sampling.top_k = p.top_k;
  o.sampling.top_p = p.top_p;
  o.sampling.min_p = p.min_p;
  o.sampling.repeat_penalty = p.repeat_penalty;
  o.sampling.presence_penalty = p.presence_penalty;
  o.sampling.frequency_penalty = p.frequency_penalty;
  o.sampling.seed = p.seed;
  o.ignore_eos = p.ignore_eos;
  for (size_t i = 0; i < p.n_stop; ++i) {
    if (!p.stop[i]) throw nextlm::Error(nextlm::ErrorCode::kInvalidArgument, "a stop string is NULL");
    o.stop.emplace_back(p.stop[i]);
  }
  if (p.on_text) {
    o.on_text = [cb = p.on_text, ud = p.user_data](std::string_view piece) { return cb(piece.data(), piece.size(), ud); };
  }
  return o;
}

nlm_generate_params nlm_generate_default_params(void) {
  const nextlm::GenerateOptions g;
  const nextlm::SamplingParams& s = g.sampling;
  return nlm_generate_params{g.max_tokens, s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty,
                             s.presence_penalty, s.frequency_penalty, s.seed, nullptr, 0, false, nullptr, nullptr, false};
}

nlm_status nlm_session_generate(nlm_session* session, const nlm_generate_params* params, nlm_generate_result* result) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  const nlm_generate_params p = params ? *params : nlm_generate_default_params();
  NLM_REQUIRE(p.stop || p.n_stop == 0, session->error, "nlm_session_generate: stop is NULL");
  return guarded(session->error, [&] {
    const nextlm::GenerateOptions o = generate_options(p);
    nextlm::GenerateResult r = session->session->generate(o);
    session->text = std::move(r.text);
    if (result) {
      *result = nlm_generate_result{static_cast<nlm_stop_reason>(r.stop_reason), r.generated_tokens, r.seconds,
                                    session->text.c_str()};
    }
  });
}

nlm_status nlm_chat_apply_template(nlm_model* model, const char* messages_json, const char* tools_json,
                                   bool add_generation_prompt, char* buf, size_t buf_size, size_t* needed) {
  if (!model) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(messages_json, model->error, "nlm_chat_apply_template: messages_json is NULL");
  std::string text;
  nlm_status st = guarded(model->error, [&] {
    text = nextlm::apply_chat_template(*model->model, messages_json, tools_json ? tools_json : "", add_generation_prompt);
  });
  return st == NLM_OK ? copy_out(text, buf, buf_size, needed, model->error) : st;
}

nlm_status nlm_session_chat(nlm_session* session, const char* messages_json, const char* tools_json,
                            const nlm_generate_params* params, nlm_chat_result* result) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(messages_json, session->error, "nlm_session_chat: messages_json is NULL");
  const nlm_generate_params p = params ? *params : nlm_generate_default_params();
  NLM_REQUIRE(p.stop || p.n_stop == 0, session->error, "nlm_session_chat: stop is NULL");
  return guarded(session->error, [&] {
    nextlm::ChatOptions o;
    o.generate = generate_options(p);
    o.tools_json = tools_json ? tools_json : "";
    o.parse_special_in_input = p.parse_special_in_input;
    session->chat = nextlm::chat_completion(*session->session, messages_json, o);
    const nextlm::ChatResult& c = session->chat;
    if (result) {
      *result = nlm_chat_result{static_cast<nlm_stop_reason>(c.generation.stop_reason), c.finish_reason.c_str(),
                                c.content.c_str(), c.reasoning_content ? c.reasoning_content->c_str() : nullptr,
                                c.tool_calls.size(), c.prompt.prompt_tokens, c.prompt.cached_tokens,
                                c.generation.generated_tokens};
    }
  });
}

nlm_status nlm_session_tool_call(nlm_session* session, size_t index, nlm_tool_call* out) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(out, session->error, "nlm_session_tool_call: out is NULL");
  NLM_REQUIRE(index < session->chat.tool_calls.size(), session->error, "nlm_session_tool_call: index out of range");
  const nextlm::ChatToolCall& t = session->chat.tool_calls[index];
  *out = nlm_tool_call{t.id.c_str(), t.name.c_str(), t.arguments_json.c_str()};
  return NLM_OK;
}

void nlm_session_cancel(nlm_session* session) {
  if (session) session->session->cancel();
}

nlm_status nlm_session_rewind(nlm_session* session, int64_t n) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  return guarded(session->error, [&] { session->session->rewind(n); });
}

int64_t nlm_session_n_tokens(const nlm_session* session) {
  return session ? static_cast<int64_t>(session->session->tokens().size()) : 0;
}

nlm_status nlm_session_save_file(nlm_session* session, const char* path) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(path, session->error, "nlm_session_save_file: path is NULL");
  return guarded(session->error, [&] { session->session->save_file(path); });
}

nlm_status nlm_session_load_file(nlm_session* session, const char* path) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(path, session->error, "nlm_session_load_file: path is NULL");
  return guarded(session->error, [&] { session->session->load_file(path); });
}

nlm_status nlm_session_save_state(nlm_session* session, uint8_t* buf, size_t buf_size, size_t* needed) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  std::vector<uint8_t> state;
  nlm_status st = guarded(session->error, [&] { state = session->session->save_state(); });
  if (st != NLM_OK) return st;
  if (needed) *needed = state.size();
  if (!buf || buf_size < state.size()) {
    session->error = "state buffer too small: " + std::to_string(state.size()) + " bytes needed";
    return NLM_ERR_BUFFER_TOO_SMALL;
  }
  std::memcpy(buf, state.data(), state.size());
  return NLM_OK;
}

nlm_status nlm_session_load_state(nlm_session* session, const uint8_t* data, size_t size) {
  if (!session) return NLM_ERR_INVALID_ARGUMENT;
  NLM_REQUIRE(data || size == 0, session->error, "nlm_session_load_state: data is NULL");
  return guarded(session->error, [&] { session->session->load_state(std::span<const uint8_t>(data, size)); });
}

}  // extern "C"
