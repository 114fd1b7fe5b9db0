// Dequantizers of the 32-element block formats: q4_0, q4_1, q5_0, q5_1, q8_0
// and mxfp4 (iq4_nl is with the i-quants). The math is in block_decode.h.
#include "quant/block_decode.h"
#include "quant/dequant_impl.h"

namespace nextlm::quant::detail {

void dequant_q4_0(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ4_0), QK4_0, decode_q4_0>(src, y, nb);
}
void dequant_q4_1(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ4_1), QK4_1, decode_q4_1>(src, y, nb);
}
void dequant_q5_0(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ5_0), QK5_0, decode_q5_0>(src, y, nb);
}
void dequant_q5_1(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ5_1), QK5_1, decode_q5_1>(src, y, nb);
}
void dequant_q8_0(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ8_0), QK8_0, decode_q8_0>(src, y, nb);
}
void dequant_mxfp4(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockMXFP4), QK_MXFP4, decode_mxfp4>(src, y, nb);
}

}  // namespace nextlm::quant::detail
