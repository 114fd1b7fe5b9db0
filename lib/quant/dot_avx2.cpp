// AVX2 integer dot kernels (see dot.h, dot_kernels.inc): compiled for
// AVX2/FMA by target pragma, only called where cpu_features() reports AVX2.
#include <cmath>
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
// GCC and clang spell "compile what follows for these features" differently.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#define NLM_DOT_NS avx2
#define NLM_DOT_CORE 1
#define NLM_DOT_ENTRY dot_kernels_avx2
#include "quant/dot_kernels.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
namespace nextlm::quant::detail {
DotKernels dot_kernels_avx2(Type) { return {}; }
}
#endif
