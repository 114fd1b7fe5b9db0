#include "runtime/cpu/cpu_backend.h"

#include <cmath>
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "nextlm/error.h"
#include "quant/dequant.h"
#include "quant/repack.h"
#include "runtime/cpu/cpu_math.h"
#include "util/mapped_file.h"

namespace nextlm::runtime {

namespace {

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : data_((bytes + 3) / 4, 0.0f), bytes_(bytes) {}
  void* data() override { return data_.data(); }
  size_t size() const override { return bytes_; }

 private:
  std::vector<float> data_;  // float storage keeps every buffer 4-byte aligned
  size_t bytes_;
};

}  // namespace

namespace cpu {
NLM_CPU_CLONES float dot(const float* a, const float* b, int64_t n) {
  return dot_f32(a, b, n);
}
}  // namespace cpu

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}

CpuBackend::~CpuBackend() {
  for (const HugeChunk& c : huge_) ::munmap(c.data, c.len);
}

uint8_t* CpuBackend::take_huge_pages(size_t bytes) {
  constexpr size_t kAlign = 64, kChunk = size_t{256} << 20;
  const size_t need = (bytes + kAlign - 1) / kAlign * kAlign;
  if (huge_.empty() || huge_.back().len - huge_.back().used < need) {
    const util::HugeMapping m = util::map_huge(std::max(need, kChunk));
    if (m.data == nullptr) throw Error(ErrorCode::kOutOfMemory, "no memory for a copy of the CPU weights");
    huge_.push_back({m.data, m.len, 0});
  }
  HugeChunk& c = huge_.back();
  uint8_t* dst = c.data + c.used;
  c.used += need;
  return dst;
}

void CpuBackend::release_source(const void* src, size_t bytes) {
  // Whole pages of the source inside the file mapping: dropping them is safe
  // (they fault back in from the file) and keeps the peak resident memory down.
  const auto* s = static_cast<const uint8_t*>(src);
  if (s >= mapped_ && s + bytes <= mapped_ + mapped_len_) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t b = (reinterpret_cast<uintptr_t>(s) + page - 1) / page * page;
    const uintptr_t e = (reinterpret_cast<uintptr_t>(s) + bytes) / page * page;
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }
}

const void* CpuBackend::copy_to_huge_pages(const void* src, size_t bytes) {
  uint8_t* dst = take_huge_pages(bytes);
  // In parallel: the source pages fault in from the file as they are read.
  constexpr int64_t kPiece = int64_t{1} << 20;
  const auto* s = static_cast<const uint8_t*>(src);
  pool_.parallel_for((static_cast<int64_t>(bytes) + kPiece - 1) / kPiece, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const size_t off = static_cast<size_t>(p * kPiece);
      std::memcpy(dst + off, s + off, std::min<size_t>(kPiece, bytes - off));
    }
  });
  release_source(src, bytes);
  return dst;
}

std::unique_ptr<Buffer> CpuBackend::alloc(size_t bytes) {
  return std::make_unique<HostBuffer>(bytes);
}

Weight CpuBackend::prepare_weight(quant::Type type, const void* file_data, int64_t cols, int64_t rows, int64_t n_mats,
                                  ComputeMode mode) {
  Weight w;
  w.cols = cols;
  w.rows = rows;
  w.n_mats = n_mats;
  if (mode == ComputeMode::kExact && type != quant::Type::F32) {
    // Dequantize once: the exact path then computes in f32 throughout.
    std::vector<float>& f = owned_.emplace_back(static_cast<size_t>(cols * rows * n_mats));
    const size_t src_row = quant::row_bytes(type, cols);
    const auto* src = static_cast<const uint8_t*>(file_data);
    pool_.parallel_for(rows * n_mats, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) quant::dequantize_row(type, src + r * src_row, f.data() + r * cols, cols);
    });
    w.type = quant::Type::F32;
    w.data = f.data();
    w.row_bytes = quant::row_bytes(w.type, cols);
  } else {
    w.type = type;
    w.data = file_data;
    w.row_bytes = quant::row_bytes(type, cols);
    const size_t src_bytes = w.row_bytes * static_cast<size_t>(rows * n_mats);
    const quant::Repack repack = huge_page_weights_ ? quant::repack_for(type, cols) : quant::Repack::kNone;
    if (repack != quant::Repack::kNone) {
      // Copied anyway: into the layout with the faster kernel (quant/repack.h).
      const size_t src_row = w.row_bytes, dst_row = quant::repacked_row_bytes(repack, cols);
      uint8_t* dst = take_huge_pages(dst_row * static_cast<size_t>(rows * n_mats));
      const auto* src = static_cast<const uint8_t*>(file_data);
      pool_.parallel_for(rows * n_mats, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) quant::repack_row(repack, src + r * src_row, cols, dst + r * dst_row);
      });
      release_source(file_data, src_bytes);
      w.data = dst;
      w.row_bytes = dst_row;
      w.layout = static_cast<int>(repack);
    } else if (huge_page_weights_) {
      w.data = copy_to_huge_pages(file_data, src_bytes);
    }
  }
  w.matrix_bytes = w.row_bytes * static_cast<size_t>(rows);
  return w;
}

const float* CpuBackend::prepare_vector(const float* host, size_t n) {
  return owned_.emplace_back(host, host + n).data();
}

void CpuBackend::to_host(const void* src, void* host_dst, size_t bytes) {
  std::memcpy(host_dst, src, bytes);
}
void CpuBackend::copy(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}
void CpuBackend::from_host(const void* host_src, void* dst, size_t bytes) {
  std::memcpy(dst, host_src, bytes);
}

void CpuBackend::get_rows(const Weight& w, const int32_t* ids, int64_t n, float* out) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t t = 0; t < n; ++t) {
    if (ids[t] < 0 || ids[t] >= w.rows) {
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(ids[t]) + " out of range");
    }
    cpu::weight_row_f32(w, base + ids[t] * w.row_bytes, out + t * w.cols);
  }
}

namespace cpu {

quant::DotKernels weight_kernels(const Weight& w) {
  if (w.layout != 0) return quant::repacked_dot_kernels(static_cast<quant::Repack>(w.layout));
  return w.type == quant::Type::F32 ? quant::DotKernels{} : quant::dot_kernels(w.type);
}

void weight_row_f32(const Weight& w, const uint8_t* row, float* out) {
  if (w.layout != 0) {
    quant::dequantize_repacked_row(static_cast<quant::Repack>(w.layout), row, out, w.cols);
  } else {
    quant::dequantize_row(w.type, row, out, w.cols);
  }
}

}  // namespace cpu

// The row-wise ops below split their rows over the pool in prefill (each row
// is computed the same way on any thread, so results do not change); a decode
// step's few rows (under kInlineElems elements) run inline: a parallel job
// costs more than they do.
namespace {
double sum_squares(const float* xr, int64_t n) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
  return ss;
}
void rms_norm_row(const float* xr, const float* w, int64_t n, float eps, float* yr) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_squares(xr, n) / n) + eps);
  for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale * w[i];
}
constexpr int64_t kInlineElems = 32768;
int64_t row_grain(int64_t n) {
  return std::max<int64_t>(1, kInlineElems / std::max<int64_t>(1, n));
}
}  // namespace

void CpuBackend::rms_norm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y) {
  pool_.parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) rms_norm_row(x + r * n, w, n, eps, y + r * n);
  });
}

void CpuBackend::rms_norm_gated(const float* x, const float* w, const float* z, int64_t rows, int64_t n, float eps,
                                float* y) {
  pool_.parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      rms_norm_row(x + r * n, w, n, eps, y + r * n);
      cpu::mul_silu(z + r * n, n, y + r * n);
    }
  });
}

void CpuBackend::l2_norm(const float* x, int64_t rows, int64_t n, float eps, float scale, float* y) {
  pool_.parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * n;
      const float inv = scale / std::fmax(std::sqrt(static_cast<float>(sum_squares(xr, n))), eps);
      for (int64_t i = 0; i < n; ++i) y[r * n + i] = xr[i] * inv;
    }
  });
}

void CpuBackend::add(const float* a, const float* b, int64_t n, float* y) {
  pool_.parallel_for(n, kInlineElems, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = a[i] + b[i];
  });
}

void CpuBackend::copy_columns(const float* src, int64_t rows, int64_t src_cols, int64_t col, int64_t n_cols,
                              float* dst) {
  for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * n_cols, src + r * src_cols + col, n_cols * sizeof(float));
}

void CpuBackend::rope_neox(float* x, int64_t n_tokens, int n_heads, int head_dim, int n_rot, const int32_t* positions,
                           float freq_base) {
  const int half = n_rot / 2;
  const float theta_scale = std::pow(freq_base, -2.0f / static_cast<float>(n_rot));
  std::vector<float> cs(half), sn(half);
  for (int64_t t = 0; t < n_tokens; ++t) {
    float theta = static_cast<float>(positions[t]);
    for (int i = 0; i < half; ++i) {
      cs[i] = std::cos(theta);
      sn[i] = std::sin(theta);
      theta *= theta_scale;
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * cs[i] - x1 * sn[i];
        v[i + half] = x0 * sn[i] + x1 * cs[i];
      }
    }
  }
}

void CpuBackend::mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) {
  pool_.parallel_for(n, kInlineElems,
                     [&](int64_t i0, int64_t i1) { cpu::mul_sigmoid(x + i0, gate + i0, i1 - i0, y + i0); });
}

}  // namespace nextlm::runtime
