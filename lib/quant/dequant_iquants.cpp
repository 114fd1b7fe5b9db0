// Dequantizers of the i-quants (grid-indexed 256-element super-blocks, and the
// non-linear 4-bit iq4_nl/iq4_xs). The math is in block_decode.h.
#include "quant/block_decode.h"
#include "quant/dequant_impl.h"

namespace nextlm::quant::detail {

void dequant_iq2_xxs(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ2_XXS), QK_K, decode_iq2_xxs>(src, y, nb);
}
void dequant_iq2_xs(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ2_XS), QK_K, decode_iq2_xs>(src, y, nb);
}
void dequant_iq2_s(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ2_S), QK_K, decode_iq2_s>(src, y, nb);
}
void dequant_iq3_xxs(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ3_XXS), QK_K, decode_iq3_xxs>(src, y, nb);
}
void dequant_iq3_s(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ3_S), QK_K, decode_iq3_s>(src, y, nb);
}
void dequant_iq1_s(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ1_S), QK_K, decode_iq1_s>(src, y, nb);
}
void dequant_iq1_m(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ1_M), QK_K, decode_iq1_m>(src, y, nb);
}
void dequant_iq4_nl(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ4_NL), QK4_NL, decode_iq4_nl>(src, y, nb);
}
void dequant_iq4_xs(const uint8_t* src, float* y, int64_t nb) {
  decode_blocks<sizeof(BlockIQ4_XS), QK_K, decode_iq4_xs>(src, y, nb);
}

}  // namespace nextlm::quant::detail
