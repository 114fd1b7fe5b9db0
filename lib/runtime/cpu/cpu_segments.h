// Decode work as one parallel job: the rows of several matrices, each against
// one token's activations (the MoE block's experts, a layer's projections).
// Each row goes through its weight's fused kernel (quant/dot.h vec_dot_rows)
// with the activations in that kernel's form, exactly as a lone matmul would
// run it, so results are bit-identical to separate matmuls.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "quant/dot.h"
#include "runtime/backend.h"
#include "runtime/thread_pool.h"

namespace nextlm::runtime::cpu {

// q8 activations of one row in each form the kernels ask for: quantized by
// their `quantize` (per 32, or per 256 for the superblock form), then laid
// out in their own order where they have one; made on first use, and the
// deque keeps earlier forms in place.
struct QRow {
  struct Form {
    quant::QuantizeFn quantize;
    quant::ActLayoutFn layout;
    std::vector<int8_t> q, laid;
    std::vector<float> d, s;
    const int8_t* codes() const { return layout ? laid.data() : q.data(); }
  };
  std::vector<float> x;
  std::deque<Form> forms;
  void set(const float* src, int64_t n);
  const Form& form(const quant::DotKernels& k);
};

// Rows of one matrix times one activation row: out[r] for r < w.rows.
struct Segment {
  const Weight* w;
  int64_t mat;
  const QRow::Form* act;  // the activations in the form w's kernel reads
  float* out;
  quant::VecDotRowsFn dot;  // w's kernel, looked up once
};

Segment segment(const Weight& w, int64_t mat, QRow& act, float* out);
// Whether w has a fused decode kernel (else it takes the general matmul).
bool has_vec_dot(const Weight& w);
// All segments' rows as one parallel job.
void run_segments(ThreadPool& pool, const std::vector<Segment>& segs);

}  // namespace nextlm::runtime::cpu
