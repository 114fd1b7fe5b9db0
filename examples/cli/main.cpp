// `nextlm` command-line program: one binary, subcommands that tests and
// benchmarks drive. Errors go to stderr with a non-zero exit status.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "args.h"
#include "commands.h"
#include "nextlm/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* usage;
};

const Command kCommands[] = {
    {"info", nextlm::cli::cmd_info, "info MODEL [--json]"},
    {"dequant", nextlm::cli::cmd_dequant, "dequant MODEL --rows N --out PREFIX"},
    {"logits", nextlm::cli::cmd_logits,
     "logits MODEL (--prompt-file F | --force-tokens REF.json) --out PREFIX [--n-gen 16] [--every N] [--exact] "
     "[--cache-type-k T] [--cache-type-v T] [--ubatch N] [--threads N] [--ctx N] [--recurrent] [--device D | --devices cpu:0,cpu:1|cuda:0,... [--split layer] [--tensor-split 1,1]]"},
    {"bench", nextlm::cli::cmd_bench,
     "bench MODEL [-p 512] [-n 128] [-d 0,4096] [--threads N] [--cache-type-k T] [--cache-type-v T] [--ubatch N] "
     "[--device cpu|cuda[:N] | --devices cpu:0,cpu:1|cuda:0,... [--split layer|tensor] [--tensor-split 1,1]] "
     "[--cpu-moe N] [--json] [--no-warmup] [--no-mmap] [--no-huge-pages]"},
    {"plan", nextlm::cli::cmd_plan,
     "plan MODEL [--ctx N] [--cache-type-k T] [--cache-type-v T] [--devices cuda:0,cuda:1] [--device-memory 12G,12G] "
     "[--split layer|tensor] [--tensor-split 1,1] [--cpu-moe N] [--ubatch N] [--sequences N] [--no-huge-pages]"},
    {"synth", nextlm::cli::cmd_synth,
     "synth (--preset tiny|bench-cpu|reap-40b | --shape KEY=VAL,...) [--types MIX] --out FILE.gguf "
     "[--seed N] [--vocab VOCAB.gguf] [--threads N] [--header-only]"},
    {"tokenize", nextlm::cli::cmd_tokenize, "tokenize MODEL (--cases FILE | --text TEXT [--special] [--json]) [--no-nfc]"},
    {"detokenize", nextlm::cli::cmd_detokenize, "detokenize MODEL --ids 1,2,3 [--skip-special]"},
    {"bench-tokenizer", nextlm::cli::cmd_bench_tokenizer, "bench-tokenizer MODEL [--file F] [--passes N]"},
    {"render-template", nextlm::cli::cmd_render_template,
     "render-template (--template FILE.jinja | --model MODEL.gguf [--name NAME]) --conversations FILE.json --out DIR "
     "[--now 2026-01-02T03:04:05]"},
    {"parse-tools", nextlm::cli::cmd_parse_tools,
     "parse-tools --cases FILE.json --out OUT.json [--format qwen3-coder-xml|hermes-json] [--chunk N]"},
};

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: nextlm COMMAND ...\n");
  for (const Command& c : kCommands) std::fprintf(out, "  nextlm %s\n", c.usage);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const nextlm::cli::UsageError& e) {
      std::fprintf(stderr, "nextlm %s: %s\nusage: nextlm %s\n", c.name, e.message.c_str(), c.usage);
      return 2;
    } catch (const nextlm::Error& e) {
      std::fprintf(stderr, "nextlm %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "nextlm %s: error: out of memory\n", c.name);
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nextlm %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "nextlm: unknown command '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}
