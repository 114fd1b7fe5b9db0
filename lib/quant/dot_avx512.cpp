// AVX-512 (VNNI) integer dot kernels (see dot.h, dot_kernels.inc): compiled
// by target pragma, only called where cpu_features() reports AVX-512 VNNI
// with the ZMM state enabled by the OS. Never AMX.
#include <cmath>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "quant/block_decode.h"
#include "quant/blocks.h"
#include "quant/dot.h"
#include "quant/fp16.h"
#include "quant/hd.h"
#include "quant/prefetch.h"
#include "quant/tables.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NLM_ISA_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#include "quant/isa_target_push.inc"
#define NLM_DOT_NS avx512
#define NLM_DOT_CORE 2
#define NLM_DOT_ENTRY dot_kernels_avx512
#include "quant/dot_kernels.inc"
#include "quant/isa_target_pop.inc"
#else
namespace nextlm::quant::detail {
DotKernels dot_kernels_avx512(Type) { return {}; }
}
#endif
