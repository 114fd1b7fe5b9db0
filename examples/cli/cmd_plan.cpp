// `nextlm plan MODEL [--ctx N] [--cache-type-k T] [--cache-type-v T]
//  [--devices cuda:0,cuda:1] [--device-memory 12G,12G] [--split layer|tensor]
//  [--tensor-split 1,1] [--cpu-moe N] [--ubatch N] [--sequences N] [--no-huge-pages]`:
// the per-device memory table, from the file's header only (--no-huge-pages:
// CPU weights used in place, as bench and the server with that flag). Exit status 0
// when it fits, 1 when it does not (with the shortfall).
#include <fmt/format.h>

#include "args.h"
#include "commands.h"
#include "quant/quantize.h"
#include "gguf/gguf_reader.h"
#include "model/memory_plan.h"
#include "model/qwen3next_config.h"

namespace nextlm::cli {

int cmd_plan(int argc, char** argv) {
  Args args(argc, argv,
            {"ctx", "cache-type-k", "cache-type-v", "devices", "device-memory", "split", "tensor-split", "cpu-moe",
             "ubatch", "sequences"},
            {"no-huge-pages"});
  if (args.positionals().size() != 1) throw UsageError{"expected one MODEL path"};
  auto file = gguf::GgufFile::open(args.positionals()[0]);
  model::Qwen3NextConfig config = model::Qwen3NextConfig::from_gguf(*file);
  const gguf::TensorInfo* emb = file->find_tensor("token_embd.weight");
  config.n_vocab = emb && emb->n_dims == 2 ? emb->ne[1] : 0;

  const runtime::Topology topo =
      runtime::Topology::parse(args.get("devices", "cpu:0"), args.get("split", "layer"), args.get("tensor-split", ""),
                               args.get("device-memory", ""), static_cast<int>(args.get_int("cpu-moe", 0)));
  model::PlanRequest req;
  req.n_ctx = args.get_int("ctx", 4096);
  req.n_batch = args.get_int("ubatch", 512);
  req.n_sequences = static_cast<int>(args.get_int("sequences", 1));
  req.cache_k = quant::cache_type_from_name(args.get("cache-type-k", "f16"));
  req.cache_v = quant::cache_type_from_name(args.get("cache-type-v", "f16"));
  req.cpu_huge_pages = !args.has("no-huge-pages");
  const model::MemoryPlan plan = model::plan_memory(*file, config, topo, req);
  fmt::print("{}: {} layers, context {} x {} sequence(s), cache {}/{}, {} split\n", args.positionals()[0],
             config.n_layer, req.n_ctx, req.n_sequences, quant::type_info(req.cache_k).name,
             quant::type_info(req.cache_v).name, topo.split == runtime::SplitMode::kLayer ? "layer" : "tensor");
  fmt::print("{}", plan.table());
  return plan.fits() ? 0 : 1;
}

}  // namespace nextlm::cli
