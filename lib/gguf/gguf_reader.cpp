#include "gguf/gguf_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "nextlm/error.h"

namespace nextlm::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
constexpr uint64_t kMaxTensorNameBytes = 256;
constexpr int kMaxArrayDepth = 8;
// Smallest possible encodings, used to bound counts by the bytes left.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;          // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, 1 dim, type, offset

}  // namespace

// Bounds-checked cursor over the file's bytes; every read either succeeds
// inside the buffer or throws with the offset.
class Parser {
 public:
  Parser(GgufFile& f) : f_(f), p_(f.bytes_), size_(f.size_) {}

  void run() {
    parse_header();
    parse_metadata();
    parse_alignment();
    parse_tensor_infos();
    place_tensor_data();
    build_indexes();
  }

 private:
  [[noreturn]] void fail(uint64_t at, const std::string& what) const {
    throw Error(ErrorCode::kCorruptFile, fmt::format("{}: at byte {}: {}", f_.name_, at, what));
  }

  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail(pos_, fmt::format("truncated: {} needs {} bytes, {} left", what, n, remaining()));
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string_view read_string(const char* what, uint64_t max_bytes = kMaxStringBytes) {
    uint64_t at = pos_;
    uint64_t n = read<uint64_t>(what);
    if (n > max_bytes) fail(at, fmt::format("{}: length {} exceeds the limit of {}", what, n, max_bytes));
    if (n > remaining()) fail(at, fmt::format("{}: length {} runs past the end of the file", what, n));
    std::string_view s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }

  // A count of items each at least `min_item` bytes long cannot exceed what
  // the rest of the file can hold; this stops huge allocations early.
  void check_count(uint64_t at, uint64_t count, uint64_t min_item, const char* what) const {
    if (count > remaining() / min_item) {
      fail(at, fmt::format("{} {} cannot fit in the {} bytes left", what, count, remaining()));
    }
  }

  void parse_header() {
    uint32_t magic = read<uint32_t>("magic");
    if (magic != kMagic) fail(0, fmt::format("not a GGUF file (magic 0x{:08x})", magic));
    f_.version_ = read<uint32_t>("version");
    if (f_.version_ == 1) fail(4, "GGUF version 1 is not supported (only 2 and 3)");
    if (f_.version_ != 2 && f_.version_ != 3) {
      bool swapped = f_.version_ == 0x02000000 || f_.version_ == 0x03000000;
      fail(4, fmt::format("unsupported GGUF version {}{}", f_.version_,
                          swapped ? " (a big-endian file; only little-endian is supported)" : ""));
    }
    n_tensors_at_ = pos_;
    n_tensors_ = read<uint64_t>("tensor count");
    n_kv_at_ = pos_;
    n_kv_ = read<uint64_t>("metadata count");
  }

  void parse_value(Value& v, ValueType t, int depth) {
    v.type_ = t;
    uint64_t at = pos_;
    switch (t) {
      case ValueType::STRING: v.str_ = read_string("string value"); return;
      case ValueType::BOOL: {
        uint8_t b = read<uint8_t>("bool value");
        if (b > 1) fail(at, fmt::format("bool value {} is neither 0 nor 1", b));
        v.scalar_.u = b;
        return;
      }
      case ValueType::U8: v.scalar_.u = read<uint8_t>("u8 value"); return;
      case ValueType::I8: v.scalar_.i = read<int8_t>("i8 value"); return;
      case ValueType::U16: v.scalar_.u = read<uint16_t>("u16 value"); return;
      case ValueType::I16: v.scalar_.i = read<int16_t>("i16 value"); return;
      case ValueType::U32: v.scalar_.u = read<uint32_t>("u32 value"); return;
      case ValueType::I32: v.scalar_.i = read<int32_t>("i32 value"); return;
      case ValueType::U64: v.scalar_.u = read<uint64_t>("u64 value"); return;
      case ValueType::I64: v.scalar_.i = read<int64_t>("i64 value"); return;
      case ValueType::F32: v.scalar_.f = read<float>("f32 value"); return;
      case ValueType::F64: v.scalar_.f = read<double>("f64 value"); return;
      case ValueType::ARRAY: parse_array(v, depth); return;
    }
    fail(at, "unknown value type");
  }

  void parse_array(Value& v, int depth) {
    if (depth >= kMaxArrayDepth) fail(pos_, fmt::format("arrays nested deeper than {}", kMaxArrayDepth));
    uint64_t at = pos_;
    uint32_t raw = read<uint32_t>("array element type");
    if (!is_known_value_type(raw)) fail(at, fmt::format("unknown array element type {}", raw));
    v.elem_type_ = static_cast<ValueType>(raw);
    at = pos_;
    v.count_ = read<uint64_t>("array length");
    switch (v.elem_type_) {
      case ValueType::STRING:
        check_count(at, v.count_, 8, "array length");
        v.strings_.reserve(v.count_);
        for (uint64_t i = 0; i < v.count_; ++i) v.strings_.push_back(read_string("array string"));
        return;
      case ValueType::ARRAY:
        check_count(at, v.count_, 12, "array length");
        v.items_.resize(v.count_);
        for (uint64_t i = 0; i < v.count_; ++i) parse_value(v.items_[i], ValueType::ARRAY, depth + 1);
        return;
      default: {
        uint64_t elem = scalar_size(v.elem_type_);
        check_count(at, v.count_, elem, "array length");
        v.raw_ = p_ + pos_;
        pos_ += v.count_ * elem;
        if (v.elem_type_ == ValueType::BOOL) {
          for (uint64_t i = 0; i < v.count_; ++i) {
            if (v.raw_[i] > 1) fail(at + 8 + i, "bool array element is neither 0 nor 1");
          }
        }
      }
    }
  }

  void parse_metadata() {
    check_count(n_kv_at_, n_kv_, kMinKvBytes, "metadata count");
    f_.metadata_.reserve(n_kv_);
    std::unordered_map<std::string_view, uint64_t> seen;
    for (uint64_t i = 0; i < n_kv_; ++i) {
      uint64_t at = pos_;
      std::string_view key = read_string("metadata key", uint64_t{1} << 16);
      if (key.empty()) fail(at, "empty metadata key");
      if (!seen.emplace(key, at).second) fail(at, fmt::format("duplicate metadata key '{}'", key));
      uint64_t type_at = pos_;
      uint32_t raw = read<uint32_t>("metadata value type");
      if (!is_known_value_type(raw)) fail(type_at, fmt::format("key '{}': unknown value type {}", key, raw));
      MetadataEntry e;
      e.key = std::string(key);
      value_at_.push_back(pos_);
      parse_value(e.value, static_cast<ValueType>(raw), 0);
      f_.metadata_.push_back(std::move(e));
    }
  }

  void parse_alignment() {
    for (size_t i = 0; i < f_.metadata_.size(); ++i) {
      const MetadataEntry& e = f_.metadata_[i];
      if (e.key != "general.alignment") continue;
      if (e.value.type() != ValueType::U32) {
        fail(value_at_[i] - 4, fmt::format("general.alignment has type {}, expected u32", value_type_name(e.value.type())));
      }
      uint64_t a = e.value.raw_scalar();
      if (a == 0 || (a & (a - 1)) != 0) fail(value_at_[i], fmt::format("general.alignment {} is not a power of two", a));
      f_.alignment_ = static_cast<uint32_t>(a);
    }
  }

  void parse_tensor_infos() {
    check_count(n_tensors_at_, n_tensors_, kMinTensorInfoBytes, "tensor count");
    f_.tensors_.reserve(n_tensors_);
    std::unordered_map<std::string_view, uint64_t> seen;
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      uint64_t at = pos_;
      TensorInfo t;
      std::string_view name = read_string("tensor name", kMaxTensorNameBytes);
      if (name.empty()) fail(at, "empty tensor name");
      if (!seen.emplace(name, at).second) fail(at, fmt::format("duplicate tensor name '{}'", name));
      t.name = std::string(name);
      uint64_t dims_at = pos_;
      uint32_t n_dims = read<uint32_t>("tensor n_dims");
      if (n_dims == 0 || n_dims > static_cast<uint32_t>(kMaxDims)) {
        fail(dims_at, fmt::format("tensor '{}': n_dims {} not in 1..{}", name, n_dims, kMaxDims));
      }
      t.n_dims = static_cast<int>(n_dims);
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim_at = pos_;
        uint64_t ne = read<uint64_t>("tensor dimension");
        if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail(dim_at, fmt::format("tensor '{}': dimension {} is {}", name, d, ne));
        }
        t.ne[d] = static_cast<int64_t>(ne);
        if (__builtin_mul_overflow(n_elements, t.ne[d], &n_elements)) {
          fail(dim_at, fmt::format("tensor '{}': element count overflows", name));
        }
      }
      uint64_t type_at = pos_;
      uint32_t raw_type = read<uint32_t>("tensor type");
      const quant::TypeInfo* ti = quant::type_info(raw_type);
      if (!ti) fail(type_at, fmt::format("tensor '{}': unknown type {}", name, raw_type));
      t.type = ti->type;
      if (t.ne[0] % ti->block_size != 0) {
        fail(dims_at, fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}",
                                  name, t.ne[0], ti->name, ti->block_size));
      }
      // n_bytes = blocks * block_bytes, checked for overflow.
      uint64_t blocks = static_cast<uint64_t>(n_elements / ti->block_size);
      if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(ti->block_bytes), &t.n_bytes)) {
        fail(dims_at, fmt::format("tensor '{}': byte size overflows", name));
      }
      t.offset = read<uint64_t>("tensor data offset");
      f_.tensors_.push_back(std::move(t));
      offsets_at_.push_back(pos_ - 8);
    }
  }

  void place_tensor_data() {
    uint64_t a = f_.alignment_;
    uint64_t data = pos_;
    if (data % a) data += a - data % a;
    // An empty data section may end at the last tensor info, without padding.
    if (data > size_ && !f_.tensors_.empty()) fail(pos_, "truncated: data section starts past the end of the file");
    f_.data_offset_ = std::min<uint64_t>(data, size_);
    uint64_t data_bytes = size_ - f_.data_offset_;
    std::vector<size_t> order(f_.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    for (size_t i = 0; i < f_.tensors_.size(); ++i) {
      TensorInfo& t = f_.tensors_[i];
      if (t.offset % a) {
        fail(offsets_at_[i], fmt::format("tensor '{}': data offset {} is not a multiple of the alignment {}",
                                         t.name, t.offset, a));
      }
      if (t.offset > data_bytes || t.n_bytes > data_bytes - t.offset) {
        fail(offsets_at_[i], fmt::format("tensor '{}': data [{}, +{}) runs past the end of the file "
                                         "(data section holds {} bytes)", t.name, t.offset, t.n_bytes, data_bytes));
      }
      t.data = f_.bytes_ + f_.data_offset_ + t.offset;
    }
    std::sort(order.begin(), order.end(),
              [&](size_t x, size_t y) { return f_.tensors_[x].offset < f_.tensors_[y].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const TensorInfo& prev = f_.tensors_[order[k - 1]];
      const TensorInfo& cur = f_.tensors_[order[k]];
      if (prev.offset + prev.n_bytes > cur.offset) {
        fail(offsets_at_[order[k]], fmt::format("tensor '{}' overlaps tensor '{}'", cur.name, prev.name));
      }
    }
  }

  void build_indexes() {
    for (size_t i = 0; i < f_.metadata_.size(); ++i) f_.metadata_index_.emplace(f_.metadata_[i].key, i);
    for (size_t i = 0; i < f_.tensors_.size(); ++i) f_.tensor_index_.emplace(f_.tensors_[i].name, i);
  }

  GgufFile& f_;
  const uint8_t* p_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0, n_tensors_at_ = 0;
  uint64_t n_kv_ = 0, n_kv_at_ = 0;
  std::vector<uint64_t> offsets_at_;  // where each tensor's offset field is
  std::vector<uint64_t> value_at_;    // where each metadata value starts
};

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return s + "]";
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path, OpenOptions opts) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path;
  f->file_ = util::MappedFile::open(path, opts.use_mmap);
  f->bytes_ = f->file_.data();
  f->size_ = f->file_.size();
  Parser(*f).run();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(std::string name, const uint8_t* data, size_t size) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = std::move(name);
  f->bytes_ = data;
  f->size_ = size;
  Parser(*f).run();
  return f;
}

const Value* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

const Value& GgufFile::get(std::string_view key) const {
  const Value* v = find(key);
  if (!v) throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: missing metadata key '{}'", name_, key));
  return *v;
}

namespace {
// Adds the file and key to a type-mismatch error from Value.
template <typename F>
auto with_key(const std::string& file, std::string_view key, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}: metadata key '{}': {}", file, key, e.what()));
  }
}
}  // namespace

int64_t GgufFile::get_int(std::string_view key) const {
  return with_key(name_, key, [&] { return get(key).as_int(); });
}
int64_t GgufFile::get_int(std::string_view key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}
double GgufFile::get_float(std::string_view key) const {
  return with_key(name_, key, [&] { return get(key).as_float(); });
}
double GgufFile::get_float(std::string_view key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}
bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  return find(key) ? with_key(name_, key, [&] { return get(key).as_bool(); }) : fallback;
}
std::string GgufFile::get_string(std::string_view key) const {
  return with_key(name_, key, [&] { return std::string(get(key).as_string()); });
}
std::string GgufFile::get_string(std::string_view key, std::string_view fallback) const {
  return find(key) ? get_string(key) : std::string(fallback);
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace nextlm::gguf
