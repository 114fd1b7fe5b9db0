// Portable integer dot kernels (see dot.h, dot_kernels.inc).
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

#define NLM_DOT_NS scalar
#define NLM_DOT_CORE 0
#define NLM_DOT_ENTRY dot_kernels_scalar
#include "quant/dot_kernels.inc"
