// The table of GGML element types: ggml's names and block geometry (as in its
// type traits), and whether dequantize_row() handles the type.
#include "quant/types.h"

#include <array>
#include <string>

#include "nextlm/error.h"

#include "quant/blocks.h"

namespace nextlm::quant {
namespace {

constexpr std::array kTypes = {
    TypeInfo{Type::F32, "f32", 1, 4, true},
    TypeInfo{Type::F16, "f16", 1, 2, true},
    TypeInfo{Type::Q4_0, "q4_0", QK4_0, sizeof(BlockQ4_0), true},
    TypeInfo{Type::Q4_1, "q4_1", QK4_1, sizeof(BlockQ4_1), true},
    TypeInfo{Type::Q5_0, "q5_0", QK5_0, sizeof(BlockQ5_0), true},
    TypeInfo{Type::Q5_1, "q5_1", QK5_1, sizeof(BlockQ5_1), true},
    TypeInfo{Type::Q8_0, "q8_0", QK8_0, sizeof(BlockQ8_0), true},
    // ggml has no dequantizer for q8_1 (it only exists as a dot-product operand).
    TypeInfo{Type::Q8_1, "q8_1", QK8_0, sizeof(BlockQ8_1), false},
    TypeInfo{Type::Q2_K, "q2_K", QK_K, sizeof(BlockQ2_K), true},
    TypeInfo{Type::Q3_K, "q3_K", QK_K, sizeof(BlockQ3_K), true},
    TypeInfo{Type::Q4_K, "q4_K", QK_K, sizeof(BlockQ4_K), true},
    TypeInfo{Type::Q5_K, "q5_K", QK_K, sizeof(BlockQ5_K), true},
    TypeInfo{Type::Q6_K, "q6_K", QK_K, sizeof(BlockQ6_K), true},
    TypeInfo{Type::Q8_K, "q8_K", QK_K, sizeof(BlockQ8_K), true},
    TypeInfo{Type::IQ2_XXS, "iq2_xxs", QK_K, sizeof(BlockIQ2_XXS), true},
    TypeInfo{Type::IQ2_XS, "iq2_xs", QK_K, sizeof(BlockIQ2_XS), true},
    TypeInfo{Type::IQ3_XXS, "iq3_xxs", QK_K, sizeof(BlockIQ3_XXS), true},
    TypeInfo{Type::IQ1_S, "iq1_s", QK_K, sizeof(BlockIQ1_S), true},
    TypeInfo{Type::IQ4_NL, "iq4_nl", QK4_NL, sizeof(BlockIQ4_NL), true},
    TypeInfo{Type::IQ3_S, "iq3_s", QK_K, sizeof(BlockIQ3_S), true},
    TypeInfo{Type::IQ2_S, "iq2_s", QK_K, sizeof(BlockIQ2_S), true},
    TypeInfo{Type::IQ4_XS, "iq4_xs", QK_K, sizeof(BlockIQ4_XS), true},
    TypeInfo{Type::I8, "i8", 1, 1, true},
    TypeInfo{Type::I16, "i16", 1, 2, true},
    TypeInfo{Type::I32, "i32", 1, 4, true},
    TypeInfo{Type::I64, "i64", 1, 8, true},
    TypeInfo{Type::F64, "f64", 1, 8, true},
    TypeInfo{Type::IQ1_M, "iq1_m", QK_K, sizeof(BlockIQ1_M), true},
    TypeInfo{Type::BF16, "bf16", 1, 2, true},
    TypeInfo{Type::TQ1_0, "tq1_0", QK_K, sizeof(BlockTQ1_0), true},
    TypeInfo{Type::TQ2_0, "tq2_0", QK_K, sizeof(BlockTQ2_0), true},
    TypeInfo{Type::MXFP4, "mxfp4", QK_MXFP4, sizeof(BlockMXFP4), true},
};

// Direct lookup by id; ids 4, 5, 31..33 and 36..38 are retired in ggml.
constexpr uint32_t kMaxId = 39;
constexpr std::array<int8_t, kMaxId + 1> make_index() {
  std::array<int8_t, kMaxId + 1> idx{};
  for (auto& v : idx) v = -1;
  for (size_t i = 0; i < kTypes.size(); ++i) idx[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int8_t>(i);
  return idx;
}
constexpr auto kIndex = make_index();

constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace

const TypeInfo* type_info(uint32_t id) {
  if (id > kMaxId || kIndex[id] < 0) return nullptr;
  return &kTypes[static_cast<size_t>(kIndex[id])];
}

const TypeInfo& type_info(Type t) {
  const TypeInfo* ti = type_info(static_cast<uint32_t>(t));
  if (ti == nullptr)  // only reachable through a cast of an unknown id
    throw Error(ErrorCode::kInvalidArgument, "unknown ggml type id " + std::to_string(static_cast<uint32_t>(t)));
  return *ti;
}

std::optional<Type> type_from_name(std::string_view name) {
  for (const TypeInfo& ti : kTypes)
    if (iequals(name, ti.name)) return ti.type;
  return std::nullopt;
}

}  // namespace nextlm::quant
