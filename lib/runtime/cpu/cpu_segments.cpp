#include "runtime/cpu/cpu_segments.h"

#include <algorithm>

#include "runtime/cpu/cpu_backend.h"

namespace nextlm::runtime::cpu {

void QRow::set(const float* src, int64_t n) {
  x.assign(src, src + n);
  forms.clear();
}

const QRow::Form& QRow::form(const quant::DotKernels& k) {
  for (const Form& f : forms)
    if (f.quantize == k.quantize && f.layout == k.vec_dot_layout) return f;
  const auto n = static_cast<int64_t>(x.size());
  Form& f = forms.emplace_back();
  f.quantize = k.quantize, f.layout = k.vec_dot_layout;
  f.q.resize(static_cast<size_t>(n));
  f.d.resize(static_cast<size_t>(n / 32));
  f.s.resize(f.d.size());
  k.quantize(x.data(), n, f.q.data(), f.d.data(), f.s.data());
  if (f.layout) {
    f.laid.resize(static_cast<size_t>(quant::kActLayoutBytes * n));
    f.layout(f.q.data(), f.d.data(), n, f.laid.data());
  }
  return f;
}

Segment segment(const Weight& w, int64_t mat, QRow& act, float* out) {
  const quant::DotKernels k = weight_kernels(w);
  return {&w, mat, &act.form(k), out, k.vec_dot_rows};
}

bool has_vec_dot(const Weight& w) {
  return w.type != quant::Type::F32 && w.cols % 32 == 0 && weight_kernels(w).vec_dot_rows != nullptr;
}

void run_segments(ThreadPool& pool, const std::vector<Segment>& segs) {
  std::vector<int64_t> start(segs.size() + 1, 0);
  for (size_t i = 0; i < segs.size(); ++i) start[i + 1] = start[i] + segs[i].w->rows;
  pool.parallel_for(start.back(), 16, [&](int64_t r0, int64_t r1) {
    size_t i = static_cast<size_t>(std::upper_bound(start.begin(), start.end(), r0) - start.begin()) - 1;
    for (int64_t r = r0; r < r1;) {  // the part of [r0, r1) in each segment, in one call
      while (r >= start[i + 1]) ++i;
      const Segment& sg = segs[i];
      const Weight& w = *sg.w;
      const int64_t local = r - start[i], n = std::min(r1, start[i + 1]) - r;
      const auto* row = static_cast<const uint8_t*>(w.data) + sg.mat * w.matrix_bytes + local * w.row_bytes;
      sg.dot(row, w.row_bytes, n, sg.act->codes(), sg.act->d.data(), sg.act->s.data(), w.cols, sg.out + local);
      r += n;
    }
  });
}

}  // namespace nextlm::runtime::cpu
