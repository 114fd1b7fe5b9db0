// Matrix products with weights in any GGUF type (the MoE block: cpu_moe.cpp). A weight
// row is decoded once into a per-thread buffer (int8 codes for the types with
// integer dot kernels, quant/dot.h; else f32) and then dotted with every token
// of the batch, so a prefill reads each row once. Decode dots packed rows
// directly; prefill goes through the AMX tile kernel where the OS grants it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "quant/dequant.h"
#include "quant/dot.h"
#include "quant/dot_bf16.h"
#include "runtime/cpu/aligned_vector.h"
#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu/cpu_segments.h"

namespace nextlm::runtime {

namespace {
// Buffers kept per thread across calls: a fresh large vector faults in all of
// its pages again on every matmul. Bind them to local references before a
// parallel_for: inside the job, the name of a thread_local means the worker's.
struct Scratch {
  cpu::LineVector<int8_t> i8;
  cpu::LineVector<float> f0, f1;
  cpu::LineVector<uint16_t> u16;
};
Scratch& scratch(int slot) {
  thread_local Scratch s[4];
  return s[slot];
}

// This thread's buffers for `rows` unpacked rows of `cols` (quant/dot.h
// layout, q_bytes of codes per element).
Scratch& unpack_scratch(int64_t rows, int64_t cols, int q_bytes) {
  Scratch& s = scratch(2);
  s.i8.resize(static_cast<size_t>(rows * cols * q_bytes));
  s.f0.resize(static_cast<size_t>(rows * (cols / 16)));
  s.f1.resize(static_cast<size_t>(rows * (cols / 16)));  // m: cols / m_unit per row, at most cols / 16
  return s;
}

// Rows r0 .. r0 + nr of a weight matrix unpacked into s (row i at i * cols).
void unpack_rows(const quant::DotKernels& k, const uint8_t* base, int64_t row_bytes, int64_t r0, int64_t nr,
                 int64_t cols, Scratch& s) {
  for (int64_t i = 0; i < nr; ++i)
    k.unpack(base + (r0 + i) * row_bytes, cols, s.i8.data() + i * cols * k.q_bytes, s.f0.data() + i * (cols / 16),
             s.f1.data() + i * (cols / k.m_unit));
}
}  // namespace

// Prefill with the tile kernel (quant/dot.h): tokens packed 16 at a time once,
// then each thread unpacks 16 weight rows and runs them against every token
// tile (the superblock form's kernel two token tiles per call, sharing each
// load of the rows). Rows past the end are zero (their results are dropped).
// Several matrices with the same input (an FFN's gate and up) share the
// packing and one parallel job over all their row groups.
void CpuBackend::matmul_tiles(const quant::DotKernels& k, quant::TileDotFn tile, quant::TileDotKFn tile_k,
                              const cpu::TileTarget* targets, int n_targets, int64_t cols, const int8_t* qx,
                              const float* dx, const float* sx, int64_t n_tokens) {
  constexpr int64_t TR = quant::kTileRows, TT = quant::kTileTokens;
  const int64_t nsub = cols / 32, n_tt = (n_tokens + TT - 1) / TT;
  Scratch& packed = scratch(1);
  auto& b = packed.i8;
  auto& dxt = packed.f0;
  auto& sxt = packed.f1;
  b.resize(static_cast<size_t>(n_tt * cols * TT));
  dxt.resize(static_cast<size_t>(n_tt * nsub * TT));
  sxt.resize(dxt.size() + quant::kTileSumsPad);
  pool_.parallel_for(n_tt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t nt = std::min(TT, n_tokens - t * TT);
      if (k.act_k)
        quant::pack_act_tile_k(qx + t * TT * cols, dx + t * TT * nsub, cols, nt, b.data() + t * cols * TT,
                               dxt.data() + t * nsub * TT, sxt.data() + t * nsub * TT);
      else
        quant::pack_act_tile(qx + t * TT * cols, dx + t * TT * nsub, sx + t * TT * nsub, cols, nt,
                             b.data() + t * cols * TT, dxt.data() + t * nsub * TT, sxt.data() + t * nsub * TT);
    }
  });
  std::vector<int64_t> first(n_targets + 1, 0);  // each target's first row group
  for (int i = 0; i < n_targets; ++i) first[i + 1] = first[i] + (targets[i].rows + TR - 1) / TR;
  pool_.parallel_for(first[n_targets], 1, [&](int64_t g0, int64_t g1) {
    Scratch& unpacked = unpack_scratch(TR, cols, k.q_bytes);  // this worker's
    auto& q = unpacked.i8;
    auto& ws = unpacked.f0;
    auto& m = unpacked.f1;
    float out[2 * TR * TT];
    // Row group g: rows r0 .. r0 + nr of one target (a contiguous byte range).
    struct Group {
      const cpu::TileTarget* tg;
      int64_t r0, nr;
    };
    auto group = [&](int64_t g) {
      const auto ti = static_cast<size_t>(std::upper_bound(first.begin(), first.end(), g) - first.begin()) - 1;
      const int64_t r0 = (g - first[ti]) * TR;
      return Group{&targets[ti], r0, std::min(TR, targets[ti].rows - r0)};
    };
    for (int64_t g = g0; g < g1; ++g) {
      const auto [tgp, r0, nr] = group(g);
      const cpu::TileTarget& tg = *tgp;
      unpack_rows(k, tg.base, tg.row_bytes, r0, nr, cols, unpacked);
      // The next group's rows go toward L2 while this group's tiles run, a
      // slice per tile call (a burst would wait on the line fill buffers): its
      // unpack then reads from cache instead of memory.
      const uint8_t* next = nullptr;
      int64_t next_bytes = 0, next_done = 0;
      if (g + 1 < g1) {
        const Group n1 = group(g + 1);
        next = n1.tg->base + n1.r0 * n1.tg->row_bytes;
        next_bytes = n1.nr * n1.tg->row_bytes;
      }
      const int64_t calls = tile_k ? (n_tt + 1) / 2 : n_tt;
      const int64_t slice = (next_bytes / 64 + calls - 1) / calls * 64;
      auto prefetch_next = [&](int64_t upto) {
        for (; next_done < std::min(upto, next_bytes); next_done += 64) __builtin_prefetch(next + next_done, 0, 2);
      };
      if (nr < TR) {
        std::fill(q.begin() + nr * cols * k.q_bytes, q.end(), int8_t{0});
        std::fill(ws.begin() + nr * (cols / 16), ws.end(), 0.0f);
        std::fill(m.begin() + nr * nsub, m.begin() + TR * nsub, 0.0f);
      }
      // Only Q5_K-like types have offsets here (m_unit 32: TR * nsub of them);
      // skipping zero ones changes no bit. (The superblock form's m holds its scales.)
      const bool mins = !tile_k && std::any_of(m.begin(), m.begin() + TR * nsub, [](float v) { return v != 0.0f; });
      for (int64_t t = 0; t < n_tt;) {
        const int n_tiles = tile_k && t + 1 < n_tt ? 2 : 1;
        const int64_t off = t * nsub * TT;
        if (tile_k)
          tile_k(q.data(), ws.data(), m.data(), b.data() + t * cols * TT, dxt.data() + off, sxt.data() + off, cols,
                 n_tiles, out);
        else
          tile(q.data(), ws.data(), mins ? m.data() : nullptr, b.data() + t * cols * TT, dxt.data() + off,
               sxt.data() + off, cols, out);
        // Token-major: each token's results are one contiguous run of y.
        const int64_t nt = std::min(n_tiles * TT, n_tokens - t * TT);
        // (A whole group's run is a fixed-size copy: a memcpy call per 64 bytes cost 2% of prefill.)
        for (int64_t j = 0; j < nt; ++j) {
          float* dst = tg.y + (t * TT + j) * tg.rows + r0;
          if (nr == TR)
            std::memcpy(dst, out + j * TR, TR * sizeof(float));
          else
            std::memcpy(dst, out + j * TR, static_cast<size_t>(nr) * sizeof(float));
        }
        t += n_tiles;
        prefetch_next(next_done + slice);
      }
    }
  });
}

// Activations to q8 in k's form, once per matmul (the thread's scratch slot 0).
void CpuBackend::quantize_rows(const quant::DotKernels& k, const float* x, int64_t n_tokens, int64_t cols) {
  const int64_t nsub = cols / 32;
  Scratch& act = scratch(0);
  act.i8.resize(static_cast<size_t>(n_tokens * cols));
  act.f0.resize(static_cast<size_t>(n_tokens * nsub));
  act.f1.resize(act.f0.size());
  int8_t* qx = act.i8.data();
  float *dx = act.f0.data(), *sx = act.f1.data();
  pool_.parallel_for(n_tokens, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) k.quantize(x + t * cols, cols, qx + t * cols, dx + t * nsub, sx + t * nsub);
  });
}

bool CpuBackend::tile_kernels(const quant::DotKernels& k, int64_t n_tokens, quant::TileDotFn& tile,
                              quant::TileDotKFn& tile_k) {
  tile_k = k.act_k ? quant::tile_dot_k() : nullptr;
  tile = !k.act_k && k.m_unit == 32 ? quant::tile_dot(k.unit) : nullptr;
  return k.unpack != nullptr && (tile || tile_k) && n_tokens >= cpu::kTileMinTokens;
}

void CpuBackend::matmul_many(const Weight* const* ws, int n, const float* x, int64_t n_tokens, float* const* ys) {
  const std::vector<int64_t> mats(static_cast<size_t>(n), 0);
  matmul_group(ws, mats.data(), n, x, n_tokens, ys);
}

void CpuBackend::matmul_group(const Weight* const* ws, const int64_t* mats, int n, const float* x, int64_t n_tokens,
                              float* const* ys) {
  const int64_t cols = ws[0]->cols;
  bool same_cols = true;
  for (int i = 0; i < n; ++i) same_cols = same_cols && ws[i]->cols == cols;
  if (n_tokens <= cpu::kDecodeMaxTokens && same_cols) {
    bool fused = true;
    for (int i = 0; i < n; ++i) fused = fused && cpu::has_vec_dot(*ws[i]);
    if (fused) {  // decode: every matrix's rows for every token in one job
      std::vector<cpu::QRow> xq(static_cast<size_t>(n_tokens));
      for (int64_t t = 0; t < n_tokens; ++t) xq[t].set(x + t * cols, cols);
      std::vector<cpu::Segment> segs;
      for (int i = 0; i < n; ++i)
        for (int64_t t = 0; t < n_tokens; ++t)
          segs.push_back(cpu::segment(*ws[i], mats[i], xq[t], ys[i] + t * ws[i]->rows));
      cpu::run_segments(pool_, segs);
      return;
    }
  }
  // Prefill: matrices whose kernels take the tile path in the same form go together.
  std::vector<bool> done(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    if (done[i]) continue;
    const Weight& a = *ws[i];
    const quant::DotKernels k = cpu::weight_kernels(a);
    quant::TileDotFn tile = nullptr;
    quant::TileDotKFn tile_k = nullptr;
    std::vector<cpu::TileTarget> targets;
    if (a.cols % 32 == 0 && tile_kernels(k, n_tokens, tile, tile_k)) {
      for (int j = i; j < n; ++j) {
        const Weight& b = *ws[j];
        if (done[j] || b.type != a.type || b.layout != a.layout || b.cols != a.cols) continue;
        targets.push_back({static_cast<const uint8_t*>(b.data) + mats[j] * b.matrix_bytes,
                           static_cast<int64_t>(b.row_bytes), b.rows, ys[j]});
        done[j] = true;
      }
    }
    if (targets.size() < 2) {
      matmul(a, mats[i], x, n_tokens, ys[i]);
      done[i] = true;
      continue;
    }
    quantize_rows(k, x, n_tokens, a.cols);
    const Scratch& act = scratch(0);
    matmul_tiles(k, tile, tile_k, targets.data(), static_cast<int>(targets.size()), a.cols, act.i8.data(),
                 act.f0.data(), act.f1.data(), n_tokens);
  }
}

void CpuBackend::matmul(const Weight& w, int64_t mat, const float* x, int64_t n_tokens, float* y) {
  const auto* base = static_cast<const uint8_t*>(w.data) + mat * w.matrix_bytes;
  const int64_t cols = w.cols, rows = w.rows;
  const quant::DotKernels k = cpu::weight_kernels(w);
  if (w.type == quant::Type::BF16) {
    // Native BF16: each token's activations rounded to bf16 once, then
    // VDPBF16PS's arithmetic per (row, token) on every ISA (quant/dot_bf16.h),
    // so a token's result does not depend on its batch.
    const quant::Bf16DotFn dot = quant::bf16_dot();
    auto& xb = scratch(0).u16;
    xb.resize(static_cast<size_t>(n_tokens * cols));
    pool_.parallel_for(n_tokens, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) quant::act_to_bf16(x + t * cols, cols, xb.data() + t * cols);
    });
    // Runs of 16 rows against blocks of 64 tokens: both stay in L2.
    constexpr int64_t kRun = 16, kTokens = 64;
    pool_.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t rr = r0; rr < r1; rr += kRun) {
        const int64_t re = std::min(r1, rr + kRun);
        for (int64_t tt = 0; tt < n_tokens; tt += kTokens) {
          const int64_t te = std::min(n_tokens, tt + kTokens);
          for (int64_t r = rr; r < re; ++r) {
            const auto* wr = reinterpret_cast<const uint16_t*>(base + r * w.row_bytes);
            for (int64_t t = tt; t < te; ++t) y[t * rows + r] = dot(wr, xb.data() + t * cols, cols);
          }
        }
      }
    });
    return;
  }
  if (k.unpack != nullptr && cols % 32 == 0) {
    // Integer path (native mode): activations to q8 once, each weight row
    // unpacked once to int8 codes and dotted with every token; rows go in
    // tiles so a token's activations stay in L1 across the tile.
    const int64_t nsub = cols / 32;
    quantize_rows(k, x, n_tokens, cols);
    Scratch& act = scratch(0);
    auto& qx = act.i8;
    auto& dx = act.f0;
    auto& sx = act.f1;
    if (k.vec_dot_rows && n_tokens <= cpu::kDecodeMaxTokens) {
      // Decode: an unpacked row would not be reused, so dot straight from the packed row.
      const int8_t* qa = qx.data();
      int64_t qa_stride = cols;
      if (k.vec_dot_layout) {  // the kernel's own activation order, made once per token
        qa_stride = quant::kActLayoutBytes * cols;
        auto& laid = scratch(3).i8;
        laid.resize(static_cast<size_t>(n_tokens * qa_stride));
        for (int64_t t = 0; t < n_tokens; ++t)
          k.vec_dot_layout(qx.data() + t * cols, dx.data() + t * nsub, cols, laid.data() + t * qa_stride);
        qa = laid.data();
      }
      pool_.parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
        // Runs of 16 rows: with several tokens, a run is still in L1 for the next token.
        constexpr int64_t kRun = 16;
        for (int64_t rr = r0; rr < r1; rr += kRun) {
          const int64_t nr = std::min(kRun, r1 - rr);
          for (int64_t t = 0; t < n_tokens; ++t)
            k.vec_dot_rows(base + rr * w.row_bytes, w.row_bytes, nr, qa + t * qa_stride, dx.data() + t * nsub,
                           sx.data() + t * nsub, cols, y + t * rows + rr);
        }
      });
      return;
    }
    quant::TileDotFn tile_u = nullptr;
    quant::TileDotKFn tile_k = nullptr;
    if (tile_kernels(k, n_tokens, tile_u, tile_k)) {
      const cpu::TileTarget target{base, static_cast<int64_t>(w.row_bytes), rows, y};
      matmul_tiles(k, tile_u, tile_k, &target, 1, cols, qx.data(), dx.data(), sx.data(), n_tokens);
      return;
    }
    constexpr int64_t kTile = 16;
    pool_.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
      const int64_t tile = std::min<int64_t>(kTile, r1 - r0);
      Scratch& unpacked = unpack_scratch(tile, cols, k.q_bytes);  // this worker's
      const auto& q = unpacked.i8;
      const auto& ws = unpacked.f0;
      const auto& m = unpacked.f1;
      for (int64_t rb = r0; rb < r1; rb += tile) {
        const int64_t nr = std::min(tile, r1 - rb);
        unpack_rows(k, base, w.row_bytes, rb, nr, cols, unpacked);
        int64_t t = 0;
        for (; k.dot4 && t + 4 <= n_tokens; t += 4) {
          float out[4];
          for (int64_t i = 0; i < nr; ++i) {
            k.dot4(q.data() + i * cols * k.q_bytes, ws.data() + i * (cols / 16), m.data() + i * (cols / k.m_unit),
                   qx.data() + t * cols, dx.data() + t * nsub, sx.data() + t * nsub, cols, cols, out);
            for (int j = 0; j < 4; ++j) y[(t + j) * rows + rb + i] = out[j];
          }
        }
        for (; t < n_tokens; ++t) {
          const int8_t* qt = qx.data() + t * cols;
          const float* dt = dx.data() + t * nsub;
          const float* st = sx.data() + t * nsub;
          for (int64_t i = 0; i < nr; ++i)
            y[t * rows + rb + i] = k.dot(q.data() + i * cols * k.q_bytes, ws.data() + i * (cols / 16),
                                         m.data() + i * (cols / k.m_unit), qt, dt, st, cols);
        }
      }
    });
    return;
  }
  pool_.parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp(w.type == quant::Type::F32 ? 0 : cols);
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr;
      if (w.type == quant::Type::F32) {
        wr = reinterpret_cast<const float*>(base + r * w.row_bytes);
      } else {
        cpu::weight_row_f32(w, base + r * w.row_bytes, tmp.data());
        wr = tmp.data();
      }
      for (int64_t t = 0; t < n_tokens; ++t) y[t * rows + r] = cpu::dot(wr, x + t * cols, cols);
    }
  });
}

}  // namespace nextlm::runtime
