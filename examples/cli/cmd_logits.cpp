// `nextlm logits MODEL (--prompt-file F | --force-tokens REF.json) --out PREFIX
//  [--n-gen 16] [--every N] [--exact] [--cache-type-k T] [--cache-type-v T]
//  [--ubatch N] [--threads N] [--recurrent] [--device cpu|cuda[:N]]
//  [--devices D,D [--split layer|tensor] [--tensor-split R,R]] [--cpu-moe N]`
// Writes PREFIX.json + PREFIX.logits.f32 in the layout of the fixtures'
// reference dumps. With --force-tokens the reference's tokens are fed
// (teacher forcing); otherwise the prompt is tokenized and generation is greedy.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "model/qwen3next.h"
#include "nextlm/error.h"
#include "quant/quantize.h"
#include "runtime/cpu/cpu_backend.h"
#include "model/placement.h"
#include "runtime/devices.h"
#include "tokenizer/tokenizer.h"

namespace nextlm::cli {

namespace {

using nlohmann::json;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}



}  // namespace

int cmd_logits(int argc, char** argv) {
  Args args(argc, argv,
            {"prompt-file", "force-tokens", "out", "n-gen", "every", "cache-type-k", "cache-type-v", "ubatch",
             "threads", "ctx", "device", "devices", "split", "tensor-split", "cpu-moe"},
            {"exact", "recurrent"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  if (args.has("prompt-file") == args.has("force-tokens")) throw UsageError{"give --prompt-file or --force-tokens"};
  const std::string prefix = args.require("out");
  const int64_t ubatch = args.get_int("ubatch", 512);
  if (ubatch <= 0) throw UsageError{"--ubatch must be positive"};
  const int threads = static_cast<int>(args.get_int("threads", 2));
  if (threads <= 0 || threads > 1024) throw UsageError{"--threads out of range"};

  const std::string model_path = args.positionals()[0];
  auto file = gguf::GgufFile::open(model_path);
  const auto mode = args.has("exact") ? runtime::ComputeMode::kExact : runtime::ComputeMode::kNative;
  // --device D is the one-device form of --devices D,...
  if (args.has("device") && args.has("devices")) throw UsageError{"give --device or --devices, not both"};
  const runtime::Topology topo =
      runtime::Topology::parse(args.get("devices", args.get("device", "cpu")), args.get("split", "layer"),
                               args.get("tensor-split", ""), "", static_cast<int>(args.get_int("cpu-moe", 0)));
  model::PlanRequest sizing;
  sizing.n_ctx = args.get_int("ctx", 4096);
  sizing.n_batch = ubatch;
  model::PlacedModel placed = model::load_placed(*file, topo, threads, mode, sizing);
  model::Qwen3NextModel& model = *placed.model;
  const int64_t n_vocab = model.config().n_vocab;

  std::vector<int32_t> prompt, forced;
  std::vector<int64_t> rows;
  int64_t n_gen = args.get_int("n-gen", 16);
  if (args.has("force-tokens")) {
    json ref = json::parse(read_text(args.get("force-tokens")));
    prompt = ref.at("prompt_tokens").get<std::vector<int32_t>>();
    rows = ref.at("logit_rows_prompt_positions").get<std::vector<int64_t>>();
    forced = ref.at("generated_tokens").get<std::vector<int32_t>>();
    n_gen = static_cast<int64_t>(forced.size());
  } else {
    auto tok = tokenizer::Tokenizer::from_gguf(*file);
    tokenizer::EncodeOptions opts;
    opts.parse_special = true;
    prompt = tok.encode(read_text(args.get("prompt-file")), opts);
    const int64_t every = args.get_int("every", 1);
    if (every <= 0) throw UsageError{"--every must be positive"};
    const int64_t n = static_cast<int64_t>(prompt.size());
    for (int64_t p = 0; p < n; ++p) {
      if (p % every == 0 || p >= n - 8) rows.push_back(p);
    }
  }
  if (prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "empty prompt");
  if (n_gen < 0) throw UsageError{"--n-gen must not be negative"};
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t n_ctx = args.get_int("ctx", n_prompt + n_gen + 1);

  model::CacheTypes types;
  types.k = quant::cache_type_from_name(args.get("cache-type-k", mode == runtime::ComputeMode::kExact ? "f32" : "f16"));
  types.v = quant::cache_type_from_name(args.get("cache-type-v", mode == runtime::ComputeMode::kExact ? "f32" : "f16"));
  auto seq = model.new_sequence(n_ctx, types);

  std::vector<float> logits;
  std::vector<float> last(n_vocab);
  // Prompt in ubatches; the last prompt position's logits are always computed (they pick the first token).
  for (int64_t b0 = 0; b0 < n_prompt; b0 += ubatch) {
    const int64_t n = std::min(ubatch, n_prompt - b0);
    std::vector<int64_t> want;
    for (int64_t p : rows) {
      if (p >= b0 && p < b0 + n) want.push_back(p - b0);
    }
    const bool has_last = b0 + n == n_prompt;
    if (has_last && (want.empty() || want.back() != n - 1)) want.push_back(n - 1);
    std::vector<float> out(want.size() * n_vocab);
    model::SequenceInput in{seq.get(), std::span<const int32_t>(prompt.data() + b0, n), want};
    model.forward(std::span<const model::SequenceInput>(&in, 1), out.data(), !args.has("recurrent"));
    for (size_t i = 0; i < want.size(); ++i) {
      const bool listed = std::binary_search(rows.begin(), rows.end(), b0 + want[i]);
      if (listed) logits.insert(logits.end(), out.begin() + i * n_vocab, out.begin() + (i + 1) * n_vocab);
      if (has_last && i + 1 == want.size()) std::copy(out.begin() + i * n_vocab, out.end(), last.begin());
    }
  }
  std::vector<int32_t> generated;
  for (int64_t i = 0; i < n_gen; ++i) {
    const int32_t next = forced.empty()
                             ? static_cast<int32_t>(std::max_element(last.begin(), last.end()) - last.begin())
                             : forced[i];
    generated.push_back(next);
    const int64_t zero = 0;
    model::SequenceInput in{seq.get(), std::span<const int32_t>(&generated.back(), 1),
                            std::span<const int64_t>(&zero, 1)};
    model.forward(std::span<const model::SequenceInput>(&in, 1), last.data());
    logits.insert(logits.end(), last.begin(), last.end());
  }

  const std::string logits_file = std::filesystem::path(prefix).filename().string() + ".logits.f32";
  gguf::FileSink sink(prefix + ".logits.f32");
  sink.write(logits.data(), logits.size() * sizeof(float));
  sink.close();
  json j = {{"model", std::filesystem::path(model_path).filename().string()},
            {"n_vocab", n_vocab},
            {"n_ubatch", ubatch},
            {"type_k", quant::type_info(types.k).name},
            {"type_v", quant::type_info(types.v).name},
            {"mode", mode == runtime::ComputeMode::kExact ? "exact" : "native"},
            {"prompt_tokens", prompt},
            {"logit_rows_prompt_positions", rows},
            {"generated_tokens", generated},
            {"logits_file", logits_file},
            {"logits_shape", {static_cast<int64_t>(logits.size() / n_vocab), n_vocab}}};
  gguf::FileSink js(prefix + ".json");
  const std::string text = j.dump(1) + "\n";
  js.write(text.data(), text.size());
  js.close();
  fmt::print("wrote {} rows of {} logits to {}.logits.f32\n", logits.size() / n_vocab, n_vocab, prefix);
  return 0;
}

}  // namespace nextlm::cli
