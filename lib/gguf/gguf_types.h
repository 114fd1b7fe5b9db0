// GGUF metadata values. Strings and numeric arrays are views into the file's
// bytes (zero-copy), so a Value lives no longer than the GgufFile holding it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::gguf {

enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

const char* value_type_name(ValueType t);
bool is_known_value_type(uint32_t raw);
// Size of a fixed-size scalar type; 0 for STRING and ARRAY.
size_t scalar_size(ValueType t);

class Value {
 public:
  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::ARRAY; }
  bool is_string() const { return type_ == ValueType::STRING; }
  bool is_integer() const;
  bool is_float() const { return type_ == ValueType::F32 || type_ == ValueType::F64; }

  // Scalars. Each throws nextlm::Error(kInvalidArgument) on a type mismatch;
  // integers convert between widths only when the value fits.
  int64_t as_int() const;
  uint64_t as_uint() const;
  double as_float() const;  // any numeric type
  bool as_bool() const;
  std::string_view as_string() const;

  // Arrays.
  ValueType elem_type() const { return elem_type_; }
  uint64_t size() const { return count_; }
  int64_t int_at(uint64_t i) const;
  double float_at(uint64_t i) const;
  std::string_view string_at(uint64_t i) const;
  const Value& array_at(uint64_t i) const;
  const std::vector<std::string_view>& strings() const { return strings_; }
  // Packed little-endian elements of a numeric array (size() * scalar_size(elem_type())).
  const uint8_t* raw_data() const { return raw_; }
  uint64_t raw_scalar() const { return scalar_.u; }

  // One-line rendering for `nextlm info` (long arrays are abbreviated).
  std::string to_display(size_t max_items = 8) const;

 private:
  friend class Parser;

  ValueType type_ = ValueType::U8;
  ValueType elem_type_ = ValueType::U8;
  union {
    uint64_t u;
    int64_t i;
    double f;
  } scalar_{};
  std::string_view str_;
  uint64_t count_ = 0;
  const uint8_t* raw_ = nullptr;            // numeric array elements, packed little-endian
  std::vector<std::string_view> strings_;   // array of strings
  std::vector<Value> items_;                // array of arrays
};

}  // namespace nextlm::gguf
