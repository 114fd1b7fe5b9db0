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
#include "quant/tables.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
// GCC and clang spell "compile what follows for these features" differently.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#endif
// GCC 12's AVX-512 intrinsics fill "don't care" operands with a
// self-initialised _mm512_undefined_*(), which its own -Wuninitialized flags
// once inlined here; nothing of ours is uninitialised.
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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
