// Dequantizers of the k-quants (256-element super-blocks) and of the ternary
// formats. The math is in block_decode.h.
#include "quant/block_decode.h"
#include "quant/dequant_impl.h"

namespace nextlm::quant::detail {

void dequant_q2_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ2_K), QK_K, decode_q2_k>(src, y, nb);
}
void dequant_q3_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ3_K), QK_K, decode_q3_k>(src, y, nb);
}
void dequant_q4_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ4_K), QK_K, decode_q4_k>(src, y, nb);
}
void dequant_q5_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ5_K), QK_K, decode_q5_k>(src, y, nb);
}
void dequant_q6_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ6_K), QK_K, decode_q6_k>(src, y, nb);
}
void dequant_q8_k(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockQ8_K), QK_K, decode_q8_k>(src, y, nb);
}
void dequant_tq1_0(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockTQ1_0), QK_K, decode_tq1_0>(src, y, nb);
}
void dequant_tq2_0(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockTQ2_0), QK_K, decode_tq2_0>(src, y, nb);
}

}  // namespace nextlm::quant::detail
