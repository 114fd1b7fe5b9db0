// The CPU's block decoders (lib/quant/block_decode.h) for device code, with
// device copies of their lookup tables made from the same generated data as
// the host arrays (quant/tables.cpp). `const` gives the tables internal
// linkage, so each .cu file that includes this has its own copy and no
// separable compilation is needed. Results must match the CPU bit for bit,
// hence the refusal of fast-math flags.
#pragma once

#if defined(__CUDA_ARCH__) && (defined(__USE_FAST_MATH__) || (defined(__CUDA_FTZ) && __CUDA_FTZ))
#error "the block decoders must be built without --use_fast_math / -ftz=true (results must match the CPU)"
#endif

#include "quant/tables.h"
namespace nextlm::quant::dev {
#define NLM_QUANT_TABLE(T, name, n, ...) __device__ const T name[n] = __VA_ARGS__;
#include "quant/tables_data.inc"
#undef NLM_QUANT_TABLE
}  // namespace nextlm::quant::dev

// Defined after the tables: its NLM_QTAB() names them in device code.
#include "quant/block_decode.h"
