// Tensor split: how units are divided, which splits are refused, cutting
// quantized weights (rows anywhere, columns between blocks only), and the
// memory plan's per-device figures against what loading actually places.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "fixtures.h"
#include "gguf/gguf_reader.h"
#include "model/placement.h"
#include "model/tensor_split.h"
#include "nextlm/error.h"
#include "quant/dequant.h"
#include "quant/random_blocks.h"
#include "runtime/cpu/cpu_backend.h"

using namespace nextlm;
using model::Range;

namespace {

model::Qwen3NextConfig shape(int n_head_kv, int k_heads, int experts) {
  model::Qwen3NextConfig c;
  c.n_head = 2 * n_head_kv;
  c.n_head_kv = n_head_kv;
  c.ssm_n_group = k_heads;
  c.ssm_dt_rank = 2 * k_heads;
  c.n_expert = experts;
  c.n_ff_shexp = 512;
  c.n_vocab = 1000;
  c.recurrent = {true, false};
  return c;
}

// A CPU backend that counts the weight bytes prepared on it (what a GPU would hold).
class CountingBackend final : public runtime::Backend {
 public:
  uint64_t bytes = 0, allocated = 0;
  const char* name() const override { return "counting"; }
  std::unique_ptr<runtime::Buffer> alloc(size_t n) override {
    allocated += n;
    return cpu_.alloc(n);
  }
  runtime::Weight prepare_weight(quant::Type type, const void* data, int64_t cols, int64_t rows, int64_t n_mats,
                                 runtime::ComputeMode mode) override {
    bytes += quant::row_bytes(type, cols) * static_cast<uint64_t>(rows * n_mats);
    return cpu_.prepare_weight(type, data, cols, rows, n_mats, mode);
  }
  const float* prepare_vector(const float* host, size_t n) override {
    bytes += n * sizeof(float);
    return cpu_.prepare_vector(host, n);
  }
  void to_host(const void* s, void* d, size_t n) override { cpu_.to_host(s, d, n); }
  void from_host(const void* s, void* d, size_t n) override { cpu_.from_host(s, d, n); }
  void synchronize() override {}
  void copy(void* d, const void* s, size_t n) override { cpu_.copy(d, s, n); }
  void get_rows(const runtime::Weight& w, const int32_t* ids, int64_t n, float* out) override {
    cpu_.get_rows(w, ids, n, out);
  }
  void matmul(const runtime::Weight& w, int64_t mat, const float* x, int64_t n, float* y) override {
    cpu_.matmul(w, mat, x, n, y);
  }
  void rms_norm(const float* x, const float* w, int64_t r, int64_t n, float e, float* y) override {
    cpu_.rms_norm(x, w, r, n, e, y);
  }
  void rms_norm_gated(const float* x, const float* w, const float* z, int64_t r, int64_t n, float e,
                      float* y) override {
    cpu_.rms_norm_gated(x, w, z, r, n, e, y);
  }
  void l2_norm(const float* x, int64_t r, int64_t n, float e, float s, float* y) override {
    cpu_.l2_norm(x, r, n, e, s, y);
  }
  void add(const float* a, const float* b, int64_t n, float* y) override { cpu_.add(a, b, n, y); }
  void copy_columns(const float* s, int64_t r, int64_t sc, int64_t c, int64_t nc, float* d) override {
    cpu_.copy_columns(s, r, sc, c, nc, d);
  }
  void rope_neox(float* x, int64_t t, int h, int hd, int nr, const int32_t* p, float f) override {
    cpu_.rope_neox(x, t, h, hd, nr, p, f);
  }
  void moe(const runtime::MoeWeights& m, const float* x, int64_t t, int64_t e, float* y) override {
    cpu_.moe(m, x, t, e, y);
  }
  void conv1d_silu(const float* x, int64_t t, int64_t ch, const float* w, int k, float* st, float* y) override {
    cpu_.conv1d_silu(x, t, ch, w, k, st, y);
  }
  void delta_gates(const float* ba, int64_t t, const runtime::DeltaShape& s, const float* dt, const float* a,
                   float* beta, float* g) override {
    cpu_.delta_gates(ba, t, s, dt, a, beta, g);
  }
  void gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta, int64_t t,
                        const runtime::DeltaShape& s, float* st, float* out, bool chunked) override {
    cpu_.gated_delta_rule(q, k, v, g, beta, t, s, st, out, chunked);
  }
  void kv_store(const runtime::KvLayerView& kv, const float* k, const float* v, int64_t t,
                const runtime::AttentionShape& s, const int32_t* p) override {
    cpu_.kv_store(kv, k, v, t, s, p);
  }
  void attention(const runtime::KvLayerView& kv, const float* q, int64_t t, const runtime::AttentionShape& s,
                 const int32_t* p, float* out) override {
    cpu_.attention(kv, q, t, s, p, out);
  }
  void mul_sigmoid(const float* x, const float* g, int64_t n, float* y) override { cpu_.mul_sigmoid(x, g, n, y); }

 private:
  runtime::CpuBackend cpu_{1};
};

}  // namespace

TEST_CASE("tensor split: units divided by ratios into contiguous ranges", "[split]") {
  const std::vector<double> half{0.5, 0.5}, uneven{0.2, 0.3, 0.5};
  CHECK(model::divide(8, half) == std::vector<Range>{{0, 4}, {4, 8}});
  CHECK(model::divide(10, uneven) == std::vector<Range>{{0, 2}, {2, 5}, {5, 10}});
  CHECK(model::divide(1, half) == std::vector<Range>{{0, 1}, {1, 1}});  // may be empty
  const std::vector<std::string> two{"cpu:0", "cpu:1"}, three{"cpu:0", "cpu:1", "cpu:2"};
  const auto s = model::plan_tensor_split(shape(4, 4, 16), uneven, 256, three);
  REQUIRE(s.size() == 3);
  CHECK(s[0].kv_heads == Range{0, 1});
  CHECK(s[2].k_heads == Range{2, 4});
  CHECK(s[1].experts == Range{3, 8});
  CHECK(s[0].shexp.size() + s[1].shexp.size() + s[2].shexp.size() == 512);
  CHECK(s[2].shexp.begin % 256 == 0);  // the shared expert's rows are cut at its block size
  CHECK(s[2].vocab == Range{500, 1000});
}

TEST_CASE("tensor split: bad splits are refused with a clear error", "[split]") {
  const std::vector<std::string> three{"cpu:0", "cpu:1", "cpu:2"}, two{"cpu:0", "cpu:1"};
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      return std::string(e.what());
    }
    FAIL("no error");
    return std::string();
  };
  const std::vector<double> equal3{1 / 3.0, 1 / 3.0, 1 / 3.0}, skewed{0.9, 0.1};
  CHECK(message([&] { model::plan_tensor_split(shape(2, 2, 8), equal3, 1, three); }).find("3 devices but only 2") !=
        std::string::npos);
  CHECK(message([&] { model::plan_tensor_split(shape(4, 4, 8), skewed, 1, two); }).find("cpu:1 gets none") !=
        std::string::npos);
  CHECK(message([&] { model::plan_tensor_split(shape(8, 8, 2), equal3, 1, three); }).find("routed experts") !=
        std::string::npos);
  CHECK_THROWS_AS(runtime::Topology::parse("cpu:0,cpu:1", "tensor", "1,x"), Error);
  CHECK_THROWS_AS(runtime::Topology::parse("cpu:0,cpu:1", "tensor", "1"), Error);
  CHECK_THROWS_AS(runtime::Topology::parse("cpu:0,cpu:1", "tensor", "0,0"), Error);
  CHECK_THROWS_AS(runtime::Topology::parse("cpu:0,cpu:1", "tensor", "-1,2"), Error);
}

TEST_CASE("tensor split: quantized rows and block-aligned columns cut exactly", "[split]") {
  util::Rng rng(5);
  for (quant::Type t : {quant::Type::Q4_K, quant::Type::Q8_0, quant::Type::IQ3_S, quant::Type::BF16}) {
    const quant::TypeInfo& ti = quant::type_info(t);
    INFO(ti.name);
    const int64_t cols = 4 * 256, rows = 6;
    const size_t rb = quant::row_bytes(t, cols);
    std::vector<uint8_t> m(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quant::fill_random_row(t, rng, m.data() + r * rb, cols, 1.0f);
    std::vector<float> full(cols * rows);
    for (int64_t r = 0; r < rows; ++r) quant::dequantize_row(t, m.data() + r * rb, full.data() + r * cols, cols);

    // Rows from two ranges, in order.
    const std::vector<Range> pick{{4, 6}, {1, 2}};
    const auto g = model::gather_rows(m.data(), rb, pick);
    REQUIRE(g.size() == 3 * rb);
    std::vector<float> row(cols);
    const int64_t want_rows[] = {4, 5, 1};
    for (int i = 0; i < 3; ++i) {
      quant::dequantize_row(t, g.data() + i * rb, row.data(), cols);
      CHECK(std::memcmp(row.data(), full.data() + want_rows[i] * cols, cols * sizeof(float)) == 0);
    }

    // Columns [256, 768): the dequantized slice is the slice of the dequantized matrix.
    const Range part{256, 768};
    const auto c = model::slice_columns(t, m.data(), cols, rows, part, "w");
    const size_t crb = quant::row_bytes(t, part.size());
    REQUIRE(c.size() == crb * rows);
    std::vector<float> cut(part.size());
    for (int64_t r = 0; r < rows; ++r) {
      quant::dequantize_row(t, c.data() + r * crb, cut.data(), part.size());
      CHECK(std::memcmp(cut.data(), full.data() + r * cols + part.begin, part.size() * sizeof(float)) == 0);
    }
    // A cut inside a block is refused (kUnsupported), naming the tensor.
    if (ti.block_size > 1) {
      try {
        model::slice_columns(t, m.data(), cols, rows, {0, ti.block_size / 2}, "blk.0.attn_output.weight");
        FAIL("cut inside a block");
      } catch (const Error& e) {
        CHECK(e.code() == ErrorCode::kUnsupported);
        CHECK(std::string(e.what()).find("blk.0.attn_output.weight") != std::string::npos);
      }
    }
  }
}

TEST_CASE("tensor split and --cpu-moe: the plan's weights per device are what loading places", "[split][fixtures]") {
  auto f = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-bf16.gguf"));
  auto c = model::Qwen3NextConfig::from_gguf(*f);
  c.n_vocab = f->find_tensor("token_embd.weight")->ne[1];
  struct Case {
    const char* devices;
    const char* split;
    const char* ratios;
    int cpu_moe;
  };
  for (const Case& k : {Case{"cpu:0,cpu:1", "tensor", "1,1", 0}, Case{"cpu:0,cpu:1", "tensor", "2,3", 3},
                        Case{"cpu:0,cpu:1,cpu:2", "layer", "", 2}, Case{"cpu:0", "layer", "", 8}}) {
    INFO(k.devices << " " << k.split << " " << k.ratios << " cpu-moe " << k.cpu_moe);
    const auto topo = runtime::Topology::parse(k.devices, k.split, k.ratios, "", k.cpu_moe);
    model::PlanRequest req;
    req.n_ctx = 256;
    const auto plan = model::plan_memory(*f, c, topo, req);
    std::vector<std::unique_ptr<CountingBackend>> own;
    model::ModelLayout layout;
    for (size_t d = 0; d < topo.devices.size(); ++d) layout.backends.push_back(own.emplace_back(new CountingBackend).get());
    CountingBackend host;
    auto comm = runtime::make_host_communicator(layout.backends);
    if (topo.split == runtime::SplitMode::kTensor) {
      layout.slices = plan.slices;
      layout.comm = comm.get();
    } else {
      layout.layer_device.assign(static_cast<size_t>(c.n_layer), 0);
      for (size_t d = 0; d < plan.devices.size(); ++d) {
        for (int l = plan.devices[d].first_layer; l >= 0 && l <= plan.devices[d].last_layer; ++l) {
          layout.layer_device[l] = static_cast<int>(d);
        }
      }
    }
    if (k.cpu_moe) layout.expert_backend = &host, layout.cpu_moe_layers = k.cpu_moe;
    CHECK(plan.native_refusal.empty());  // BF16: any column cut is a block boundary
    model::Qwen3NextModel m(*f, layout, runtime::ComputeMode::kNative);
    for (size_t d = 0; d < own.size(); ++d) CHECK(own[d]->bytes == plan.devices[d].weights);
    CHECK(host.bytes == plan.cpu_expert_bytes);
    // A sequence's KV cache and recurrent state: each device holds its heads' part, as planned.
    std::vector<uint64_t> before;
    for (const auto& b : own) before.push_back(b->allocated);
    auto seq = m.new_sequence(req.n_ctx, {req.cache_k, req.cache_v});
    for (size_t d = 0; d < own.size(); ++d) {
      CHECK(own[d]->allocated - before[d] == plan.devices[d].kv_cache + plan.devices[d].recurrent);
    }
  }
  // Q4_K_M: the 128-column cut of the Q5_K attention output is refused by the plan, before loading.
  auto q = gguf::GgufFile::open(test::fixture("models/tiny-qwen3next-q4_k_m.gguf"));
  auto qc = model::Qwen3NextConfig::from_gguf(*q);
  qc.n_vocab = q->find_tensor("token_embd.weight")->ne[1];
  const auto qt = runtime::Topology::parse("cpu:0,cpu:1", "tensor", "");
  CHECK(model::plan_memory(*q, qc, qt, {}).native_refusal.find("attn_output") != std::string::npos);
  CHECK_THROWS_AS(model::load_placed(*q, qt, 2, runtime::ComputeMode::kNative, {}), Error);
  CHECK_NOTHROW(model::load_placed(*q, qt, 2, runtime::ComputeMode::kExact, {}));
}
