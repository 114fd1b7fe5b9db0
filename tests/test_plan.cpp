// Topology parsing and the memory planner.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "model/memory_plan.h"
#include "nextlm/error.h"
#include "quant/repack.h"
#include "synth/model_shape.h"
#include "synth/synth_writer.h"
#include "synth/tokenizer_source.h"
#include "synth/type_mix.h"
#include "util/mapped_file.h"

using namespace nextlm;

TEST_CASE("plan: topology options parse, and bad ones are errors", "[plan]") {
  auto t = runtime::Topology::parse("cuda:0,cuda:1", "tensor", "3,1", "24G,12G", 2);
  REQUIRE(t.devices.size() == 2);
  CHECK(t.devices[1].name() == "cuda:1");
  CHECK(t.devices[0].memory_bytes == 24ull << 30);
  CHECK(t.split == runtime::SplitMode::kTensor);
  CHECK(t.shares()[0] == Approx(0.75));
  CHECK(runtime::Topology::parse("cpu:0,cpu:1,cpu:2").shares()[2] == Approx(1.0 / 3));
  CHECK(runtime::Topology::parse("cuda:0,cuda:1", "layer", "", "8G,24G").shares()[1] == Approx(0.75));
  CHECK(runtime::parse_bytes("1.5GiB") == 3ull << 29);
  CHECK(runtime::parse_bytes("512m") == 512ull << 20);
  for (auto [dev, split, ratios, mem] : {std::tuple{"gpu:0", "layer", "", ""}, {"cuda:0,cuda:0", "layer", "", ""},
                                         {"cuda:0", "diagonal", "", ""}, {"cuda:0,cuda:1", "layer", "1", ""},
                                         {"cuda:0", "layer", "", "12X"}, {"cuda:0", "layer", "-1", ""},
                                         {"cuda:x", "layer", "", ""}}) {
    INFO(dev << " " << split << " " << ratios << " " << mem);
    CHECK_THROWS_AS(runtime::Topology::parse(dev, split, ratios, mem), Error);
  }
}

TEST_CASE("plan: the REAP-40B IQ3_M shape with a 262k q8_0/q4_0 cache fits two 12 GB cards", "[plan]") {
  // The real shape's header only; the file is extended sparsely to its full size.
  const std::string path = (std::filesystem::temp_directory_path() / "nextlm_plan_reap.gguf").string();
  {
    cli::synth::SynthOptions o;
    o.shape = cli::synth::preset_shape("reap-40b");
    o.mix = cli::synth::parse_type_mix("iq3_m");
    const auto tok = cli::synth::TokenizerSource::builtin();
    o.tokenizer = &tok;
    o.header_only = true;
    gguf::FileSink sink(path);
    const auto r = cli::synth::write_synth_model(o, sink);
    sink.close();
    std::filesystem::resize_file(path, r.bytes);
  }
  auto f = gguf::GgufFile::open(path);
  auto c = model::Qwen3NextConfig::from_gguf(*f);
  c.n_vocab = f->find_tensor("token_embd.weight")->ne[1];
  model::PlanRequest req;
  req.n_ctx = 262144;
  req.cache_k = quant::Type::Q8_0;
  req.cache_v = quant::Type::Q4_0;
  for (const char* split : {"layer", "tensor"}) {
    INFO(split);
    auto plan = model::plan_memory(*f, c, runtime::Topology::parse("cuda:0,cuda:1", split, "1,1", "12G,12G"), req);
    CHECK(plan.model_bytes / 1e9 == Approx(18.1).margin(0.2));
    CHECK(plan.kv_cache_bytes / 1e9 == Approx(2.6).margin(0.05));
    CHECK(plan.fits());
    CHECK(plan.native_refusal.empty());  // the real shape's head groups cut the quantized rows between blocks
    uint64_t sum_weights = 0;
    for (const auto& d : plan.devices) sum_weights += d.weights;
    if (std::string(split) == "layer") {
      CHECK(sum_weights == plan.model_bytes);  // every tensor exactly once
      CHECK(plan.devices[0].first_layer == 0);
      CHECK(plan.devices[1].last_layer == 47);
      CHECK(plan.devices[0].last_layer + 1 == plan.devices[1].first_layer);
    }
  }
  // One 12 GB card cannot hold it; keeping experts of 40 layers on the CPU makes it fit.
  auto one = model::plan_memory(*f, c, runtime::Topology::parse("cuda:0", "layer", "", "12G"), req);
  CHECK_FALSE(one.fits());
  CHECK(one.shortfall() > (5ull << 30));
  CHECK(one.table().find("does not fit") != std::string::npos);
  auto offload = model::plan_memory(*f, c, runtime::Topology::parse("cuda:0", "layer", "", "12G", 40), req);
  CHECK(offload.fits());
  CHECK(offload.cpu_expert_bytes > (12ull << 30));
  // Copied CPU weights are repacked where a faster kernel needs it (IQ3_S: 134 bytes per 256 values, not 110),
  // and the plan counts what the CPU will hold.
  model::PlanRequest in_place = req;
  in_place.cpu_huge_pages = false;
  auto offload_in_place = model::plan_memory(*f, c, runtime::Topology::parse("cuda:0", "layer", "", "12G", 40), in_place);
  uint64_t growth = 0;
  for (const auto& t : f->tensors()) {
    int l = -1;
    if (t.type != quant::Type::IQ3_S || t.name.find("_exps.") == std::string::npos ||
        std::sscanf(t.name.c_str(), "blk.%d.", &l) != 1 || l >= 40) {
      continue;
    }
    growth += static_cast<uint64_t>(t.n_elements() / 256) * 134 - t.n_bytes;
  }
  CHECK(growth > 0);
  const bool repacked = quant::repack_for(quant::Type::IQ3_S, 2048) != quant::Repack::kNone;
  if (repacked && f->is_mapped() && util::huge_pages_available()) {
    CHECK(offload.cpu_expert_bytes == offload_in_place.cpu_expert_bytes + growth);
  } else {
    CHECK(offload.cpu_expert_bytes == offload_in_place.cpu_expert_bytes);
  }
  // Three devices with unequal ratios take contiguous, non-empty layer ranges.
  auto three = model::plan_memory(*f, c, runtime::Topology::parse("cuda:0,cuda:1,cpu:0", "layer", "2,1,1"), req);
  CHECK(three.devices[0].last_layer + 1 == three.devices[1].first_layer);
  CHECK(three.devices[1].last_layer + 1 == three.devices[2].first_layer);
  CHECK(three.devices[0].last_layer - three.devices[0].first_layer > three.devices[1].last_layer -
                                                                          three.devices[1].first_layer);
  std::filesystem::remove(path);
}
