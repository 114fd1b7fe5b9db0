#include "http_routes.h"

#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>

#include "job.h"
#include "nextlm/chat.h"
#include "nextlm/error.h"
#include "openai_request.h"
#include "openai_response.h"

namespace nextlm::server {

namespace {

constexpr const char* kJson = "application/json";

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), kJson);
}

ApiError unavailable(const std::string& message, const std::string& code) {
  return ApiError(503, message, "server_error", "", code);
}

ResponseIds make_ids(ServerState& st, const char* prefix, const std::string& requested_model) {
  ResponseIds ids;
  ids.id = fmt::format("{}{:x}{:06x}", prefix, static_cast<uint64_t>(std::time(nullptr)), st.next_id++);
  ids.created = static_cast<int64_t>(std::time(nullptr));
  ids.model = requested_model.empty() ? st.opts.model_alias : requested_model;
  return ids;
}

void check_prompt_fits(const ServerState& st, size_t n_prompt, const char* param) {
  if (n_prompt == 0) throw invalid("the prompt is empty", param);
  const int64_t n_ctx = st.scheduler->n_ctx();
  if (static_cast<int64_t>(n_prompt) >= n_ctx) {
    throw invalid(fmt::format("this model's context per slot is {} tokens, but the prompt has {}", n_ctx, n_prompt),
                  param, "context_length_exceeded");
  }
}

ApiError job_error(const Job& job) {
  const int status = job.error_status == 400 || job.error_status == 503 ? job.error_status : 500;
  return ApiError(status, job.error_message, status == 400 ? "invalid_request_error" : "server_error");
}

// What the request parser cannot check without the model.
void check_against_model(const ServerState& st, const GenerateOptions& g) {
  for (const auto& [id, bias] : g.sampling.logit_bias) {
    if (id >= st.model->n_vocab()) {
      throw invalid(fmt::format("logit_bias names token {}, outside the vocabulary of {}", id, st.model->n_vocab()),
                    "logit_bias");
    }
  }
}

// Writes a piece of a chunked reply; a failed write means the client has
// gone, which cancels the job.
bool send_piece(httplib::DataSink& sink, Job& job, const std::string& out, bool finished) {
  if (!sink.write(out.data(), out.size())) {
    job.cancelled = true;
    return false;
  }
  if (finished) sink.done();
  return true;
}

// The end-of-reply hook: a reply that did not go out cancels its job.
std::function<void(bool)> cancel_unless_sent(const std::shared_ptr<Job>& job) {
  return [job](bool success) {
    if (!success) job->cancelled = true;
  };
}

// Answers a job that is not streamed. One that ends within a second gets a
// plain response; one still running gets its 200 now and a chunked body of
// spaces (JSON allows leading whitespace) until the JSON is ready: a failed
// write tells that the client has gone, which cancels the generation.
void answer_when_done(httplib::Response& res, std::shared_ptr<Job> job,
                      std::function<std::string(const ChatResult&)> body) {
  {
    std::unique_lock<std::mutex> lock(job->mu);
    if (job->cv.wait_for(lock, std::chrono::seconds(1), [&] { return job->finished; })) {
      if (job->error_status) {
        send_error(res, job_error(*job));
      } else {
        res.set_content(body(job->result), kJson);
      }
      return;
    }
  }
  res.set_chunked_content_provider(
      kJson,
      [job, body](size_t, httplib::DataSink& sink) {
        bool finished = false;
        {
          std::unique_lock<std::mutex> lock(job->mu);
          finished = job->cv.wait_for(lock, std::chrono::seconds(1), [&] { return job->finished; });
        }
        const std::string out = !finished ? " " : job->error_status ? error_body(job_error(*job)) : body(job->result);
        return send_piece(sink, *job, out, finished);
      },
      cancel_unless_sent(job));
}

// Streams a job as server-sent events. `event_data` turns one event into the
// `data:` payload ("" to skip); `end` writes the closing chunks of a result.
void stream_job(httplib::Response& res, std::shared_ptr<Job> job,
                std::function<std::string(const ChatEvent&)> event_data,
                std::function<std::string(const ChatResult&)> end, std::string first) {
  res.set_header("Cache-Control", "no-cache");
  auto pending_first = std::make_shared<std::string>(std::move(first));
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, event_data, end, pending_first](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!pending_first->empty()) {
          out = "data: " + *pending_first + "\n\n";
          pending_first->clear();
        }
        std::deque<ChatEvent> events;
        bool finished = false;
        {
          std::unique_lock<std::mutex> lock(job->mu);
          if (out.empty()) {
            job->cv.wait_for(lock, std::chrono::seconds(1), [&] { return !job->events.empty() || job->finished; });
          }
          events.swap(job->events);
          finished = job->finished;
        }
        for (const ChatEvent& e : events) {
          const std::string data = event_data(e);
          if (!data.empty()) out += "data: " + data + "\n\n";
        }
        if (finished) {
          if (job->error_status) {
            out += "data: " + error_body(job_error(*job)) + "\n\n";
          } else {
            out += end(job->result);
          }
          out += "data: [DONE]\n\n";
        }
        // A comment line while nothing happens (queued, long prompt): clients
        // ignore it, and a failed write tells that the client has gone.
        if (out.empty()) out = ": keep-alive\n\n";
        return send_piece(sink, *job, out, finished);
      },
      cancel_unless_sent(job));
}

// Queues a job, or answers 503 when every slot and the queue are full.
void submit_or_busy(ServerState& st, const std::shared_ptr<Job>& job) {
  if (st.scheduler->submit(job)) return;
  st.metrics.count_rejected();
  throw unavailable("the server is busy: every slot and the queue are full; retry later", "server_busy");
}

void handle_chat(ServerState& st, const httplib::Request& req, httplib::Response& res) {
  const ChatSpec spec = parse_chat_request(req.body);
  check_against_model(st, spec.generate);
  auto job = std::make_shared<Job>();
  Job* raw = job.get();
  ChatOptions co;
  co.generate = spec.generate;
  if (!spec.max_tokens_set) co.generate.max_tokens = static_cast<int32_t>(st.scheduler->n_ctx());  // to the context's end
  co.generate.on_text = [raw](std::string_view) { return !raw->cancelled.load(); };
  if (spec.stream) co.on_event = [raw](const ChatEvent& e) { raw->push(e); };
  co.tools_json = spec.tools_json;
  co.tool_call_format = spec.tool_call_format;
  co.parse_special_in_input = st.opts.parse_special_in_input;
  try {
    job->chat = std::make_unique<ChatGeneration>(*st.model, spec.messages_json, co);
  } catch (const Error& e) {
    // The template refused the conversation (raise_exception, limits) or a tool is malformed.
    throw invalid(e.what(), "messages");
  }
  job->prompt = job->chat->prompt_tokens();
  check_prompt_fits(st, job->prompt.size(), "messages");
  job->scripted = st.test_reply_tokens;
  submit_or_busy(st, job);
  const ResponseIds ids = make_ids(st, "chatcmpl-", spec.model);
  if (!spec.stream) {
    answer_when_done(res, job, [ids](const ChatResult& r) { return chat_completion_body(ids, r); });
    return;
  }
  const bool usage = spec.include_usage;
  stream_job(
      res, job, [ids](const ChatEvent& e) {
        const std::string delta = chat_event_delta(e);
        return delta.empty() ? std::string() : chat_chunk(ids, delta);
      },
      [ids, usage](const ChatResult& r) {
        std::string out = "data: " + chat_chunk(ids, "{}", openai_finish_reason(r.finish_reason)) + "\n\n";
        if (usage) out += "data: " + usage_chunk(ids, r, "chat.completion.chunk") + "\n\n";
        return out;
      },
      chat_chunk(ids, R"({"role":"assistant","content":""})"));
}

void handle_completion(ServerState& st, const httplib::Request& req, httplib::Response& res) {
  const CompletionSpec spec = parse_completion_request(req.body);
  check_against_model(st, spec.generate);
  auto job = std::make_shared<Job>();
  Job* raw = job.get();
  job->kind = Job::Kind::kCompletion;
  if (spec.has_tokens) {
    for (int32_t id : spec.prompt_tokens) {
      if (id >= st.model->n_vocab()) throw invalid(fmt::format("token id {} is outside the vocabulary", id), "prompt");
    }
    job->prompt = spec.prompt_tokens;
  } else {
    job->prompt = st.model->tokenize(spec.prompt_text, true);
  }
  check_prompt_fits(st, job->prompt.size(), "prompt");
  job->generate = spec.generate;
  job->generate.on_text = [raw, stream = spec.stream](std::string_view text) {
    if (stream) raw->push(ChatEvent{ChatEvent::Kind::kContent, std::string(text), 0, {}, {}, {}});
    return !raw->cancelled.load();
  };
  submit_or_busy(st, job);
  const ResponseIds ids = make_ids(st, "cmpl-", spec.model);
  if (!spec.stream) {
    answer_when_done(res, job, [ids](const ChatResult& r) { return completion_body(ids, r); });
    return;
  }
  const bool usage = spec.include_usage;
  stream_job(
      res, job, [ids](const ChatEvent& e) { return e.text.empty() ? std::string() : completion_chunk(ids, e.text); },
      [ids, usage](const ChatResult& r) {
        std::string out = "data: " + completion_chunk(ids, "", openai_finish_reason(r.finish_reason)) + "\n\n";
        if (usage) out += "data: " + usage_chunk(ids, r, "text_completion") + "\n\n";
        return out;
      },
      "");
}

// POST /v1/chat/tokenize (a nextlm extension): the prompt tokens a chat
// request would be fed, and which of them are control or user-defined tokens
// (only the template's own, unless the server runs with --parse-special-in-input).
void handle_chat_tokenize(ServerState& st, const httplib::Request& req, httplib::Response& res) {
  const ChatSpec spec = parse_chat_request(req.body);
  ChatPrompt prompt;
  std::vector<int32_t> tokens;
  try {
    prompt = render_chat_prompt(*st.model, spec.messages_json, spec.tools_json);
    tokens = tokenize_chat_prompt(*st.model, prompt, st.opts.parse_special_in_input);
  } catch (const Error& e) {
    throw invalid(e.what(), "messages");
  }
  nlohmann::ordered_json out = {{"object", "chat.tokenization"}, {"prompt", prompt.text}, {"tokens", tokens},
                                {"n_tokens", tokens.size()}};
  nlohmann::ordered_json special = nlohmann::ordered_json::array();
  for (size_t i = 0; i < tokens.size(); ++i)
    if (st.model->is_special_token(tokens[i]))
      special.push_back({{"index", i}, {"id", tokens[i]}, {"text", st.model->token_text(tokens[i])}});
  out["special_tokens"] = std::move(special);
  res.set_content(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

// Wraps an endpoint: readiness, OpenAI error bodies for whatever it throws, metrics.
httplib::Server::Handler endpoint(ServerState& st, const char* name,
                                  void (*fn)(ServerState&, const httplib::Request&, httplib::Response&)) {
  return [&st, name, fn](const httplib::Request& req, httplib::Response& res) {
    try {
      if (!st.ready) throw unavailable("the model is still loading", "model_loading");
      fn(st, req, res);
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, ApiError(500, e.what(), "server_error"));
    }
    st.metrics.count_request(name, res.status == -1 ? 200 : res.status);
  };
}

std::string generic_message(int status) {
  switch (status) {
    case 404: return "no such endpoint";
    case 405: return "method not allowed";
    case 413: return "the request body is too large";
    case 400: return "malformed HTTP request";
    default: return fmt::format("HTTP error {}", status);
  }
}

}  // namespace

void install_routes(httplib::Server& svr, ServerState& st) {
  svr.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    if (st.opts.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + st.opts.api_key) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, ApiError(401, "invalid or missing API key (Authorization: Bearer KEY)", "invalid_request_error", "",
                             "invalid_api_key"));
    st.metrics.count_request("unauthorized", 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses httplib sets itself (404, 413, ...) get an OpenAI error body too.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(res.status, generic_message(res.status),
                             res.status >= 500 ? "server_error" : "invalid_request_error"));
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, ApiError(500, "internal error", "server_error"));
  });

  svr.Post("/v1/chat/completions", endpoint(st, "chat_completions", handle_chat));
  svr.Post("/chat/completions", endpoint(st, "chat_completions", handle_chat));
  svr.Post("/v1/chat/tokenize", endpoint(st, "chat_tokenize", handle_chat_tokenize));
  svr.Post("/v1/completions", endpoint(st, "completions", handle_completion));
  svr.Post("/completions", endpoint(st, "completions", handle_completion));
  svr.Get("/v1/models", [&st](const httplib::Request&, httplib::Response& res) {
    res.set_content(models_body(st.opts.model_alias, st.created, st.opts.session.n_ctx), kJson);
    st.metrics.count_request("models", 200);
  });
  svr.Get("/health", [&st](const httplib::Request&, httplib::Response& res) {
    const bool ready = st.ready;
    res.status = ready ? 200 : 503;
    res.set_content(ready ? R"({"status":"ok"})" : R"({"status":"loading model"})", kJson);
  });
  svr.Get("/metrics", [&st](const httplib::Request&, httplib::Response& res) {
    const bool ready = st.ready;
    res.set_content(st.metrics.render(ready ? st.scheduler->stats() : SlotStats{}, ready), "text/plain; version=0.0.4");
  });
}

}  // namespace nextlm::server
