// Gated DeltaNet ops: the short causal conv, the gates, and the gated delta
// rule in its recurrent (token by token) and chunked forms.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/cpu/cpu_backend.h"
#include "runtime/cpu/cpu_math.h"

namespace nextlm::runtime {

namespace {
// Channels [c0, c1) of every token. Window row r (kernel - 1 saved inputs,
// then the new tokens) is state row r or input row r - (kernel - 1): read in
// place, not copied. wt holds the channels' weights tap-major
// (wt[j * (c1 - c0) + c]), so each tap is one pass along contiguous channels.
NLM_CPU_CLONES void conv_channels(const float* state, const float* x, int64_t n_tokens, int64_t channels, int64_t c0,
                                  int64_t c1, const float* wt, int kernel, float* y) {
  const int64_t nc = c1 - c0, hist = kernel - 1;
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* yt = y + t * channels + c0;
    for (int64_t c = 0; c < nc; ++c) yt[c] = 0.0f;
    for (int j = 0; j < kernel; ++j) {
      const int64_t r = t + j;
      const float* xj = (r < hist ? state + r * channels : x + (r - hist) * channels) + c0;
      const float* wj = wt + j * nc;
      for (int64_t c = 0; c < nc; ++c) yt[c] += xj[c] * wj[c];
    }
    cpu::silu_inplace(yt, nc);
  }
}
}  // namespace

void CpuBackend::conv1d_silu(const float* x, int64_t n_tokens, int64_t channels, const float* w, int kernel,
                             float* state, float* y) {
  // w[c][j] weighs the j-th oldest of the kernel inputs ending at the current token.
  const int64_t hist = kernel - 1;
  pool_.parallel_for(channels, 64, [&](int64_t c0, int64_t c1) {
    std::vector<float> wt(kernel * (c1 - c0));
    for (int64_t c = c0; c < c1; ++c)
      for (int j = 0; j < kernel; ++j) wt[j * (c1 - c0) + (c - c0)] = w[c * kernel + j];
    conv_channels(state, x, n_tokens, channels, c0, c1, wt.data(), kernel, y);
  });
  // The new state: the window's last kernel - 1 rows.
  std::vector<float> last(hist * channels);
  for (int64_t r = 0; r < hist; ++r) {
    const int64_t wr = n_tokens + r;
    const float* src = wr < hist ? state + wr * channels : x + (wr - hist) * channels;
    std::memcpy(last.data() + r * channels, src, channels * sizeof(float));
  }
  std::memcpy(state, last.data(), last.size() * sizeof(float));
}

namespace {
// delta_gates' loop, built per ISA like the other f32 loops (fast_sigmoid's
// fmas are instructions there).
NLM_CPU_CLONES void gates(const float* ba, int64_t n_tokens, const DeltaShape& s, const float* dt_bias,
                          const float* ssm_a, float* beta, float* g) {
  const int r = s.n_v_heads / s.n_k_heads;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* row = ba + t * 2 * s.n_v_heads;
    for (int kh = 0; kh < s.n_k_heads; ++kh) {
      for (int j = 0; j < r; ++j) {
        const int h = kh * r + j;
        const float b = row[kh * 2 * r + j];
        const float a = row[kh * 2 * r + r + j] + dt_bias[h];
        // softplus as ggml computes it: linear above 20 to avoid overflow.
        const float sp = a > 20.0f ? a : std::log1p(std::exp(a));
        beta[t * s.n_v_heads + h] = cpu::fast_sigmoid(b);
        g[t * s.n_v_heads + h] = sp * ssm_a[h];
      }
    }
  }
}
}  // namespace

void CpuBackend::delta_gates(const float* ba, int64_t n_tokens, const DeltaShape& s, const float* dt_bias,
                             const float* ssm_a, float* beta, float* g) {
  gates(ba, n_tokens, s, dt_bias, ssm_a, beta, g);
}

namespace {

// One v-head, token by token: S <- exp(g) S; S <- S + beta (v - S k) k^T; o = S q.
// Row i of each step needs only row i of S, so a row is decayed, updated and
// read out while it sits in L1: the state (64 KiB a head) is read and written
// once per token instead of four passes.
NLM_CPU_CLONES void delta_recurrent(const float* q, const float* k, const float* v, const float* g, const float* beta,
                                    int64_t n_tokens, int64_t qk_stride, int64_t v_stride, int64_t gb_stride, int d,
                                    float* S, float* out) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* qt = q + t * qk_stride;
    const float* kt = k + t * qk_stride;
    const float* vt = v + t * v_stride;
    const float decay = cpu::fast_exp(g[t * gb_stride]);
    const float b = beta[t * gb_stride];
    float* ot = out + t * v_stride;
    for (int i = 0; i < d; ++i) {
      float* Si = S + i * d;
      for (int j = 0; j < d; ++j) Si[j] *= decay;
      const float sk = (vt[i] - cpu::dot(Si, kt, d)) * b;
      for (int j = 0; j < d; ++j) Si[j] += sk * kt[j];
      ot[i] = cpu::dot(Si, qt, d);
    }
  }
}

// Small dense products of the chunked form, on the transposed state St
// (St[c][r] = S[r][c]), so that every inner loop runs along contiguous rows.
// Rows of 16 * V floats in V vectors.
using cpu::load16;
using cpu::store16;
using cpu::V16;

// X[i][:] = x0 * X0[i][:] + sum_{c < kdim} A[i][c] * B[c][:] for i < n (no
// X0 term when X0 is null; X0 may be X), with A's rows at stride lda and the
// rows of B, X0 and X 16 * V floats wide: the state applied to key or query
// rows, key-key and query-key products, weights times u rows, the new state.
template <int V>
inline void mat_times(const float* A, int64_t lda, int n, int kdim, const float* B, float* X, const float* X0 = nullptr,
                      float x0 = 0.0f) {
  // Blocks of 4 rows x 4 vectors (16 accumulators): each load of B serves 4
  // rows (it served 2 as 2 rows x V vectors). Every element still sums x0 X0
  // then c = 0, 1, ... in order, so the blocking changes no bit.
  constexpr int w = 16 * V, kR = 4, kV = V < 4 ? V : 4;
  static_assert(V % kV == 0);
  for (int j0 = 0; j0 < V; j0 += kV) {
    for (int i = 0; i < n; i += kR) {
      const int nr = std::min(kR, n - i);
      V16 a[kR][kV] = {};
      const float* r[kR];
      for (int k = 0; k < kR; ++k) r[k] = A + (i + std::min(k, nr - 1)) * lda;  // past n: repeats a valid row
      if (X0 != nullptr) {
        for (int k = 0; k < nr; ++k)
          for (int v = 0; v < kV; ++v) {
            load16(a[k][v], X0 + (i + k) * w + 16 * (j0 + v));
            a[k][v] *= x0;
          }
      }
      for (int c = 0; c < kdim; ++c) {
        V16 bv[kV];
        for (int v = 0; v < kV; ++v) load16(bv[v], B + c * w + 16 * (j0 + v));
        for (int k = 0; k < kR; ++k) {
          const float ak = r[k][c];
          for (int v = 0; v < kV; ++v) a[k][v] += ak * bv[v];
        }
      }
      for (int k = 0; k < nr; ++k)
        for (int v = 0; v < kV; ++v) store16(X + (i + k) * w + 16 * (j0 + v), a[k][v]);
    }
  }
}

// mat_times for any row width w: the vector form where w is 64 or 128 (the
// chunk width and Qwen3-Next's head size), else the same sums plainly.
inline void mat_mul(const float* A, int64_t lda, int n, int kdim, const float* B, int w, float* X,
                    const float* X0 = nullptr, float x0 = 0.0f) {
  if (w == 128) return mat_times<8>(A, lda, n, kdim, B, X, X0, x0);
  if (w == 64) return mat_times<4>(A, lda, n, kdim, B, X, X0, x0);
  for (int i = 0; i < n; ++i) {
    float* x = X + static_cast<int64_t>(i) * w;
    for (int r = 0; r < w; ++r) x[r] = X0 != nullptr ? x0 * X0[static_cast<int64_t>(i) * w + r] : 0.0f;
    for (int c = 0; c < kdim; ++c)
      for (int r = 0; r < w; ++r) x[r] += A[i * lda + c] * B[static_cast<int64_t>(c) * w + r];
  }
}

// The r v-heads of one k-head (v, g, beta, S and out of head j at + j d,
// + j, + j, + j d d and + j d), chunks of C tokens. With G_i the cumulative log decay inside the
// chunk and S0 the state before it, the recurrence unrolls to
//   u_i = beta_i (v_i - e^{G_i} S0 k_i - sum_{j<i} e^{G_i - G_j} (k_i . k_j) u_j)
//   o_i = e^{G_i} S0 q_i + sum_{j<=i} e^{G_i - G_j} (q_i . k_j) u_j
//   S   = e^{G_C} S0 + sum_j e^{G_C - G_j} u_j k_j^T
// a triangular solve per chunk instead of d x d updates per token; S0 k_i and
// S0 q_i for the whole chunk and the new S are small matrix products.
NLM_CPU_CLONES void delta_chunked(const float* q, const float* k, const float* v, const float* g, const float* beta,
                                  int64_t n_tokens, int64_t qk_stride, int64_t v_stride, int64_t gb_stride, int d,
                                  int r, float* S, float* out) {
  constexpr int C = 64;
  const size_t dd = static_cast<size_t>(d) * d;
  std::vector<float> G(C), E(C * C), u(C * d), sk(C * d), sq(C * d), kk(C * C), qk(C * C), cm(C * C), ou(C * d),
      coef(C), W(static_cast<size_t>(d) * C);
  std::vector<float> St(r * dd), kt(static_cast<size_t>(d) * C);
  for (int h = 0; h < r; ++h)
    for (int i = 0; i < d; ++i)
      for (int c = 0; c < d; ++c) St[h * dd + c * d + i] = S[h * dd + i * d + c];
  for (int64_t c0 = 0; c0 < n_tokens; c0 += C) {
    const int n = static_cast<int>(std::min<int64_t>(C, n_tokens - c0));
    const float* K = k + c0 * qk_stride;
    const float* Q = q + c0 * qk_stride;
    // k_i . k_j and q_i . k_j against the transposed keys: the same for the r v-heads.
    std::fill(kt.begin(), kt.end(), 0.0f);
    for (int j = 0; j < n; ++j)
      for (int c = 0; c < d; ++c) kt[c * C + j] = K[j * qk_stride + c];
    mat_mul(K, qk_stride, n, d, kt.data(), C, kk.data());
    mat_mul(Q, qk_stride, n, d, kt.data(), C, qk.data());
    for (int h = 0; h < r; ++h) {
      float* Sh = St.data() + h * dd;
      const float* gh = g + h;
      const float* bh = beta + h;
      float acc = 0.0f;
      for (int i = 0; i < n; ++i) G[i] = (acc += gh[(c0 + i) * gb_stride]);
      // e^{G_i - G_j} for j <= i, once for both the solve and the output.
      for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) E[i * C + j] = cpu::fast_exp(G[i] - G[j]);
      // S0 k_i and S0 q_i.
      mat_mul(K, qk_stride, n, d, Sh, d, sk.data());
      mat_mul(Q, qk_stride, n, d, Sh, d, sq.data());
      for (int i = 0; i < n; ++i) {
        const float b = bh[(c0 + i) * gb_stride];
        const float eg = cpu::fast_exp(G[i]);
        const float* vi = v + h * d + (c0 + i) * v_stride;
        const float* ski = &sk[i * d];
        float* ui = &u[i * d];
        for (int x = 0; x < d; ++x) ui[x] = vi[x] - eg * ski[x];
        for (int j = 0; j < i; ++j) {
          const float c = E[i * C + j] * kk[i * C + j];
          const float* uj = &u[j * d];
          for (int x = 0; x < d; ++x) ui[x] -= c * uj[x];
        }
        for (int x = 0; x < d; ++x) ui[x] *= b;
      }
      // o_i = e^{G_i} S0 q_i + sum_{j<=i} cm[i][j] u_j, cm lower-triangular.
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) cm[i * C + j] = j <= i ? E[i * C + j] * qk[i * C + j] : 0.0f;
      }
      mat_mul(cm.data(), C, n, n, u.data(), d, ou.data());
      for (int i = 0; i < n; ++i) {
        float* oi = out + h * d + (c0 + i) * v_stride;
        const float eg = cpu::fast_exp(G[i]);
        for (int x = 0; x < d; ++x) oi[x] = eg * sq[i * d + x] + ou[i * d + x];
      }
      // St = e^{G_n} St + W^T U with W[j][c] = e^{G_n - G_j} k_j[c].
      for (int j = 0; j < n; ++j) coef[j] = cpu::fast_exp(G[n - 1] - G[j]);
      for (int c = 0; c < d; ++c)
        for (int j = 0; j < n; ++j) W[c * C + j] = coef[j] * K[j * qk_stride + c];
      mat_mul(W.data(), C, d, n, u.data(), d, Sh, Sh, cpu::fast_exp(G[n - 1]));
    }
  }
  for (int h = 0; h < r; ++h)
    for (int i = 0; i < d; ++i)
      for (int c = 0; c < d; ++c) S[h * dd + i * d + c] = St[h * dd + c * d + i];
}

}  // namespace

void CpuBackend::gated_delta_rule(const float* q, const float* k, const float* v, const float* g, const float* beta,
                                  int64_t n_tokens, const DeltaShape& s, float* state, float* out, bool chunked) {
  const int d = s.head_dim;
  const int r = s.n_v_heads / s.n_k_heads;
  if (chunked) {
    // By k-head: its r v-heads share the chunks' key products.
    pool_.parallel_for(s.n_k_heads, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t kh = k0; kh < k1; ++kh) {
        const int64_t h = kh * r;
        delta_chunked(q + kh * d, k + kh * d, v + h * d, g + h, beta + h, n_tokens, int64_t{s.n_k_heads} * d,
                      int64_t{s.n_v_heads} * d, s.n_v_heads, d, r, state + h * d * d, out + h * d);
      }
    });
    return;
  }
  pool_.parallel_for(s.n_v_heads, 1, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t kh = h / r;  // v-head h reads k-head floor(h * n_k / n_v)
      delta_recurrent(q + kh * d, k + kh * d, v + h * d, g + h, beta + h, n_tokens, int64_t{s.n_k_heads} * d,
                      int64_t{s.n_v_heads} * d, s.n_v_heads, d, state + h * d * d, out + h * d);
    }
  });
}

}  // namespace nextlm::runtime
