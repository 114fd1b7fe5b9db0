// Sessions over the tiny fixture models: generation, stop strings, UTF-8
// streaming, cancel, state files, fork/rewind, prefix reuse, concurrency.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "fixtures.h"
#include "nextlm/error.h"
#include "nextlm/chat.h"
#include "nextlm/session.h"
#include "session/text_stream.h"
#include "tokenizer/tokenizer.h"

using namespace nextlm;

namespace {

std::shared_ptr<Model> load(const std::string& name = "tiny-qwen3next-q4_k_m.gguf", bool exact = false) {
  ModelParams p;
  p.n_threads = 2;
  p.exact = exact;
  return Model::load(test::fixture("models/" + name), p);
}

nlohmann::json ref_json(const std::string& name) {
  auto b = test::read_file(test::fixture("refs/" + name));
  return nlohmann::json::parse(b.begin(), b.end());
}

GenerateOptions greedy(int n) {
  GenerateOptions o;
  o.max_tokens = n;
  o.ignore_eos = true;
  o.sampling.temperature = 0.0f;
  return o;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

TEST_CASE("session: greedy generation reproduces llama.cpp's tokens", "[session][fixtures]") {
  auto model = load("tiny-qwen3next-q4_k_m.gguf", true);
  auto ref = ref_json("tiny-qwen3next-q4_k_m.p1.exact.json");
  Session s(model, {.n_ctx = 256, .cache_type_k = "f32", .cache_type_v = "f32"});
  const auto prompt = ref["prompt_tokens"].get<std::vector<int32_t>>();
  auto pr = s.set_prompt(prompt);
  CHECK(pr.processed_tokens == static_cast<int64_t>(prompt.size()));
  auto r = s.generate(greedy(16));
  CHECK(r.tokens == ref["generated_tokens"].get<std::vector<int32_t>>());
  CHECK(r.stop_reason == StopReason::kMaxTokens);
  CHECK(valid_utf8(r.text));
}

TEST_CASE("session: stop strings across token boundaries, UTF-8 pieces", "[session][fixtures]") {
  auto tok = tokenizer::Tokenizer::from_file(test::fixture("tokenizer/qwen3-vocab.gguf"));
  const std::string text = "Hello world, here is a llama 🦙 and héllo STOP no more";
  const auto ids = tok.encode(text);
  for (const std::string stop : {"STOP", "ld, he", "🦙", "o S"}) {
    session::TextStream ts(tok, {stop, "never-there"});
    std::string out;
    for (int32_t id : ids) {
      std::string piece = ts.push(id);
      CHECK(valid_utf8(piece));
      out += piece;
      if (ts.stopped()) break;
    }
    out += ts.finish();
    CHECK(ts.stopped());
    CHECK(out == text.substr(0, text.find(stop)));
  }
  session::TextStream plain(tok, {});
  std::string out;
  for (int32_t id : ids) out += plain.push(id);
  out += plain.finish();
  CHECK(out == text);
}

TEST_CASE("session: cancel from the callback and from another thread", "[session][fixtures]") {
  auto model = load();
  Session s(model, {.n_ctx = 512});
  s.set_prompt(model->tokenize("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", true));
  auto o = greedy(200);
  int pieces = 0;
  o.on_text = [&](std::string_view) { return ++pieces < 3; };
  auto r = s.generate(o);
  CHECK(r.stop_reason == StopReason::kCancelled);
  CHECK(pieces == 3);

  auto o2 = greedy(100000);
  o2.on_text = [&](std::string_view) {
    s.cancel();  // as another thread would, mid-generation
    return true;
  };
  s.set_prompt(model->tokenize("again", false));
  auto r2 = s.generate(o2);
  CHECK(r2.stop_reason == StopReason::kCancelled);
  CHECK(r2.generated_tokens < 50);

  std::thread t([&] { s.cancel(); });
  t.join();
  auto r3 = s.generate(greedy(100000));  // a cancel before generate() stops the next one
  CHECK(r3.stop_reason == StopReason::kCancelled);
  CHECK(s.generate(greedy(2)).stop_reason == StopReason::kMaxTokens);  // and is then cleared
}

TEST_CASE("session: save/load round trip continues identically; corrupt states are errors", "[session][fixtures]") {
  auto model = load();
  Session a(model, {.n_ctx = 256, .cache_type_k = "q8_0", .cache_type_v = "q4_0"});
  a.set_prompt(model->tokenize("The quick brown fox", false));
  a.generate(greedy(5));
  const auto state = a.save_state();
  const auto cont = a.generate(greedy(8));

  Session b(model, {.n_ctx = 256, .cache_type_k = "q8_0", .cache_type_v = "q4_0"});
  b.load_state(state);
  CHECK(b.generate(greedy(8)).tokens == cont.tokens);

  const std::string path = test::fixtures_dir().empty() ? "" : "/tmp/nextlm_test_state.bin";
  b.load_state(state);
  b.save_file(path);
  Session c(model, {.n_ctx = 256, .cache_type_k = "q8_0", .cache_type_v = "q4_0"});
  c.load_file(path);
  CHECK(c.generate(greedy(8)).tokens == cont.tokens);

  auto damaged = state;
  damaged[damaged.size() / 2] ^= 0x40;
  CHECK_THROWS_AS(c.load_state(damaged), Error);
  auto cut = std::vector<uint8_t>(state.begin(), state.begin() + state.size() / 3);
  CHECK_THROWS_AS(c.load_state(cut), Error);
  CHECK_THROWS_AS(c.load_state(std::vector<uint8_t>(100, 7)), Error);
  CHECK_THROWS_AS(c.load_state({}), Error);
  Session other_shape(model, {.n_ctx = 128});
  CHECK_THROWS_AS(other_shape.load_state(state), Error);
  auto other_model = load("tiny-qwen3next-iq3_m.gguf");
  Session foreign(other_model, {.n_ctx = 256, .cache_type_k = "q8_0", .cache_type_v = "q4_0"});
  CHECK_THROWS_AS(foreign.load_state(state), Error);
  // A failed load leaves the session usable.
  CHECK(c.generate(greedy(2)).generated_tokens == 2);
}

TEST_CASE("session: fork and rewind", "[session][fixtures]") {
  auto model = load();
  Session s(model, {.n_ctx = 256, .checkpoint_interval = 4});
  const auto prompt = model->tokenize("One two three four five six seven eight nine ten", false);
  s.set_prompt(prompt);
  auto f = s.fork();
  const auto r1 = s.generate(greedy(6));
  CHECK(f->generate(greedy(6)).tokens == r1.tokens);

  s.rewind(static_cast<int64_t>(prompt.size()));
  CHECK(s.tokens() == prompt);
  CHECK(s.generate(greedy(6)).tokens == r1.tokens);

  const std::span<const int32_t> half(prompt.data(), prompt.size() / 2);
  // Same batch split as the rewound session (checkpoints every 4 tokens), so both run the
  // same float operations: chunked and recurrent delta rules agree only to rounding.
  Session fresh(model, {.n_ctx = 256, .checkpoint_interval = 4});
  fresh.set_prompt(half);
  const auto expect = fresh.generate(greedy(4));
  s.rewind(static_cast<int64_t>(half.size()));
  CHECK(s.generate(greedy(4)).tokens == expect.tokens);
}

TEST_CASE("session: a 4-turn tool conversation re-sent in full reuses its prefix", "[session][fixtures]") {
  auto model = load();
  Session s(model, {.n_ctx = 2048, .checkpoint_interval = 0});
  // Each turn re-sends the whole conversation: the previous prompt, the reply
  // as generated, then the new message (a tool result every other turn).
  std::vector<int32_t> convo = model->tokenize("<|im_start|>system\nYou can call tools.<|im_end|>\n", true);
  int64_t expected_cached = 0;
  const auto end = model->tokenize("<|im_end|>\n", true);
  for (int turn = 0; turn < 4; ++turn) {
    const std::string msg = turn % 2 == 0 ? "<|im_start|>user\nWhat is 2+" + std::to_string(turn) + "?<|im_end|>\n"
                                          : "<|im_start|>user\n<tool_response>\n4\n</tool_response><|im_end|>\n";
    const auto add = model->tokenize(msg + "<|im_start|>assistant\n", true);
    std::vector<int32_t> prompt = convo;
    prompt.insert(prompt.end(), add.begin(), add.end());
    const int64_t boundary = static_cast<int64_t>(convo.size());
    auto pr = s.set_prompt(prompt, std::span<const int64_t>(&boundary, 1));
    INFO("turn " << turn);
    CHECK(pr.cached_tokens == expected_cached);
    CHECK(pr.processed_tokens == pr.prompt_tokens - expected_cached);
    // Only the closing of the reply and the new message run through the model.
    if (turn > 0) CHECK(pr.processed_tokens == static_cast<int64_t>(end.size() + add.size()));
    auto r = s.generate(greedy(6));
    convo = prompt;
    convo.insert(convo.end(), r.tokens.begin(), r.tokens.end());
    expected_cached = static_cast<int64_t>(convo.size());
    convo.insert(convo.end(), end.begin(), end.end());
  }
  // A client whose re-sent reply differs from what was generated resumes from
  // the checkpoint at the end of its previous prompt.
  std::vector<int32_t> edited(s.tokens().begin(), s.tokens().end() - 6);
  const int64_t prompt_end = static_cast<int64_t>(edited.size());
  const auto other = model->tokenize("A different reply.<|im_end|>\n", true);
  edited.insert(edited.end(), other.begin(), other.end());
  auto pr = s.set_prompt(edited);
  CHECK(pr.cached_tokens == prompt_end);
  CHECK(pr.processed_tokens == static_cast<int64_t>(other.size()));
}

TEST_CASE("session: sessions on several threads give their single-thread results", "[session][fixtures]") {
  auto model = load();
  const char* prompts[] = {"alpha beta", "gamma delta epsilon", "zeta"};
  std::vector<std::vector<int32_t>> expect;
  for (const char* p : prompts) {
    Session s(model, {.n_ctx = 128});
    s.set_prompt(model->tokenize(p, false));
    expect.push_back(s.generate(greedy(10)).tokens);
  }
  std::vector<std::vector<int32_t>> got(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      Session s(model, {.n_ctx = 128});
      s.set_prompt(model->tokenize(prompts[i], false));
      got[i] = s.generate(greedy(10)).tokens;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(got == expect);
}

TEST_CASE("session: bad use is an error", "[session][fixtures]") {
  auto model = load();
  CHECK_THROWS_AS(Session(model, {.n_ctx = 0}), Error);
  CHECK_THROWS_AS(Session(model, {.cache_type_k = "q4_K"}), Error);
  Session s(model, {.n_ctx = 8});
  CHECK_THROWS_AS(s.generate(greedy(1)), Error);  // nothing to continue from
  std::vector<int32_t> too_long(9, 1);
  CHECK_THROWS_AS(s.set_prompt(too_long), Error);
  std::vector<int32_t> bad_id = {static_cast<int32_t>(model->n_vocab())};
  CHECK_THROWS_AS(s.set_prompt(bad_id), Error);
  s.set_prompt(std::vector<int32_t>{1, 2, 3});
  auto r = s.generate(greedy(100));
  CHECK(r.stop_reason == StopReason::kContextFull);
  CHECK_THROWS_AS(s.rewind(100), Error);
  ModelParams cancel;
  cancel.progress = [](float f) { return f < 0.5f; };
  CHECK_THROWS_AS(Model::load(test::fixture("models/tiny-qwen3next-q4_k_m.gguf"), cancel), Error);
  CHECK_THROWS_AS(Model::load("/nonexistent.gguf"), Error);
  auto est = Model::estimate_memory(test::fixture("models/tiny-qwen3next-q4_k_m.gguf"), 4096, "q8_0", "q4_0");
  CHECK(est.weights_bytes > 9000000);
  CHECK(est.kv_cache_bytes == 4096ull * 2 * 2 * (34 * 2 + 18 * 2));  // 2 attention layers, 2 kv heads, 64-dim rows
}

TEST_CASE("session: chat completion renders the model's template and reuses the conversation", "[session][fixtures]") {
  auto model = load();
  Session s(model, {.n_ctx = 4096});
  const std::string tools = R"([{"type": "function", "function": {"name": "read_file", "description": "Read a file",
      "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}])";
  std::string messages = R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}])";
  const std::string rendered = apply_chat_template(*model, messages, tools);
  CHECK(rendered.find("read_file") != std::string::npos);
  CHECK(rendered.find("<|im_start|>assistant\n") != std::string::npos);
  ChatOptions o;
  o.generate = greedy(8);
  o.tools_json = tools;
  std::string streamed;
  o.generate.on_text = [&](std::string_view t) {
    streamed += t;
    return true;
  };
  int events = 0;
  o.on_event = [&](const ChatEvent&) { ++events; };
  ChatResult r1 = chat_completion(s, messages, o);
  CHECK(r1.prompt.cached_tokens == 0);
  CHECK(r1.prompt.prompt_tokens == static_cast<int64_t>(model->tokenize(rendered, true).size()));
  CHECK(r1.generation.generated_tokens == 8);
  CHECK(r1.finish_reason == "length");
  CHECK(streamed == r1.content);
  CHECK(events > 0);

  // The client sends the conversation back with the reply and a new message.
  nlohmann::json msgs = nlohmann::json::parse(messages);
  msgs.push_back({{"role", "assistant"}, {"content", r1.content}});
  msgs.push_back({{"role", "user"}, {"content", "And now?"}});
  ChatResult r2 = chat_completion(s, msgs.dump(), o);
  CHECK(r2.prompt.cached_tokens >= r1.prompt.prompt_tokens);
  CHECK(r2.prompt.processed_tokens < r2.prompt.prompt_tokens / 2);

  CHECK_THROWS_AS(chat_completion(s, "not json", o), Error);
  CHECK_THROWS_AS(chat_completion(s, R"([{"role": "wizard", "content": "x"}])", o), Error);
  CHECK_THROWS_AS(chat_completion(s, R"({"role": "user"})", o), Error);
}

TEST_CASE("session: decode_together gives each session what it generates alone", "[session][fixtures]") {
  auto model = load();
  const std::vector<std::string> prompts = {"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
                                            "The quick brown fox", "def f(x):\n    return"};
  std::vector<GenerateResult> alone;
  for (const auto& p : prompts) {
    Session s(model, {.n_ctx = 128});
    s.set_prompt(model->tokenize(p, true));
    alone.push_back(s.generate(greedy(6 + static_cast<int>(alone.size()))));
  }
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::unique_ptr<Generation>> gens;
  std::vector<Generation*> ptrs;
  std::vector<std::string> streamed(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    sessions.push_back(std::make_unique<Session>(model, SessionParams{.n_ctx = 128}));
    sessions.back()->set_prompt(model->tokenize(prompts[i], true));
    GenerateOptions o = greedy(6 + static_cast<int>(i));
    o.on_text = [&streamed, i](std::string_view t) {
      streamed[i] += t;
      return true;
    };
    gens.push_back(std::make_unique<Generation>(*sessions.back(), o));
    ptrs.push_back(gens.back().get());
  }
  int steps = 0;
  while (decode_together(ptrs) > 0) ++steps;
  CHECK(steps == 8);  // the longest feeds 8 tokens; the call after them ends it
  for (size_t i = 0; i < prompts.size(); ++i) {
    CHECK(gens[i]->result().tokens == alone[i].tokens);
    CHECK(gens[i]->result().text == alone[i].text);
    CHECK(streamed[i] == alone[i].text);
  }
  // A forced token is fed instead of a sampled one.
  Session s(model, {.n_ctx = 64});
  s.set_prompt(model->tokenize("Hi", true));
  Generation g(s, greedy(2));
  g.force_next(42);
  Generation* one[] = {&g};
  decode_together(one);
  CHECK(g.result().tokens.front() == 42);
  CHECK_THROWS_AS(g.force_next(-1), Error);
}

TEST_CASE("session: reusable_prefix predicts set_prompt's cached tokens", "[session][fixtures]") {
  auto model = load();
  Session s(model, {.n_ctx = 256, .checkpoint_interval = 0});
  const auto turn1 = model->tokenize("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", true);
  CHECK(s.reusable_prefix(turn1) == 0);
  const std::vector<int64_t> boundary = {5};
  s.set_prompt(turn1, boundary);
  s.generate(greedy(4));
  auto turn2 = s.tokens();
  const auto more = model->tokenize("<|im_end|>\n<|im_start|>user\nAgain<|im_end|>\n", true);
  turn2.insert(turn2.end(), more.begin(), more.end());
  const int64_t predicted = s.reusable_prefix(turn2);
  CHECK(predicted == static_cast<int64_t>(turn1.size()) + 4);  // the whole history: nothing to go back over
  CHECK(s.set_prompt(turn2).cached_tokens == predicted);
  // Diverging inside the first turn: back to the checkpoint at the boundary.
  std::vector<int32_t> other(turn1.begin(), turn1.begin() + 7);
  other.push_back(model->tokenize("x")[0]);
  CHECK(s.reusable_prefix(other) == 5);
  CHECK(s.set_prompt(other).cached_tokens == 5);
  CHECK(s.reusable_prefix(other) == static_cast<int64_t>(other.size()));
}
