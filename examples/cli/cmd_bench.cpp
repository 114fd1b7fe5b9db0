// `nextlm bench MODEL -p 512 -n 128 -d 0,4096 [--threads N] [--cache-type-k T]
//  [--cache-type-v T] [--ubatch N] [--json] [--device cpu|cuda[:N]] [--devices D,D --split layer|tensor
//  --tensor-split R,R --cpu-moe N] [--no-warmup] [--no-mmap] [--no-huge-pages]`: after one untimed warm-up prompt, prompt processing (pp) and
// generation (tg) speed at each context depth, the weight bytes a generated
// token reads and the bandwidth that implies, and peak memory. On one CUDA
// device it also measures the device's read bandwidth and gives each tg row
// its roofline: bandwidth / (weights + KV cache + recurrent state per token).
#include <fmt/format.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "args.h"
#include "commands.h"
#include "quant/quantize.h"
#include "gguf/gguf_reader.h"
#include "model/qwen3next.h"
#include "nextlm/error.h"
#include "runtime/cpu/cpu_backend.h"
#include "model/placement.h"
#include "runtime/devices.h"
#include "util/mapped_file.h"
#include "util/rng.h"

namespace nextlm::cli {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Bytes of weights one decoded token reads: everything but the expert stacks,
// the used fraction of those, and one embedding row instead of the table.
uint64_t active_bytes_per_token(const gguf::GgufFile& f, const model::Qwen3NextConfig& c) {
  double bytes = 0;
  for (const auto& t : f.tensors()) {
    if (t.name.find("_exps.") != std::string::npos) {
      bytes += double(t.n_bytes) * c.n_expert_used / c.n_expert;
    } else if (t.name == "token_embd.weight") {
      bytes += double(t.row_bytes());
      if (!f.find_tensor("output.weight")) bytes += double(t.n_bytes);  // tied LM head
    } else {
      bytes += double(t.n_bytes);
    }
  }
  return static_cast<uint64_t>(bytes);
}

// Bytes one generated token reads besides the weights, on average over a tg
// run: every attention layer's K and V rows for the `mean_keys` positions it
// attends to (the cache types set their size), and every DeltaNet layer's
// conv and delta state (f32), read and written back once.
double state_bytes_per_token(const model::Qwen3NextConfig& c, const model::CacheTypes& t, double mean_keys) {
  const double kv_row =
      double(quant::row_bytes(t.k, c.head_dim) + quant::row_bytes(t.v, c.head_dim)) * c.n_head_kv;
  const double rec = 4.0 * (double(c.conv_kernel - 1) * double(c.conv_dim()) +
                            double(c.ssm_dt_rank) * c.ssm_d_state * c.ssm_d_state);
  double bytes = 0;
  for (int64_t l = 0; l < c.n_layer; ++l) bytes += c.recurrent[l] ? 2.0 * rec : kv_row * mean_keys;
  return bytes;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw UsageError{"bad number '" + item + "' in a list"};
    }
  }
  return out;
}



// Sums a buffer with 64-byte XORs in four independent chains, built for
// AVX-512, AVX2 and baseline (the widest loads the machine has: the issue's
// reference figure uses AVX-512 loads).
NLM_CPU_CLONES uint64_t xor_stream(const uint64_t* p, size_t n) {
  typedef uint64_t V8 __attribute__((vector_size(64)));
  V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    V8 x0, x1, x2, x3;
    std::memcpy(&x0, p + i, sizeof x0);
    std::memcpy(&x1, p + i + 8, sizeof x1);
    std::memcpy(&x2, p + i + 16, sizeof x2);
    std::memcpy(&x3, p + i + 24, sizeof x3);
    a0 ^= x0, a1 ^= x1, a2 ^= x2, a3 ^= x3;
  }
  const V8 a = a0 ^ a1 ^ a2 ^ a3;
  uint64_t r = 0;
  for (int j = 0; j < 8; ++j) r ^= a[j];
  for (; i < n; ++i) r ^= p[i];
  return r;
}

// The machine's streaming-read bandwidth in GB/s: `threads` threads each read
// their share of a 512 MiB buffer (larger than any cache); best of 5 passes.
double streaming_read_gbs(int threads) {
  const size_t bytes = size_t{512} << 20, n = bytes / sizeof(uint64_t);
  // On 2 MiB pages: the machine's best case (TLB misses of 4 KiB pages cost ~15% here).
  const util::HugeMapping mem = util::map_huge(bytes);
  if (mem.data == nullptr) return 0.0;
  auto* data = reinterpret_cast<uint64_t*>(mem.data);
  for (size_t i = 0; i < n; ++i) data[i] = i * 0x9E3779B97F4A7C15ULL;
  double best = 0.0;
  std::vector<uint64_t> sink(static_cast<size_t>(threads));
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const size_t b = n * t / threads, e = n * (t + 1) / threads;
        sink[t] = xor_stream(data + b, e - b);
      });
    }
    for (auto& th : ts) th.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, double(n * sizeof(uint64_t)) / secs / 1e9);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep ^ v;
  ::munmap(mem.data, mem.len);
  return best;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv,
            {"p", "n", "d", "threads", "cache-type-k", "cache-type-v", "ubatch", "seed", "device", "devices", "split",
             "tensor-split", "cpu-moe"},
            {"json", "no-warmup", "no-mmap", "no-huge-pages"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  const int64_t n_prompt = args.get_int("p", 512), n_gen = args.get_int("n", 128);
  const int64_t ubatch = args.get_int("ubatch", 512);
  const std::vector<int64_t> depths = parse_list(args.get("d", "0"));
  const int threads = static_cast<int>(args.get_int("threads", 2));
  if (n_prompt < 0 || n_gen < 0 || ubatch <= 0 || threads <= 0 || depths.empty()) throw UsageError{"bad sizes"};
  model::CacheTypes types;
  types.k = quant::cache_type_from_name(args.get("cache-type-k", "f16"));
  types.v = quant::cache_type_from_name(args.get("cache-type-v", "f16"));

  auto file = gguf::GgufFile::open(args.positionals()[0], {.use_mmap = !args.has("no-mmap")});
  // --device D is the one-device form of --devices D,...
  if (args.has("device") && args.has("devices")) throw UsageError{"give --device or --devices, not both"};
  const runtime::Topology topo =
      runtime::Topology::parse(args.get("devices", args.get("device", "cpu")), args.get("split", "layer"),
                               args.get("tensor-split", ""), "", static_cast<int>(args.get_int("cpu-moe", 0)));
  model::PlanRequest sizing;
  sizing.n_ctx = std::max<int64_t>(1, *std::max_element(depths.begin(), depths.end()) + std::max(n_prompt, n_gen) + 1);
  sizing.n_batch = ubatch;
  sizing.cache_k = types.k;
  sizing.cache_v = types.v;
  sizing.cpu_huge_pages = !args.has("no-huge-pages");
  model::PlacedModel placed = model::load_placed(*file, topo, threads, runtime::ComputeMode::kNative, sizing);
  model::Qwen3NextModel& model = *placed.model;
  // The device's read bandwidth, measured once the model is loaded (so
  // that a missing device is reported by the loader), before any KV cache.
  // One CUDA device only: with several devices (or CPU experts) a token's
  // bytes are read from memories of different speeds, some in parallel.
  double device_gbs = 0.0;
  std::string device_name;
  if (topo.devices.size() == 1 && topo.devices[0].kind == runtime::DeviceKind::kCuda && topo.cpu_moe_layers == 0) {
    device_name = topo.devices[0].name();
    try {
      device_gbs = runtime::cuda_read_bandwidth_gbs(topo.devices[0].index);
    } catch (const Error& e) {
      fmt::print(stderr, "warning: no roofline figures: {}\n", e.what());
    }
  }
  runtime::Backend* const backend = &model.backend();
  std::string where = std::string(backend->name()) == "cpu" ? fmt::format("{} threads", threads) : backend->name();
  if (topo.devices.size() > 1) {
    where = fmt::format("{} devices, {} split", topo.devices.size(),
                        topo.split == runtime::SplitMode::kTensor ? "tensor" : "layer");
  }
  if (topo.cpu_moe_layers > 0) where += fmt::format(", experts of the first {} layers on the CPU", topo.cpu_moe_layers);
  const auto& c = model.config();
  const uint64_t active = active_bytes_per_token(*file, c);
  util::Rng rng(static_cast<uint64_t>(args.get_int("seed", 1)));
  auto random_tokens = [&](int64_t n) {
    std::vector<int32_t> t(n);
    for (auto& id : t) id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(c.n_vocab)));
    return t;
  };
  // Runs tokens through seq in ubatches; returns seconds.
  auto run = [&](model::SequenceState& seq, const std::vector<int32_t>& toks, int64_t step) {
    std::vector<float> logits(c.n_vocab);
    const auto t0 = Clock::now();
    for (size_t b0 = 0; b0 < toks.size(); b0 += step) {
      const int64_t n = std::min<int64_t>(step, static_cast<int64_t>(toks.size() - b0));
      const int64_t last = n - 1;
      model::SequenceInput in{&seq, std::span<const int32_t>(toks.data() + b0, n), std::span<const int64_t>(&last, 1)};
      model.forward(std::span<const model::SequenceInput>(&in, 1), logits.data());
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };

  nlohmann::json results = nlohmann::json::array();
  double best_tg_gbs = 0.0;
  if (!args.has("json")) {
    fmt::print("model {}: {:.2f} GiB of weights, {:.1f} MiB read per generated token, {}, cache {}/{}\n",
               args.positionals()[0], file->file_size() / double(1ull << 30), active / 1048576.0,
               where,
               quant::type_info(types.k).name, quant::type_info(types.v).name);
    if (device_gbs > 0) fmt::print("device streaming read: {:.1f} GB/s ({})\n", device_gbs, device_name);
    fmt::print("{:>8} {:>8} {:>10} {:>10} {:>12}", "test", "depth", "tokens/s", "GB/s", "peak MiB");
    if (device_gbs > 0) fmt::print(" {:>12} {:>10} {:>10}", "MiB/token", "roof t/s", "% of roof");
    fmt::print("\n");
  }
  if (!args.has("no-warmup")) {
    // One untimed prompt and token first, as the reference engine's bench does:
    // the first pass faults the mapped weights in and sizes the scratch buffers.
    auto warm = model.new_sequence(std::max(n_prompt, int64_t{1}) + 2, types);
    if (n_prompt > 0) run(*warm, random_tokens(n_prompt), ubatch);
    run(*warm, random_tokens(1), 1);
  }
  for (int64_t depth : depths) {
    const int64_t n_ctx = depth + std::max(n_prompt, n_gen) + 1;
    auto base = model.new_sequence(n_ctx, types);
    if (depth > 0) run(*base, random_tokens(depth), ubatch);
    auto seq = model.new_sequence(n_ctx, types);
    auto report = [&](const std::string& test, int64_t n, double secs, bool decode) {
      const double tps = n / secs;
      const double gbs = decode ? tps * active / 1e9 : 0.0;
      best_tg_gbs = std::max(best_tg_gbs, gbs);
      nlohmann::json row = {{"test", test},          {"depth", depth},      {"n_prompt", decode ? 0 : n},
                            {"n_gen", decode ? n : 0}, {"tokens_per_s", tps}, {"peak_bytes", peak_rss_bytes()},
                            {"gb_per_s", gbs}};
      // Token d + i (i < n) attends to d + i + 1 positions: d + (n + 1) / 2 on average.
      const double token_bytes =
          decode ? double(active) + state_bytes_per_token(c, types, double(depth) + (n + 1) / 2.0) : 0.0;
      const double roof_tps = decode && device_gbs > 0 ? device_gbs * 1e9 / token_bytes : 0.0;
      if (decode) row["bytes_per_token"] = token_bytes;
      if (roof_tps > 0) {
        row["device_read_gb_per_s"] = device_gbs;
        row["roofline_tokens_per_s"] = roof_tps;
        row["roofline_fraction"] = tps / roof_tps;
      }
      results.push_back(std::move(row));
      if (!args.has("json")) {
        fmt::print("{:>8} {:>8} {:>10.2f} {:>10} {:>12.0f}", test, depth, tps, decode ? fmt::format("{:.2f}", gbs) : "-",
                   peak_rss_bytes() / 1048576.0);
        if (roof_tps > 0) {
          fmt::print(" {:>12.1f} {:>10.1f} {:>9.1f}%", token_bytes / 1048576.0, roof_tps, 100.0 * tps / roof_tps);
        } else if (device_gbs > 0) {
          fmt::print(" {:>12} {:>10} {:>10}", "-", "-", "-");
        }
        fmt::print("\n");
      }
    };
    if (n_prompt > 0) {
      seq->copy_from(*base);
      report(fmt::format("pp{}", n_prompt), n_prompt, run(*seq, random_tokens(n_prompt), ubatch), false);
    }
    if (n_gen > 0) {
      seq->copy_from(*base);
      report(fmt::format("tg{}", n_gen), n_gen, run(*seq, random_tokens(n_gen), 1), true);
    }
  }
  if (args.has("json")) {
    fmt::print("{}\n", results.dump());
  } else if (std::string(backend->name()) == "cpu") {
    // Measured after the tests so that its buffer does not count in their peak memory.
    const double bw = streaming_read_gbs(threads);
    fmt::print("machine streaming read: {:.1f} GB/s ({} threads); best generation used {:.0f}% of it\n", bw, threads,
               100.0 * best_tg_gbs / bw);
  }
  return 0;
}

}  // namespace nextlm::cli
