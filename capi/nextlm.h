/* nextlm C API: a thin, stable C interface over the C++ library.
 *
 * Conventions
 * - Opaque handles: nlm_model, nlm_session. Create with *_load / *_create,
 *   release with *_free (NULL is accepted and ignored).
 * - Every function that can fail returns an nlm_status. On failure the
 *   message is available from the handle it was called on
 *   (nlm_model_error / nlm_session_error), or from nlm_last_error() for
 *   calls that have no handle yet (loading); those strings stay valid until
 *   the next call on the same handle (or thread, for nlm_last_error).
 * - No C++ exception and no abort crosses this interface.
 * - Ownership: buffers passed in stay the caller's; strings returned as
 *   `const char*` belong to the library and are valid as documented per
 *   function; nothing returned must be freed except handles.
 * - Threads: a model may be shared by sessions on different threads; a
 *   session is used by one thread at a time, except nlm_session_cancel,
 *   which any thread may call at any time.
 */
#ifndef NEXTLM_C_H
#define NEXTLM_C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nlm_status {
  NLM_OK = 0,
  NLM_ERR_INVALID_ARGUMENT = 1, /* a bad parameter, token id or request */
  NLM_ERR_IO = 2,               /* a file could not be read or written */
  NLM_ERR_CORRUPT_FILE = 3,     /* a model or state file is damaged or not what it claims */
  NLM_ERR_UNSUPPORTED = 4,      /* valid but not supported (architecture, device, type) */
  NLM_ERR_OUT_OF_MEMORY = 5,
  NLM_ERR_INTERNAL = 6,         /* a bug: please report it with the message */
  NLM_ERR_CANCELLED = 7,        /* a progress callback cancelled loading */
  NLM_ERR_BUFFER_TOO_SMALL = 8  /* the output buffer is too small; *_needed says how much */
} nlm_status;

typedef struct nlm_model nlm_model;
typedef struct nlm_session nlm_session;

/* Library version, e.g. "0.1.0". Static string. */
const char* nlm_version(void);
/* Message of the last failed call on this thread that had no handle (model loading). */
const char* nlm_last_error(void);

/* ---- models ---- */

/* Return false to cancel loading (nlm_model_load then returns NLM_ERR_CANCELLED). */
typedef bool (*nlm_progress_callback)(float fraction, void* user_data);

typedef struct nlm_model_params {
  int32_t n_threads; /* 0: one per hardware thread */
  bool use_mmap;     /* map the file (default) or read it */
  nlm_progress_callback progress;
  void* progress_user_data;
  /* Where it runs (NULL or "": the defaults). devices: "cpu", "cuda:0",
   * "cuda:0,cuda:1", "cpu:0,cpu:1" (virtual CPU devices); split: "layer" or
   * "tensor"; tensor_split: ratios "1,1"; cpu_moe: the routed experts of the
   * first N layers stay on the CPU. A split that cannot be made fails with
   * NLM_ERR_INVALID_ARGUMENT and says why in nlm_last_error(). */
  const char* devices;
  const char* split;
  const char* tensor_split;
  int32_t cpu_moe;
  /* Copy the weights the CPU computes with from the mapping into 2 MiB pages
   * (default true: faster CPU decode; IQ3_S rows are repacked on the way on
   * AVX-512 machines, 22% more memory for them); false uses them in place. */
  bool cpu_huge_pages;
} nlm_model_params;

nlm_model_params nlm_model_default_params(void);
/* On success *out is a new model; on failure *out is NULL and nlm_last_error() says why. */
nlm_status nlm_model_load(const char* path, const nlm_model_params* params, nlm_model** out);
void nlm_model_free(nlm_model* model);
const char* nlm_model_error(const nlm_model* model);
int64_t nlm_model_n_vocab(const nlm_model* model);
int64_t nlm_model_n_ctx_train(const nlm_model* model);
/* Metadata value of `key` rendered as text into buf (NUL-terminated). *needed
 * (if not NULL) receives the length without the NUL. Absent key: "". */
nlm_status nlm_model_metadata(nlm_model* model, const char* key, char* buf, size_t buf_size, size_t* needed);

/* Tokenize len bytes of text into ids[capacity]; *n_tokens receives the count
 * (also when NLM_ERR_BUFFER_TOO_SMALL is returned). */
nlm_status nlm_tokenize(nlm_model* model, const char* text, size_t len, bool parse_special, int32_t* ids,
                        size_t capacity, size_t* n_tokens);
/* Detokenize into buf (NUL-terminated); *needed receives the length without the NUL. */
nlm_status nlm_detokenize(nlm_model* model, const int32_t* ids, size_t n_ids, bool render_special, char* buf,
                          size_t buf_size, size_t* needed);

/* ---- sessions ---- */

typedef struct nlm_session_params {
  int64_t n_ctx;
  const char* cache_type_k; /* "f32", "f16", "bf16", "q8_0", "q4_0" */
  const char* cache_type_v;
  int64_t checkpoint_interval; /* tokens between recurrent-state checkpoints; 0: none */
  int32_t max_checkpoints;
} nlm_session_params;

nlm_session_params nlm_session_default_params(void);
/* The session keeps the model alive: nlm_model_free may be called before nlm_session_free. */
nlm_status nlm_session_create(nlm_model* model, const nlm_session_params* params, nlm_session** out);
void nlm_session_free(nlm_session* session);
const char* nlm_session_error(const nlm_session* session);

typedef struct nlm_prompt_result {
  int64_t prompt_tokens;
  int64_t cached_tokens;    /* reused from the session's state */
  int64_t processed_tokens; /* run through the model */
} nlm_prompt_result;

/* Makes the context equal to tokens[n], reusing the cached prefix. result may be NULL. */
nlm_status nlm_session_set_prompt(nlm_session* session, const int32_t* tokens, size_t n, nlm_prompt_result* result);
nlm_status nlm_session_append_text(nlm_session* session, const char* text, bool parse_special,
                                   nlm_prompt_result* result);

typedef enum nlm_stop_reason {
  NLM_STOP_MAX_TOKENS = 0,
  NLM_STOP_END_OF_GENERATION = 1,
  NLM_STOP_STRING = 2,
  NLM_STOP_TOKEN = 3,
  NLM_STOP_CANCELLED = 4,
  NLM_STOP_CONTEXT_FULL = 5
} nlm_stop_reason;

/* Receives UTF-8-complete text pieces (not NUL-terminated); return false to stop. */
typedef bool (*nlm_text_callback)(const char* piece, size_t len, void* user_data);

typedef struct nlm_generate_params {
  int32_t max_tokens;
  float temperature; /* <= 0: greedy */
  int32_t top_k;
  float top_p;
  float min_p;
  float repeat_penalty;
  float presence_penalty;
  float frequency_penalty;
  uint64_t seed;
  const char* const* stop; /* n_stop stop strings (copied during the call) */
  size_t n_stop;
  bool ignore_eos;
  nlm_text_callback on_text;
  void* user_data;
  /* nlm_session_chat only. false (default): control and user-defined token
   * text inside messages, tool calls/results and tool definitions is
   * tokenized as ordinary text, so it cannot forge turns or tool calls; true:
   * the raw behaviour, such text becomes real tokens. */
  bool parse_special_in_input;
} nlm_generate_params;

typedef struct nlm_generate_result {
  nlm_stop_reason stop_reason;
  int64_t generated_tokens;
  double seconds;
  /* The whole generated text, NUL-terminated; owned by the session, valid
   * until the next generate call on it or its free. */
  const char* text;
} nlm_generate_result;

nlm_generate_params nlm_generate_default_params(void);
nlm_status nlm_session_generate(nlm_session* session, const nlm_generate_params* params, nlm_generate_result* result);
/* Any thread, any time: the current (or next) generate call stops soon. */
void nlm_session_cancel(nlm_session* session);
/* ---- chat ---- */

/* Renders a conversation with the model's chat template into buf
 * (NUL-terminated). messages_json: an OpenAI-style JSON array of messages;
 * tools_json: a JSON array of tools, or NULL. *needed: length without NUL. */
nlm_status nlm_chat_apply_template(nlm_model* model, const char* messages_json, const char* tools_json,
                                   bool add_generation_prompt, char* buf, size_t buf_size, size_t* needed);

/* The tokens nlm_session_chat would feed for this conversation, into
 * ids[capacity]; *n_tokens receives the count (also with
 * NLM_ERR_BUFFER_TOO_SMALL). Control tokens (<|im_start|>...) and
 * user-defined tokens (<tool_call>, <think>...) are recognised only in the
 * template's own text unless parse_special_in_input. */
nlm_status nlm_chat_tokenize(nlm_model* model, const char* messages_json, const char* tools_json,
                             bool add_generation_prompt, bool parse_special_in_input, int32_t* ids, size_t capacity,
                             size_t* n_tokens);

typedef struct nlm_chat_result {
  nlm_stop_reason stop_reason;
  const char* finish_reason;     /* "stop", "length", "tool_calls", "cancelled" */
  const char* content;           /* text outside tool calls */
  const char* reasoning_content; /* a leading think block, or NULL */
  size_t n_tool_calls;           /* read them with nlm_session_tool_call */
  int64_t prompt_tokens;
  int64_t cached_tokens; /* of the prompt, reused from the session */
  int64_t generated_tokens;
} nlm_chat_result;

typedef struct nlm_tool_call {
  const char* id;
  const char* name;
  const char* arguments_json; /* a JSON object */
} nlm_tool_call;

/* Runs one chat turn: the whole conversation goes in (the session reuses the
 * prefix it holds), the reply comes back parsed. params->on_text receives
 * content deltas. All strings in *result (and from nlm_session_tool_call)
 * are owned by the session and valid until its next chat call or its free. */
nlm_status nlm_session_chat(nlm_session* session, const char* messages_json, const char* tools_json,
                            const nlm_generate_params* params, nlm_chat_result* result);
nlm_status nlm_session_tool_call(nlm_session* session, size_t index, nlm_tool_call* out);

/* Keeps the first n tokens of the context. */
nlm_status nlm_session_rewind(nlm_session* session, int64_t n);
int64_t nlm_session_n_tokens(const nlm_session* session);

/* State snapshots (versioned and checksummed; a damaged or foreign one is
 * NLM_ERR_CORRUPT_FILE or NLM_ERR_INVALID_ARGUMENT, never a crash). */
nlm_status nlm_session_save_file(nlm_session* session, const char* path);
nlm_status nlm_session_load_file(nlm_session* session, const char* path);
/* Into buf[buf_size]; *needed receives the state's size (call with buf NULL to ask). */
nlm_status nlm_session_save_state(nlm_session* session, uint8_t* buf, size_t buf_size, size_t* needed);
nlm_status nlm_session_load_state(nlm_session* session, const uint8_t* data, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* NEXTLM_C_H */
