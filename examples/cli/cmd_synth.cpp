// `nextlm synth`: writes a random Qwen3-Next model GGUF in the real layout,
// directly in quantized form and streaming, for tests and benchmarks that
// need a model of a given shape without downloading one.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "nextlm/error.h"
#include "synth/synth_writer.h"

namespace nextlm::cli {

namespace {

// Parse errors in --preset/--shape/--types are usage errors (print the usage line).
template <typename F>
auto as_usage(F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) throw;
    throw UsageError{e.what()};
  }
}

}  // namespace

int cmd_synth(int argc, char** argv) {
  Args args(argc, argv, {"preset", "shape", "types", "out", "seed", "vocab", "threads"}, {"header-only"});
  if (!args.positionals().empty()) throw UsageError{"unexpected argument '" + args.positionals()[0] + "'"};
  if (!args.has("preset") && !args.has("shape")) throw UsageError{"give --preset or --shape"};
  const std::string out_path = args.require("out");
  const long long seed = args.get_int("seed", 1);
  if (seed < 0) throw UsageError{"--seed must be non-negative"};
  const long long threads = args.get_int("threads", 0);
  if (threads < 0 || threads > 64) throw UsageError{"--threads must be in [0, 64]"};

  synth::SynthOptions opts;
  const std::string preset = args.get("preset", "tiny");
  opts.shape = as_usage([&] { return synth::preset_shape(preset); });
  if (args.has("shape")) as_usage([&] { synth::apply_shape_overrides(opts.shape, args.get("shape")); return 0; });
  opts.mix = as_usage([&] { return synth::parse_type_mix(args.get("types", "iq3_m")); });
  opts.seed = static_cast<uint64_t>(seed);
  opts.threads = static_cast<int>(threads);
  opts.header_only = args.has("header-only");
  opts.name = fmt::format("synth-qwen3next-{}{}-{}-seed{}", preset, args.has("shape") ? "-custom" : "",
                          opts.mix.name, seed);

  const synth::TokenizerSource tokenizer =
      args.has("vocab") ? synth::TokenizerSource::from_gguf(args.get("vocab")) : synth::TokenizerSource::builtin();
  opts.tokenizer = &tokenizer;
  if (!tokenizer.is_builtin() && opts.shape.n_vocab != 0 && opts.shape.n_vocab != tokenizer.n_tokens()) {
    std::fprintf(stderr, "nextlm synth: note: using the %lld tokens of %s (the shape asked for %lld)\n",
                 static_cast<long long>(tokenizer.n_tokens()), args.get("vocab").c_str(),
                 static_cast<long long>(opts.shape.n_vocab));
  }

  // Progress on a terminal only, at most once a second.
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto last = t0;
  if (isatty(STDERR_FILENO)) {
    opts.progress = [&](uint64_t done, uint64_t total) {
      auto now = Clock::now();
      if (now - last < std::chrono::seconds(1)) return;
      last = now;
      std::fprintf(stderr, "\r  %.2f / %.2f GB (%.0f%%)", done / 1e9, total / 1e9, 100.0 * done / total);
      std::fflush(stderr);
    };
  }

  // Written under a temporary name and renamed at the end, so an interrupted
  // run never leaves a truncated file that looks like a model.
  const std::string tmp_path = out_path + ".partial";
  synth::SynthResult res;
  try {
    gguf::FileSink sink(tmp_path);
    res = synth::write_synth_model(opts, sink);
    sink.close();
    if (opts.header_only) std::filesystem::resize_file(tmp_path, res.bytes);  // sparse: no data written
    std::filesystem::rename(tmp_path, out_path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp_path, ec);
    throw;
  }
  if (opts.progress) std::fprintf(stderr, "\r%60s\r", "");

  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s: %zu tensors, %llu bytes (%.2f GB), n_vocab %lld, %.1f s, %.0f MB/s\n", out_path.c_str(),
              res.n_tensors, static_cast<unsigned long long>(res.bytes), res.bytes / 1e9,
              static_cast<long long>(res.n_vocab), secs, secs > 0 ? res.bytes / 1e6 / secs : 0.0);
  return 0;
}

}  // namespace nextlm::cli
