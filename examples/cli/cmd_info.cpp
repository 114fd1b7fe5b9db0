// `nextlm info MODEL [--json]`: what a GGUF file holds — architecture,
// hyperparameters, tokenizer summary, tensors and bytes per type.
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "gguf/gguf_reader.h"

namespace nextlm::cli {

namespace {

using nlohmann::json;

json value_to_json(const gguf::Value& v) {
  using gguf::ValueType;
  switch (v.type()) {
    case ValueType::STRING: return std::string(v.as_string());
    case ValueType::BOOL: return v.as_bool();
    case ValueType::F32:
    case ValueType::F64: return v.as_float();
    case ValueType::U64: return v.as_uint();
    case ValueType::ARRAY: {
      // Long arrays (vocabularies, merges) are summarised, not dumped.
      json a = json::array();
      for (uint64_t i = 0; i < v.size() && i < 16; ++i) {
        if (v.elem_type() == ValueType::STRING) a.push_back(std::string(v.string_at(i)));
        else if (v.elem_type() == ValueType::ARRAY) a.push_back(value_to_json(v.array_at(i)));
        else if (v.elem_type() == ValueType::F32 || v.elem_type() == ValueType::F64) a.push_back(v.float_at(i));
        else if (v.elem_type() == ValueType::U64) a.push_back(static_cast<uint64_t>(v.int_at(i)));
        else a.push_back(v.int_at(i));
      }
      if (v.size() <= 16) return a;
      return json{{"type", gguf::value_type_name(v.elem_type())}, {"length", v.size()}, {"first", a}};
    }
    default: return v.as_int();
  }
}

struct Summary {
  std::string arch;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_type;  // name -> (tensors, bytes)
  uint64_t tensor_bytes = 0;
  uint64_t n_params = 0;
};

Summary summarise(const gguf::GgufFile& f) {
  Summary s;
  s.arch = f.get_string("general.architecture", "");
  for (const gguf::TensorInfo& t : f.tensors()) {
    auto& e = s.per_type[quant::type_info(t.type).name];
    e.first += 1;
    e.second += t.n_bytes;
    s.tensor_bytes += t.n_bytes;
    s.n_params += static_cast<uint64_t>(t.n_elements());
  }
  return s;
}

bool is_long_array(const gguf::Value& v) { return v.is_array() && v.size() > 16; }

void print_text(const gguf::GgufFile& f, const Summary& s) {
  fmt::print("file: {}\n", f.path());
  fmt::print("gguf version {}, alignment {}, {} metadata keys, {} tensors, data at byte {}\n", f.version(),
             f.alignment(), f.metadata().size(), f.tensors().size(), f.data_offset());
  fmt::print("architecture: {}\n", s.arch.empty() ? "(none)" : s.arch);
  fmt::print("parameters: {} ({:.2f} B), tensor data {} bytes ({:.2f} GiB, {:.3f} bits/weight)\n", s.n_params,
             s.n_params / 1e9, s.tensor_bytes, s.tensor_bytes / double(1ull << 30),
             s.n_params ? 8.0 * s.tensor_bytes / s.n_params : 0.0);
  fmt::print("\nhyperparameters:\n");
  std::string prefix = s.arch + ".";
  for (const auto& e : f.metadata()) {
    if (!s.arch.empty() && e.key.rfind(prefix, 0) == 0) fmt::print("  {} = {}\n", e.key, e.value.to_display());
  }
  fmt::print("\ntokenizer:\n");
  for (const auto& e : f.metadata()) {
    if (e.key.rfind("tokenizer.", 0) != 0) continue;
    if (e.key == "tokenizer.chat_template") {
      fmt::print("  {} = ({} bytes)\n", e.key, e.value.is_string() ? e.value.as_string().size() : 0);
    } else if (is_long_array(e.value)) {
      fmt::print("  {} = [{} x {}]\n", e.key, e.value.size(), gguf::value_type_name(e.value.elem_type()));
    } else {
      fmt::print("  {} = {}\n", e.key, e.value.to_display());
    }
  }
  fmt::print("\nother metadata:\n");
  for (const auto& e : f.metadata()) {
    if (e.key.rfind("tokenizer.", 0) == 0 || (!s.arch.empty() && e.key.rfind(prefix, 0) == 0)) continue;
    fmt::print("  {} = {}\n", e.key, e.value.to_display());
  }
  fmt::print("\nbytes per type:\n");
  for (const auto& [name, e] : s.per_type) {
    fmt::print("  {:<8} {:>5} tensors {:>14} bytes  {:5.1f}%\n", name, e.first, e.second,
               s.tensor_bytes ? 100.0 * e.second / s.tensor_bytes : 0.0);
  }
  fmt::print("\ntensors:\n");
  for (const gguf::TensorInfo& t : f.tensors()) {
    fmt::print("  {:<40} {:<8} {:<22} {:>12} bytes\n", t.name, quant::type_info(t.type).name, t.shape_string(),
               t.n_bytes);
  }
}

json to_json(const gguf::GgufFile& f, const Summary& s) {
  json j;
  j["file"] = f.path();
  j["gguf_version"] = f.version();
  j["alignment"] = f.alignment();
  j["architecture"] = s.arch;
  j["parameters"] = s.n_params;
  j["tensor_bytes"] = s.tensor_bytes;
  json meta = json::object();
  for (const auto& e : f.metadata()) meta[e.key] = value_to_json(e.value);
  j["metadata"] = meta;
  json types = json::object();
  for (const auto& [name, e] : s.per_type) types[name] = {{"tensors", e.first}, {"bytes", e.second}};
  j["bytes_per_type"] = types;
  json tensors = json::array();
  for (const gguf::TensorInfo& t : f.tensors()) {
    json shape = json::array();
    for (int d = 0; d < t.n_dims; ++d) shape.push_back(t.ne[d]);
    tensors.push_back({{"name", t.name},
                       {"type", quant::type_info(t.type).name},
                       {"shape", shape},
                       {"offset", t.offset},
                       {"bytes", t.n_bytes}});
  }
  j["tensors"] = tensors;
  return j;
}

}  // namespace

int cmd_info(int argc, char** argv) {
  Args args(argc, argv, {}, {"json"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  auto f = gguf::GgufFile::open(args.positionals()[0]);
  Summary s = summarise(*f);
  if (args.has("json")) {
    // Invalid UTF-8 in metadata strings is replaced rather than aborting the dump.
    fmt::print("{}\n", to_json(*f, s).dump(2, ' ', false, json::error_handler_t::replace));
  } else {
    print_text(*f, s);
  }
  return 0;
}

}  // namespace nextlm::cli
