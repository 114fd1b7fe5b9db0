// Tokenizer commands:
//   nextlm tokenize MODEL --cases FILE
//       FILE holds texts separated by the line `__case__` (the newline before
//       the separator line belongs to the separator); prints per case one line
//       of ids with special-token parsing off, then one with it on.
//   nextlm tokenize MODEL --text TEXT [--special] [--json] [--no-nfc]
//   nextlm detokenize MODEL --ids 1,2,3 [--skip-special]
//   nextlm bench-tokenizer MODEL [--file F] [--passes N]
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "nextlm/error.h"
#include "tokenizer/tokenizer.h"
#include "util/rng.h"

namespace nextlm::cli {

namespace {

using tokenizer::EncodeOptions;
using tokenizer::Tokenizer;

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Texts separated by lines that are exactly `__case__`; a case's text is its
// lines joined by "\n" (so the newline before a separator belongs to the
// separator, and the newline ending the file, if any, to the last case).
std::vector<std::string> split_cases(std::string_view all) {
  std::vector<std::string> cases(1);
  bool at_case_start = true;
  size_t pos = 0;
  for (;;) {
    size_t nl = all.find('\n', pos);
    std::string_view line = all.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line == "__case__") {
      cases.emplace_back();
      at_case_start = true;
    } else {
      if (!at_case_start) cases.back() += '\n';
      cases.back() += line;
      at_case_start = false;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return cases;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s.push_back(' ');
    s += std::to_string(ids[i]);
  }
  return s;
}

void write_bytes(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

// About `target` bytes of mixed prose, code, multilingual text, numbers and
// whitespace, the same on every run.
std::string generate_bench_text(size_t target) {
  static const char* const kWords[] = {
      "the",       "of",       "and",         "model",       "token",     "inference", "memory",      "layer",
      "attention", "state",    "return",      "while",       "between",   "expert",    "router",      "quantized",
      "weights",   "file",     "stream",      "because",     "which",     "however",   "performance", "throughput",
      "latency",   "cache",    "vector",      "matrix",      "kernel",    "device",    "embedding",   "sequence",
      "decoder",   "sampling", "temperature", "probability", "language",  "people",    "government",  "history",
      "science",   "example",  "important",   "different",   "following", "understand"};
  static const char* const kSyllables[] = {"ka", "ru",  "mo", "ten", "sh", "ix", "lo", "qu", "bar", "zen",
                                           "do", "pri", "st", "ven", "ul", "gr", "ae", "on", "ch",  "y"};
  static const char* const kMulti[] = {"我们正在测试分词器的速度和准确性。",
                                       "今日は良い天気ですね、散歩に行きましょう。",
                                       "Быстрая бурая лиса перепрыгивает через ленивую собаку.",
                                       "مرحبا بكم في عالم الذكاء الاصطناعي.",
                                       "Der schnelle braune Fuchs springt über den faulen Hund.",
                                       "한국어 문장도 조금 섞어 봅니다.",
                                       "Ελληνικά γράμματα και αριθμοί 123.",
                                       "नमस्ते, यह एक परीक्षण वाक्य है।",
                                       "Café naïve résumé — ünïcödé.",
                                       "emoji 🚀✨🙂 and symbols ±∞≠≤ ©®™"};
  util::Rng rng(20240611);
  auto ident = [&] {
    std::string s;
    int parts = 1 + static_cast<int>(rng.below(3));
    for (int i = 0; i < parts; ++i) s += kSyllables[rng.below(std::size(kSyllables))];
    if (rng.below(3) == 0) {
      s += '_';
      s += kSyllables[rng.below(std::size(kSyllables))];
    }
    return s;
  };
  auto word = [&] { return std::string(kWords[rng.below(std::size(kWords))]); };
  std::string out;
  out.reserve(target + 4096);
  while (out.size() < target) {
    switch (rng.below(4)) {
      case 0:
      case 1: {  // prose paragraph
        int sentences = 2 + static_cast<int>(rng.below(4));
        for (int s = 0; s < sentences; ++s) {
          int words = 6 + static_cast<int>(rng.below(12));
          for (int w = 0; w < words; ++w) {
            std::string t = rng.below(8) == 0 ? ident() : word();
            if (w == 0) t[0] = static_cast<char>(t[0] - 32);
            out += t;
            if (rng.below(10) == 0) out += ",";
            if (rng.below(15) == 0) {
              out += ' ';
              out += std::to_string(rng.below(100000));
            }
            out += w + 1 < words ? " " : ". ";
          }
        }
        out += "\n\n";
        break;
      }
      case 2: {  // code
        std::string fn = ident();
        out += fmt::format("def {}({}, {}=None):\n", fn, ident(), ident());
        int lines = 2 + static_cast<int>(rng.below(6));
        for (int l = 0; l < lines; ++l) {
          out += fmt::format("    {} = {}[{}] + {}.{}({})  # {}\n", ident(), ident(), rng.below(64), ident(), ident(),
                             rng.below(1000) / 10.0, word());
        }
        out += fmt::format("    return {}\n\nfor (int i = 0; i < {}; ++i) {{ {}[i] += 0x{:x}; }}\n\n", ident(),
                           rng.below(4096), ident(), rng.next_u32());
        break;
      }
      default: {  // multilingual
        int n = 1 + static_cast<int>(rng.below(3));
        for (int i = 0; i < n; ++i) {
          out += kMulti[rng.below(std::size(kMulti))];
          out += " ";
        }
        out += "\n";
        break;
      }
    }
  }
  return out;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Args args(argc, argv, {"cases", "text"}, {"special", "json", "no-nfc"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  if (args.has("cases") == args.has("text")) throw UsageError{"give exactly one of --cases FILE and --text TEXT"};
  Tokenizer tok = Tokenizer::from_file(args.positionals()[0]);
  EncodeOptions opts;
  opts.normalize = !args.has("no-nfc");

  if (args.has("cases")) {
    std::string out;
    for (const std::string& text : split_cases(read_whole_file(args.get("cases")))) {
      opts.parse_special = false;
      out += join_ids(tok.encode(text, opts)) + "\n";
      opts.parse_special = true;
      out += join_ids(tok.encode(text, opts)) + "\n";
    }
    write_bytes(out);
    return 0;
  }

  opts.parse_special = args.has("special");
  std::vector<int32_t> ids = tok.encode(args.get("text"), opts);
  if (args.has("json")) {
    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) pieces.push_back(std::string(tok.token_bytes(id)));
    nlohmann::json j{{"ids", ids}, {"pieces", pieces}, {"n_tokens", ids.size()}};
    // A piece may hold part of a UTF-8 character: replace rather than fail.
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    fmt::print("{}\n", join_ids(ids));
  }
  return 0;
}

int cmd_detokenize(int argc, char** argv) {
  Args args(argc, argv, {"ids"}, {"skip-special"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  std::string list = args.require("ids");
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= list.size() && !list.empty()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < INT32_MIN || v > INT32_MAX) {
      throw UsageError{"--ids expects comma-separated integers, got '" + item + "'"};
    }
    ids.push_back(static_cast<int32_t>(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  Tokenizer tok = Tokenizer::from_file(args.positionals()[0]);
  write_bytes(tok.decode(ids, !args.has("skip-special")));
  write_bytes("\n");
  return 0;
}

int cmd_bench_tokenizer(int argc, char** argv) {
  Args args(argc, argv, {"file", "passes"}, {});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  long long passes = args.get_int("passes", 5);
  if (passes < 1) throw UsageError{"--passes must be at least 1"};
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  Tokenizer tok = Tokenizer::from_file(args.positionals()[0]);
  double load_s = std::chrono::duration<double>(clock::now() - t0).count();

  std::string text = args.has("file") ? read_whole_file(args.get("file")) : generate_bench_text(1 << 20);
  std::string source = args.has("file") ? args.get("file") : "generated mixed text";
  fmt::print("tokenizer: {} tokens, {} merges, loaded in {:.3f} s\n", tok.n_vocab(), tok.n_merges(), load_s);
  fmt::print("input: {} ({} bytes)\n", source, text.size());

  double best = 1e30;
  size_t n_tokens = 0;
  for (long long p = 0; p < passes; ++p) {
    if (p == 0) tok.bpe().clear_cache();
    auto a = clock::now();
    std::vector<int32_t> ids = tok.encode(text);
    double s = std::chrono::duration<double>(clock::now() - a).count();
    n_tokens = ids.size();
    double mbs = text.size() / s / 1e6;
    fmt::print("pass {}{}: {:.3f} s, {:.2f} MB/s, {:.0f} tokens/s\n", p + 1, p == 0 ? " (cold cache)" : "", s, mbs,
               n_tokens / s);
    if (p > 0 || passes == 1) best = std::min(best, s);
  }
  if (tok.decode(tok.encode(text)) != text) fmt::print("warning: round trip differs (input not NFC or not UTF-8)\n");
  fmt::print("tokens: {} ({:.2f} bytes/token)\n", n_tokens, n_tokens ? double(text.size()) / n_tokens : 0.0);
  fmt::print("best: {:.2f} MB/s, {:.0f} tokens/s (one thread)\n", text.size() / best / 1e6, n_tokens / best);
  return 0;
}

}  // namespace nextlm::cli
