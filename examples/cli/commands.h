// The `nextlm` subcommands. Each returns the process exit status; errors are
// thrown (nextlm::Error or UsageError) and reported by main.
#pragma once

namespace nextlm::cli {

int cmd_info(int argc, char** argv);
int cmd_dequant(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_plan(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_detokenize(int argc, char** argv);
int cmd_bench_tokenizer(int argc, char** argv);
int cmd_render_template(int argc, char** argv);
int cmd_parse_tools(int argc, char** argv);

}  // namespace nextlm::cli
