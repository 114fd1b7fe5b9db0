// `nextlm synth` logic: shapes, type mixes, tokenizer, and the file it writes.
// The [fixtures] cases check that a synthesized tiny model has exactly the
// tensor table (names, shapes, types, order) and metadata keys of the fixture
// files that llama.cpp's converter and llama-quantize produced.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "nextlm/error.h"
#include "quant/types.h"
#include "synth/model_shape.h"
#include "synth/synth_writer.h"
#include "synth/tokenizer_source.h"
#include "synth/type_mix.h"

using namespace nextlm;
using namespace nextlm::cli::synth;
using quant::Type;

namespace {

// A temporary file removed at scope exit.
struct TempFile {
  explicit TempFile(const std::string& stem)
      : path((std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()) + ".gguf")).string()) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::string path;
};

void write_file(const SynthOptions& opts, const TempFile& tmp) {
  gguf::FileSink sink(tmp.path);
  write_synth_model(opts, sink);
  sink.close();
}

// Compares the plan for tiny + mix (+ shape overrides) with a fixture's table.
void check_layout_matches(const std::string& fixture_name, const std::string& mix_spec, const std::string& shape_spec) {
  const std::string path = test::fixture("models/" + fixture_name);
  auto fx = gguf::GgufFile::open(path);
  ModelShape shape = preset_shape("tiny");
  if (!shape_spec.empty()) apply_shape_overrides(shape, shape_spec);
  TokenizerSource tok = TokenizerSource::from_gguf(path);
  const int64_t n_vocab = tok.resolve_vocab(shape.n_vocab);
  auto plan = plan_tensors(shape, n_vocab, parse_type_mix(mix_spec));
  REQUIRE(plan.size() == fx->tensors().size());
  for (size_t i = 0; i < plan.size(); ++i) {
    const gguf::TensorInfo& t = fx->tensors()[i];
    INFO(fixture_name << " tensor #" << i << " " << t.name);
    CHECK(plan[i].name == t.name);
    REQUIRE(static_cast<int>(plan[i].ne.size()) == t.n_dims);
    for (int d = 0; d < t.n_dims; ++d) CHECK(plan[i].ne[static_cast<size_t>(d)] == t.ne[d]);
    CHECK(quant::type_info(plan[i].type).name == std::string(quant::type_info(t.type).name));
  }

  // The written file: same table and offsets, and every general./qwen3next./
  // tokenizer. key of the fixture with the same value type (and value, except
  // general.name).
  SynthOptions opts;
  opts.shape = shape;
  opts.mix = parse_type_mix(mix_spec);
  opts.tokenizer = &tok;
  opts.name = "t";
  TempFile tmp("nextlm-synth-" + mix_spec);
  write_file(opts, tmp);
  auto out = gguf::GgufFile::open(tmp.path);
  REQUIRE(out->tensors().size() == fx->tensors().size());
  for (size_t i = 0; i < out->tensors().size(); ++i) {
    CHECK(out->tensors()[i].offset == fx->tensors()[i].offset);
    CHECK(out->tensors()[i].n_bytes == fx->tensors()[i].n_bytes);
  }
  size_t compared = 0, provenance = 0;
  for (const gguf::MetadataEntry& e : fx->metadata()) {
    if (e.key.rfind("quantize.", 0) == 0) {  // imatrix provenance, not model metadata
      ++provenance;
      continue;
    }
    INFO("key " << e.key);
    const gguf::Value* v = out->find(e.key);
    REQUIRE(v != nullptr);
    CHECK(v->type() == e.value.type());
    if (e.key == "general.name" || e.value.is_array()) continue;
    if (e.value.is_string()) CHECK(v->as_string() == e.value.as_string());
    else if (e.value.is_float()) CHECK(v->as_float() == e.value.as_float());
    else if (e.value.type() == gguf::ValueType::BOOL) CHECK(v->as_bool() == e.value.as_bool());
    else CHECK(v->as_int() == e.value.as_int());
    ++compared;
  }
  CHECK(compared > 25);
  CHECK(out->metadata().size() == fx->metadata().size() - provenance);  // and no extra keys
}

}  // namespace

TEST_CASE("synth: presets have the documented shapes", "[synth]") {
  ModelShape t = preset_shape("tiny");
  CHECK(t.n_embd == 256);
  CHECK(t.ssm_inner() == 128);
  CHECK(t.ssm_qkv_dim() == 256);
  CHECK(t.n_vocab == 0);
  ModelShape r = preset_shape("reap-40b");
  CHECK(r.n_layer == 48);
  CHECK(r.n_expert == 256);
  CHECK(r.n_expert_used == 10);
  CHECK(r.rope_dims == 64);
  CHECK(r.ssm_inner() == 4096);
  CHECK(r.n_vocab == 151936);
  ModelShape b = preset_shape("bench-cpu");
  CHECK(b.n_layer == 8);
  CHECK(b.n_expert == 64);
  CHECK(b.head_dim == 256);
  for (const std::string& n : shape_preset_names()) CHECK_NOTHROW(validate_shape(preset_shape(n)));
  CHECK_THROWS_AS(preset_shape("huge"), Error);
}

TEST_CASE("synth: --shape overrides and their errors", "[synth]") {
  ModelShape s = preset_shape("tiny");
  apply_shape_overrides(s, "n_layer=4,n_expert=16,rms_eps=1e-5,legacy_ssm_in=true");
  CHECK(s.n_layer == 4);
  CHECK(s.n_expert == 16);
  CHECK(s.rms_eps == Approx(1e-5));
  CHECK(s.legacy_ssm_in);
  for (const char* bad : {"n_layers=4", "n_layer", "n_layer=", "n_layer=abc", "n_layer=4,", "n_layer=0",
                          "n_head=3", "rope_dims=128", "rope_dims=15", "n_expert_used=99", "ssm_dt_rank=3",
                          "rms_eps=nan", "legacy_ssm_in=2", "n_embd=-256", "n_embd=99999999999"}) {
    ModelShape x = preset_shape("tiny");
    INFO(bad);
    CHECK_THROWS_AS(apply_shape_overrides(x, bad), Error);
  }
}

TEST_CASE("synth: type mix parsing", "[synth]") {
  TypeMix m = parse_type_mix("iq3_m");
  CHECK(m.policy == TypeMix::Policy::kIq3M);
  CHECK(m.base == Type::IQ3_S);
  CHECK(m.file_type == 27);
  CHECK(parse_type_mix("q4_k_m").file_type == 15);
  CHECK(parse_type_mix("bf16").file_type == 32);
  CHECK(parse_type_mix("f16").file_type == 1);
  CHECK(parse_type_mix("q8_0").file_type == 7);
  CHECK(parse_type_mix("f32").file_type == 0);
  m = parse_type_mix("iq3_m,ffn_up_exps=q8_0,attn_qkv=Q5_K");
  CHECK(m.policy == TypeMix::Policy::kIq3M);
  CHECK(m.overrides.at("ffn_up_exps") == Type::Q8_0);
  CHECK(m.overrides.at("attn_qkv") == Type::Q5_K);
  m = parse_type_mix("default=q4_0,output=q8_0");  // no preset: uniform q4_0
  CHECK(m.policy == TypeMix::Policy::kUniform);
  CHECK(m.base == Type::Q4_0);
  CHECK(m.file_type == 2);
  CHECK(m.overrides.at("output") == Type::Q8_0);
  for (const char* bad : {"q3_k_xl", "iq3_m,q4_k_m", "iq3_m,foo=q8_0", "iq3_m,ffn_up_exps=q9_0", "iq3_m,", "",
                          "attn_norm=q8_0", "default=i32", "output=q8_k", "=q8_0", "ffn_up_exps="}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_type_mix(bad), Error);
  }
}

TEST_CASE("synth: llama.cpp helper rules", "[synth]") {
  // n = 8: layers 0 (< n/8), 7 (>= 7n/8), and 3, 6 ((i - 1) % 3 == 2).
  std::vector<int> more;
  for (int i = 0; i < 8; ++i)
    if (use_more_bits(i, 8)) more.push_back(i);
  CHECK(more == std::vector<int>{0, 3, 6, 7});
  CHECK(use_more_bits(0, 48));
  CHECK(use_more_bits(5, 48));
  CHECK_FALSE(use_more_bits(6, 48));
  CHECK(use_more_bits(8, 48));
  CHECK(use_more_bits(42, 48));
  CHECK_FALSE(use_more_bits(40, 48));
  CHECK(fallback_for_row(Type::IQ3_S, 128) == Type::IQ4_NL);
  CHECK(fallback_for_row(Type::IQ3_S, 256) == Type::IQ3_S);
  CHECK(fallback_for_row(Type::Q4_K, 128) == Type::Q5_0);
  CHECK(fallback_for_row(Type::Q5_K, 96) == Type::Q5_1);
  CHECK(fallback_for_row(Type::Q6_K, 64) == Type::Q8_0);
  CHECK(fallback_for_row(Type::Q6_K, 48) == Type::F16);
  CHECK(tensor_kind("blk.12.ffn_down_exps.weight") == "ffn_down_exps");
  CHECK(tensor_kind("output.weight") == "output");
  CHECK(tensor_kind("blk.0.ssm_a") == "ssm_a");
  CHECK(tensor_kind("blk.0.ssm_dt.bias") == "ssm_dt");
  CHECK(tensor_layer("blk.12.attn_v.weight") == 12);
  CHECK(tensor_layer("token_embd.weight") == -1);
}

TEST_CASE("synth: reap-40b plan follows llama.cpp for 256 experts", "[synth]") {
  ModelShape s = preset_shape("reap-40b");
  auto plan = plan_tensors(s, 151936, parse_type_mix("iq3_m"));
  CHECK(plan.size() == 3 + 36 * 18 + 12 * 16);
  auto type_of = [&](const std::string& name) {
    for (const PlannedTensor& t : plan)
      if (t.name == name) return t.type;
    FAIL("no tensor " << name);
    return Type::F32;
  };
  CHECK(type_of("output.weight") == Type::Q6_K);
  CHECK(type_of("token_embd.weight") == Type::IQ3_S);
  CHECK(type_of("blk.0.attn_qkv.weight") == Type::Q4_K);
  CHECK(type_of("blk.3.attn_v.weight") == Type::Q4_K);
  CHECK(type_of("blk.3.attn_k.weight") == Type::IQ3_S);
  CHECK(type_of("blk.3.attn_output.weight") == Type::Q4_K);
  CHECK(type_of("blk.3.ffn_down_exps.weight") == Type::Q4_K);  // 3 < 48/8
  CHECK(type_of("blk.6.ffn_down_exps.weight") == Type::IQ3_S);
  CHECK(type_of("blk.47.ffn_down_shexp.weight") == Type::IQ3_S);
  CHECK(type_of("blk.0.ssm_out.weight") == Type::IQ3_S);  // 4096 columns: no fallback
  CHECK(type_of("blk.0.ffn_gate_inp.weight") == Type::F32);
  CHECK(type_of("blk.0.ssm_conv1d.weight") == Type::F32);
  // q4_k_m: attn_v-like tensors (attn_qkv and attn_v, 48 of them) get q6_k by use_more_bits.
  plan = plan_tensors(s, 151936, parse_type_mix("q4_k_m"));
  CHECK(type_of("blk.0.attn_qkv.weight") == Type::Q6_K);
  CHECK(type_of("blk.1.attn_qkv.weight") == Type::Q6_K);
  CHECK(type_of("blk.6.attn_qkv.weight") == Type::Q4_K);
  CHECK(type_of("blk.7.attn_v.weight") == Type::Q4_K);
  CHECK(type_of("blk.8.attn_qkv.weight") == Type::Q6_K);  // (8 - 6) % 3 == 2
  CHECK(type_of("blk.47.attn_v.weight") == Type::Q6_K);
  CHECK(type_of("blk.3.attn_output.weight") == Type::Q4_K);
  CHECK(type_of("blk.47.ffn_down_exps.weight") == Type::Q6_K);
  // Overrides replace the rules, per kind.
  plan = plan_tensors(s, 151936, parse_type_mix("iq3_m,ffn_up_exps=q8_0"));
  CHECK(type_of("blk.5.ffn_up_exps.weight") == Type::Q8_0);
  CHECK(type_of("blk.5.ffn_gate_exps.weight") == Type::IQ3_S);
}

TEST_CASE("synth: built-in tokenizer is a consistent byte-level BPE", "[synth]") {
  TokenizerSource tok = TokenizerSource::builtin();
  const auto& tokens = tok.tokens();
  REQUIRE(tokens.size() > 256 + 26);
  CHECK(tokens[0] == "!");
  CHECK(byte_to_unicode(' ') == "Ġ");
  CHECK(byte_to_unicode('\n') == "Ċ");
  CHECK(byte_to_unicode(0) == "Ā");
  CHECK(tokens[255] == byte_to_unicode(0xAD));  // the last non-printable byte
  CHECK(tokens[tokens.size() - 1] == "</think>");
  CHECK(tok.token_types().back() == 4);
  CHECK(tok.resolve_vocab(0) == static_cast<int64_t>(tokens.size()));
  CHECK(tok.resolve_vocab(151936) == 151936);
  CHECK_THROWS_AS(tok.resolve_vocab(10), Error);

  // Padded metadata: "[PADn]" tokens of type unused up to n_vocab.
  gguf::GgufWriter w;
  tok.write_metadata(w, 400);
  gguf::VectorSink sink;
  w.write_header(sink);
  auto f = gguf::GgufFile::parse("tok.gguf", sink.bytes.data(), sink.bytes.size());
  const gguf::Value& toks = f->get("tokenizer.ggml.tokens");
  REQUIRE(toks.size() == 400);
  CHECK(toks.string_at(399) == "[PAD399]");
  CHECK(f->get("tokenizer.ggml.token_type").int_at(399) == 5);
  CHECK(toks.string_at(static_cast<uint64_t>(f->get_int("tokenizer.ggml.eos_token_id"))) == "<|im_end|>");
  CHECK(toks.string_at(static_cast<uint64_t>(f->get_int("tokenizer.ggml.bos_token_id"))) == "<|endoftext|>");
  CHECK(f->get_string("tokenizer.chat_template").find("<|im_start|>") != std::string::npos);
}

TEST_CASE("synth: the written file is deterministic, thread-independent and finite", "[synth]") {
  TokenizerSource tok = TokenizerSource::builtin();
  SynthOptions opts;
  opts.shape = preset_shape("tiny");
  apply_shape_overrides(opts.shape, "n_layer=4");
  opts.mix = parse_type_mix("q4_k_m");
  opts.tokenizer = &tok;
  opts.name = "det";
  auto bytes = [&](int threads, uint64_t seed) {
    opts.threads = threads;
    opts.seed = seed;
    gguf::VectorSink sink;
    SynthResult r = write_synth_model(opts, sink);
    CHECK(r.bytes == sink.bytes.size());
    return sink.bytes;
  };
  auto a = bytes(1, 5);
  CHECK(a == bytes(3, 5));
  CHECK(a != bytes(1, 6));

  auto f = gguf::GgufFile::parse("det.gguf", a.data(), a.size());
  CHECK(f->tensors().size() == 3 + 3 * 18 + 16);
  auto f32_at = [](const gguf::TensorInfo* t, int64_t i) {
    float v;
    std::memcpy(&v, t->data + 4 * i, 4);
    return v;
  };
  const gguf::TensorInfo* a_log = f->find_tensor("blk.0.ssm_a");
  REQUIRE(a_log);
  for (int64_t i = 0; i < a_log->ne[0]; ++i) CHECK(f32_at(a_log, i) < 0);
  const gguf::TensorInfo* norm = f->find_tensor("blk.3.attn_q_norm.weight");
  REQUIRE(norm);
  for (int64_t i = 0; i < norm->ne[0]; ++i) CHECK(std::abs(f32_at(norm, i) - 1.0f) <= 0.05f);
}

TEST_CASE("synth: tiny iq3_m matches the fixture's tensor table", "[synth][fixtures]") {
  check_layout_matches("tiny-qwen3next-iq3_m.gguf", "iq3_m", "");
}

TEST_CASE("synth: tiny q4_k_m matches the fixture's tensor table", "[synth][fixtures]") {
  check_layout_matches("tiny-qwen3next-q4_k_m.gguf", "q4_k_m", "");
}

TEST_CASE("synth: tiny legacy ssm_in q4_k_m matches the fixture's tensor table", "[synth][fixtures]") {
  check_layout_matches("tiny-qwen3next-legacy-q4_k_m.gguf", "q4_k_m", "legacy_ssm_in=1");
}

TEST_CASE("synth: --vocab copies the Qwen3 vocabulary", "[synth][fixtures]") {
  TokenizerSource tok = TokenizerSource::from_gguf(test::fixture("tokenizer/qwen3-vocab.gguf"));
  CHECK(tok.n_tokens() == 151936);
  CHECK(tok.resolve_vocab(0) == 151936);
  CHECK(tok.resolve_vocab(1000) == 151936);  // a copied vocabulary is used as it is
  CHECK_THROWS_AS(TokenizerSource::from_gguf(test::fixture("models/does-not-exist.gguf")), Error);
}
