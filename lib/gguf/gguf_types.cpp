#include "gguf/gguf_types.h"

#include <fmt/format.h>

#include <limits>

#include "nextlm/error.h"

namespace nextlm::gguf {

namespace {

[[noreturn]] void mismatch(const char* wanted, ValueType got) {
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("metadata value is {}, expected {}", value_type_name(got), wanted));
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Reads element i of a packed numeric array, widened.
int64_t raw_int(ValueType t, const uint8_t* base, uint64_t i) {
  const uint8_t* p = base + i * scalar_size(t);
  switch (t) {
    case ValueType::U8: return load<uint8_t>(p);
    case ValueType::I8: return load<int8_t>(p);
    case ValueType::U16: return load<uint16_t>(p);
    case ValueType::I16: return load<int16_t>(p);
    case ValueType::U32: return load<uint32_t>(p);
    case ValueType::I32: return load<int32_t>(p);
    case ValueType::BOOL: return load<uint8_t>(p) != 0;
    case ValueType::I64: return load<int64_t>(p);
    case ValueType::U64: {
      uint64_t v = load<uint64_t>(p);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw Error(ErrorCode::kInvalidArgument, "u64 array element does not fit in int64");
      }
      return static_cast<int64_t>(v);
    }
    default: mismatch("an integer array", t);
  }
}

}  // namespace

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8: return "u8";
    case ValueType::I8: return "i8";
    case ValueType::U16: return "u16";
    case ValueType::I16: return "i16";
    case ValueType::U32: return "u32";
    case ValueType::I32: return "i32";
    case ValueType::F32: return "f32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::U64: return "u64";
    case ValueType::I64: return "i64";
    case ValueType::F64: return "f64";
  }
  return "unknown";
}

bool is_known_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::F64); }

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::BOOL: return 1;
    case ValueType::U16:
    case ValueType::I16: return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32: return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64: return 8;
    case ValueType::STRING:
    case ValueType::ARRAY: return 0;
  }
  return 0;
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::U16:
    case ValueType::I16:
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::U64:
    case ValueType::I64: return true;
    default: return false;
  }
}

int64_t Value::as_int() const {
  if (!is_integer()) mismatch("an integer", type_);
  if (type_ == ValueType::U64 && scalar_.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw Error(ErrorCode::kInvalidArgument, "u64 value does not fit in int64");
  }
  return scalar_.i;
}

uint64_t Value::as_uint() const {
  if (!is_integer()) mismatch("an integer", type_);
  if (type_ != ValueType::U64 && scalar_.i < 0) {
    throw Error(ErrorCode::kInvalidArgument, "negative value where an unsigned one is expected");
  }
  return scalar_.u;
}

double Value::as_float() const {
  if (is_float()) return scalar_.f;
  if (type_ == ValueType::U64) return static_cast<double>(scalar_.u);
  if (is_integer()) return static_cast<double>(scalar_.i);
  mismatch("a number", type_);
}

bool Value::as_bool() const {
  if (type_ != ValueType::BOOL) mismatch("a bool", type_);
  return scalar_.u != 0;
}

std::string_view Value::as_string() const {
  if (type_ != ValueType::STRING) mismatch("a string", type_);
  return str_;
}

int64_t Value::int_at(uint64_t i) const {
  if (!is_array()) mismatch("an array", type_);
  if (i >= count_) throw Error(ErrorCode::kInvalidArgument, "array index out of range");
  return raw_int(elem_type_, raw_, i);
}

double Value::float_at(uint64_t i) const {
  if (!is_array()) mismatch("an array", type_);
  if (i >= count_) throw Error(ErrorCode::kInvalidArgument, "array index out of range");
  if (elem_type_ == ValueType::F32) return load<float>(raw_ + 4 * i);
  if (elem_type_ == ValueType::F64) return load<double>(raw_ + 8 * i);
  return static_cast<double>(raw_int(elem_type_, raw_, i));
}

std::string_view Value::string_at(uint64_t i) const {
  if (!is_array() || elem_type_ != ValueType::STRING) mismatch("an array of strings", type_);
  if (i >= count_) throw Error(ErrorCode::kInvalidArgument, "array index out of range");
  return strings_[i];
}

const Value& Value::array_at(uint64_t i) const {
  if (!is_array() || elem_type_ != ValueType::ARRAY) mismatch("an array of arrays", type_);
  if (i >= count_) throw Error(ErrorCode::kInvalidArgument, "array index out of range");
  return items_[i];
}

namespace {

std::string quote(std::string_view s, size_t max_chars = 60) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_chars; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') out += "\\n";
    else if (c == '"' || c == '\\') (out += '\\') += static_cast<char>(c);
    else if (c < 0x20) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (s.size() > max_chars) out += fmt::format("...\" ({} bytes)", s.size());
  else out += '"';
  return out;
}

}  // namespace

std::string Value::to_display(size_t max_items) const {
  switch (type_) {
    case ValueType::STRING: return quote(str_);
    case ValueType::BOOL: return scalar_.u ? "true" : "false";
    case ValueType::F32:
    case ValueType::F64: return fmt::format("{}", scalar_.f);
    case ValueType::U64: return fmt::format("{}", scalar_.u);
    case ValueType::ARRAY: {
      std::string out = fmt::format("[{} x {}]", count_, value_type_name(elem_type_));
      if (count_ == 0) return out;
      out += " [";
      for (uint64_t i = 0; i < count_ && i < max_items; ++i) {
        if (i) out += ", ";
        if (elem_type_ == ValueType::STRING) out += quote(strings_[i], 24);
        else if (elem_type_ == ValueType::ARRAY) out += items_[i].to_display(2);
        else if (elem_type_ == ValueType::F32 || elem_type_ == ValueType::F64) out += fmt::format("{}", float_at(i));
        else if (elem_type_ == ValueType::U64) out += fmt::format("{}", load<uint64_t>(raw_ + 8 * i));
        else out += fmt::format("{}", int_at(i));
      }
      if (count_ > max_items) out += ", ...";
      return out + "]";
    }
    default: return fmt::format("{}", scalar_.i);
  }
}

}  // namespace nextlm::gguf
