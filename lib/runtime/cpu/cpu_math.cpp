// The activation loops of cpu_math.h, one clone per ISA (NLM_CPU_CLONES).
#include "runtime/cpu/cpu_math.h"

#include "runtime/cpu/cpu_backend.h"

namespace nextlm::runtime::cpu {

NLM_CPU_CLONES void silu_mul(const float* g, const float* u, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fast_silu(g[i]) * u[i];
}

NLM_CPU_CLONES void mul_silu(const float* z, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] *= fast_silu(z[i]);
}

NLM_CPU_CLONES void mul_sigmoid(const float* x, const float* gate, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * fast_sigmoid(gate[i]);
}

NLM_CPU_CLONES void silu_inplace(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fast_silu(y[i]);
}

}  // namespace nextlm::runtime::cpu
