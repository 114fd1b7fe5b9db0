// Native part of the Python module: thin wrappers over the C++ API. The GIL
// is released while the engine computes and re-taken for callbacks.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "nextlm/chat.h"
#include "nextlm/error.h"
#include "nextlm/model.h"
#include "nextlm/session.h"

namespace py = pybind11;
using namespace nextlm;

namespace {

GenerateOptions generate_options(const py::dict& o) {
  GenerateOptions g;
  auto get = [&](const char* k) { return o.contains(k) && !o[k].is_none(); };
  if (get("max_tokens")) g.max_tokens = o["max_tokens"].cast<int32_t>();
  if (get("stop")) g.stop = o["stop"].cast<std::vector<std::string>>();
  if (get("stop_tokens")) g.stop_tokens = o["stop_tokens"].cast<std::vector<int32_t>>();
  if (get("ignore_eos")) g.ignore_eos = o["ignore_eos"].cast<bool>();
  SamplingParams& s = g.sampling;
  if (get("temperature")) s.temperature = o["temperature"].cast<float>();
  if (get("top_k")) s.top_k = o["top_k"].cast<int32_t>();
  if (get("top_p")) s.top_p = o["top_p"].cast<float>();
  if (get("min_p")) s.min_p = o["min_p"].cast<float>();
  if (get("repeat_penalty")) s.repeat_penalty = o["repeat_penalty"].cast<float>();
  if (get("presence_penalty")) s.presence_penalty = o["presence_penalty"].cast<float>();
  if (get("frequency_penalty")) s.frequency_penalty = o["frequency_penalty"].cast<float>();
  if (get("seed")) s.seed = o["seed"].cast<uint64_t>();
  if (get("logit_bias")) {
    for (auto [k, v] : o["logit_bias"].cast<py::dict>()) s.logit_bias.emplace_back(py::int_(py::reinterpret_borrow<py::object>(k)).cast<int32_t>(), v.cast<float>());
  }
  return g;
}

const char* stop_name(StopReason r) {
  switch (r) {
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kEndOfGeneration: return "end_of_generation";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kStopToken: return "stop_token";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kContextFull: return "context_full";
  }
  return "unknown";
}

py::dict prompt_dict(const PromptResult& p) {
  py::dict d;
  d["prompt_tokens"] = p.prompt_tokens;
  d["cached_tokens"] = p.cached_tokens;
  d["processed_tokens"] = p.processed_tokens;
  d["seconds"] = p.seconds;
  return d;
}

const char* event_kind(ChatEvent::Kind k) {
  switch (k) {
    case ChatEvent::Kind::kContent: return "content";
    case ChatEvent::Kind::kReasoning: return "reasoning";
    case ChatEvent::Kind::kToolCallBegin: return "tool_call_begin";
    case ChatEvent::Kind::kToolCallArguments: return "tool_call_arguments";
    case ChatEvent::Kind::kToolCallEnd: return "tool_call_end";
    case ChatEvent::Kind::kToolCallAbandoned: return "tool_call_abandoned";
  }
  return "unknown";
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "nextlm native extension (use the `nextlm` package)";
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);

  py::class_<Model, std::shared_ptr<Model>>(m, "Model")
      .def(py::init([](const std::string& path, int n_threads, bool use_mmap, bool exact, py::object progress,
                       const std::string& devices, const std::string& split, const std::string& tensor_split,
                       int cpu_moe, bool cpu_huge_pages) {
             ModelParams p;
             p.n_threads = n_threads;
             p.use_mmap = use_mmap;
             p.exact = exact;
             p.devices = devices;
             p.split = split;
             p.tensor_split = tensor_split;
             p.cpu_moe = cpu_moe;
             p.cpu_huge_pages = cpu_huge_pages;
             if (!progress.is_none()) {
               p.progress = [progress](float f) {
                 py::gil_scoped_acquire gil;
                 py::object r = progress(f);
                 return r.is_none() || r.cast<bool>();
               };
             }
             py::gil_scoped_release release;
             return Model::load(path, p);
           }),
           py::arg("path"), py::arg("n_threads") = 0, py::arg("use_mmap") = true, py::arg("exact") = false,
           py::arg("progress") = py::none(), py::arg("devices") = "", py::arg("split") = "layer",
           py::arg("tensor_split") = "", py::arg("cpu_moe") = 0, py::arg("cpu_huge_pages") = true)
      .def_property_readonly("n_vocab", &Model::n_vocab)
      .def_property_readonly("n_ctx_train", &Model::n_ctx_train)
      .def_property_readonly("n_layer", &Model::n_layer)
      .def_property_readonly("n_params", &Model::n_params)
      .def_property_readonly("architecture", &Model::architecture)
      .def_property_readonly("name", &Model::name)
      .def("metadata", [](const Model& mdl, const std::string& k) { return mdl.metadata(k); })
      .def("tokenize", [](const Model& mdl, const std::string& text, bool special) { return mdl.tokenize(text, special); },
           py::arg("text"), py::arg("parse_special") = false)
      .def("detokenize",
           [](const Model& mdl, const std::vector<int32_t>& ids, bool special) {
             return py::bytes(mdl.detokenize(ids, special));
           },
           py::arg("ids"), py::arg("render_special") = false)
      .def("apply_chat_template", &apply_chat_template, py::arg("messages_json"), py::arg("tools_json") = "",
           py::arg("add_generation_prompt") = true, py::arg("template_vars_json") = "", py::arg("template_name") = "")
      .def("chat_tokenize",
           [](const Model& mdl, const std::string& messages_json, const std::string& tools_json, bool add_gen,
              const std::string& vars_json, bool parse_special_in_input) {
             return tokenize_chat_prompt(mdl, render_chat_prompt(mdl, messages_json, tools_json, add_gen, vars_json),
                                         parse_special_in_input);
           },
           py::arg("messages_json"), py::arg("tools_json") = "", py::arg("add_generation_prompt") = true,
           py::arg("template_vars_json") = "", py::arg("parse_special_in_input") = false);

  py::class_<Session>(m, "Session")
      .def(py::init([](std::shared_ptr<Model> model, int64_t n_ctx, const std::string& k, const std::string& v,
                       int64_t checkpoint_interval, int max_checkpoints) {
             SessionParams p;
             p.n_ctx = n_ctx;
             p.cache_type_k = k;
             p.cache_type_v = v;
             p.checkpoint_interval = checkpoint_interval;
             p.max_checkpoints = max_checkpoints;
             return std::make_unique<Session>(std::move(model), p);
           }),
           py::arg("model"), py::arg("n_ctx") = 4096, py::arg("cache_type_k") = "f16", py::arg("cache_type_v") = "f16",
           py::arg("checkpoint_interval") = 1024, py::arg("max_checkpoints") = 32, py::keep_alive<1, 2>())
      .def("set_prompt",
           [](Session& s, const std::vector<int32_t>& toks) {
             py::gil_scoped_release release;
             return s.set_prompt(toks);
           })
      .def("generate",
           [](Session& s, const py::dict& opts, py::object on_text) {
             GenerateOptions g = generate_options(opts);
             if (!on_text.is_none()) {
               g.on_text = [on_text](std::string_view piece) {
                 py::gil_scoped_acquire gil;
                 py::object r = on_text(py::str(piece.data(), piece.size()));
                 return r.is_none() || r.cast<bool>();
               };
             }
             GenerateResult r;
             {
               py::gil_scoped_release release;
               r = s.generate(g);
             }
             py::dict d;
             d["text"] = r.text;
             d["tokens"] = r.tokens;
             d["stop_reason"] = stop_name(r.stop_reason);
             d["generated_tokens"] = r.generated_tokens;
             d["seconds"] = r.seconds;
             return d;
           },
           py::arg("options"), py::arg("on_text") = py::none())
      .def("chat",
           [](Session& s, const std::string& messages_json, const py::dict& opts, const std::string& tools_json,
              const std::string& vars_json, py::object on_event, bool parse_special_in_input) {
             ChatOptions o;
             o.generate = generate_options(opts);
             o.tools_json = tools_json;
             o.template_vars_json = vars_json;
             o.parse_special_in_input = parse_special_in_input;
             if (!on_event.is_none()) {
               o.on_event = [on_event](const ChatEvent& e) {
                 py::gil_scoped_acquire gil;
                 py::dict d;
                 d["kind"] = event_kind(e.kind);
                 d["text"] = e.text;
                 d["index"] = e.index;
                 d["id"] = e.id;
                 d["name"] = e.name;
                 d["arguments"] = e.arguments_json;
                 on_event(d);
               };
             }
             ChatResult r;
             {
               py::gil_scoped_release release;
               r = chat_completion(s, messages_json, o);
             }
             py::dict d;
             d["content"] = r.content;
             d["reasoning_content"] = r.reasoning_content ? py::object(py::str(*r.reasoning_content)) : py::none();
             py::list calls;
             for (const auto& c : r.tool_calls) {
               py::dict tc;
               tc["id"] = c.id;
               tc["name"] = c.name;
               tc["arguments"] = c.arguments_json;
               calls.append(tc);
             }
             d["tool_calls"] = calls;
             d["finish_reason"] = r.finish_reason;
             d["prompt"] = prompt_dict(r.prompt);
             d["generated_tokens"] = r.generation.generated_tokens;
             return d;
           },
           py::arg("messages_json"), py::arg("options"), py::arg("tools_json") = "", py::arg("template_vars_json") = "",
           py::arg("on_event") = py::none(), py::arg("parse_special_in_input") = false)
      .def("cancel", &Session::cancel)
      .def("rewind", &Session::rewind)
      .def("save_state", [](const Session& s) {
        auto b = s.save_state();
        return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
      })
      .def("load_state", [](Session& s, const py::bytes& b) {
        std::string_view v = b;
        s.load_state(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()), v.size()));
      })
      .def("save_file", &Session::save_file)
      .def("load_file", &Session::load_file)
      .def_property_readonly("tokens", &Session::tokens)
      .def_property_readonly("n_ctx", &Session::n_ctx);

  py::class_<PromptResult>(m, "PromptResult")
      .def_readonly("prompt_tokens", &PromptResult::prompt_tokens)
      .def_readonly("cached_tokens", &PromptResult::cached_tokens)
      .def_readonly("processed_tokens", &PromptResult::processed_tokens);
}
