#include "gguf/gguf_writer.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "nextlm/error.h"

namespace nextlm::gguf {

namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

FileSink::FileSink(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
  if (!f_) throw Error(ErrorCode::kIo, fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
}

FileSink::~FileSink() {
  if (f_) std::fclose(f_);
}

void FileSink::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, f_) != n) {
    throw Error(ErrorCode::kIo, fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
  }
}

void FileSink::close() {
  if (!f_) return;
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) throw Error(ErrorCode::kIo, fmt::format("{}: close failed: {}", path_, std::strerror(errno)));
}

void VectorSink::write(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  bytes.insert(bytes.end(), p, p + n);
}

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error(ErrorCode::kInvalidArgument, "GGUF alignment must be a power of two");
  }
  if (alignment != 32) add_u32("general.alignment", alignment);
}

void GgufWriter::begin_kv(std::string_view key, ValueType t) {
  if (header_written_) throw Error(ErrorCode::kInternal, "GGUF metadata added after the header was written");
  put_string(kv_, key);
  put<uint32_t>(kv_, static_cast<uint32_t>(t));
  ++n_kv_;
}

void GgufWriter::add_u32(std::string_view key, uint32_t v) { begin_kv(key, ValueType::U32), put(kv_, v); }
void GgufWriter::add_i32(std::string_view key, int32_t v) { begin_kv(key, ValueType::I32), put(kv_, v); }
void GgufWriter::add_u64(std::string_view key, uint64_t v) { begin_kv(key, ValueType::U64), put(kv_, v); }
void GgufWriter::add_f32(std::string_view key, float v) { begin_kv(key, ValueType::F32), put(kv_, v); }
void GgufWriter::add_bool(std::string_view key, bool v) {
  begin_kv(key, ValueType::BOOL);
  put<uint8_t>(kv_, v ? 1 : 0);
}
void GgufWriter::add_string(std::string_view key, std::string_view v) {
  begin_kv(key, ValueType::STRING);
  put_string(kv_, v);
}

void GgufWriter::add_strings(std::string_view key, std::span<const std::string> v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_, static_cast<uint32_t>(ValueType::STRING));
  put<uint64_t>(kv_, v.size());
  for (const std::string& s : v) put_string(kv_, s);
}

void GgufWriter::add_i32s(std::string_view key, std::span<const int32_t> v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_, static_cast<uint32_t>(ValueType::I32));
  put<uint64_t>(kv_, v.size());
  for (int32_t x : v) put(kv_, x);
}

void GgufWriter::add_f32s(std::string_view key, std::span<const float> v) {
  begin_kv(key, ValueType::ARRAY);
  put<uint32_t>(kv_, static_cast<uint32_t>(ValueType::F32));
  put<uint64_t>(kv_, v.size());
  for (float x : v) put(kv_, x);
}

void GgufWriter::add_value(std::string_view key, const Value& v) {
  begin_kv(key, v.type());
  encode_value(v);
}

void GgufWriter::encode_value(const Value& v) {
  switch (v.type()) {
    case ValueType::STRING: put_string(kv_, v.as_string()); return;
    case ValueType::ARRAY: {
      put<uint32_t>(kv_, static_cast<uint32_t>(v.elem_type()));
      put<uint64_t>(kv_, v.size());
      if (v.elem_type() == ValueType::STRING) {
        for (std::string_view s : v.strings()) put_string(kv_, s);
      } else if (v.elem_type() == ValueType::ARRAY) {
        // Each nested array carries its own element type and length.
        for (uint64_t i = 0; i < v.size(); ++i) encode_value(v.array_at(i));
      } else {
        const uint8_t* raw = v.raw_data();
        kv_.insert(kv_.end(), raw, raw + v.size() * scalar_size(v.elem_type()));
      }
      return;
    }
    default: {
      uint64_t bits = v.raw_scalar();
      size_t n = scalar_size(v.type());
      if (v.type() == ValueType::F32) {
        float f = static_cast<float>(v.as_float());
        put(kv_, f);
      } else {
        kv_.insert(kv_.end(), reinterpret_cast<const uint8_t*>(&bits), reinterpret_cast<const uint8_t*>(&bits) + n);
      }
    }
  }
}

size_t GgufWriter::add_tensor(std::string_view name, quant::Type type, std::span<const int64_t> ne) {
  if (header_written_) throw Error(ErrorCode::kInternal, "GGUF tensor added after the header was written");
  const quant::TypeInfo& ti = quant::type_info(type);
  if (ne.empty() || ne.size() > 4 || ne[0] % ti.block_size != 0) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("tensor '{}': bad shape for type {}", name, ti.name));
  }
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  PendingTensor t{std::string(name), type, {ne.begin(), ne.end()},
                  static_cast<uint64_t>(n / ti.block_size) * ti.block_bytes, data_size_};
  data_size_ = align_up(data_size_ + t.n_bytes, alignment_);
  tensors_.push_back(std::move(t));
  return tensors_.size() - 1;
}

void GgufWriter::write_header(ByteSink& out) {
  std::vector<uint8_t> h;
  put<uint32_t>(h, 0x46554747);
  put<uint32_t>(h, 3);
  put<uint64_t>(h, tensors_.size());
  put<uint64_t>(h, n_kv_);
  h.insert(h.end(), kv_.begin(), kv_.end());
  for (const PendingTensor& t : tensors_) {
    put_string(h, t.name);
    put<uint32_t>(h, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(h, static_cast<uint64_t>(d));
    put<uint32_t>(h, static_cast<uint32_t>(t.type));
    put<uint64_t>(h, t.offset);
  }
  h.resize(align_up(h.size(), alignment_), 0);
  out.write(h.data(), h.size());
  header_written_ = true;
  current_ = 0;
  current_written_ = 0;
}

void GgufWriter::write_tensor_data(ByteSink& out, const void* data, size_t n) {
  if (!header_written_ || current_ >= tensors_.size() || n > tensors_[current_].n_bytes - current_written_) {
    throw Error(ErrorCode::kInternal, "GGUF tensor data written out of order or beyond its size");
  }
  out.write(data, n);
  current_written_ += n;
  const PendingTensor& t = tensors_[current_];
  if (current_written_ == t.n_bytes) {
    static const uint8_t zeros[256] = {};
    uint64_t pad = align_up(t.n_bytes, alignment_) - t.n_bytes;
    while (pad) {
      size_t k = pad < sizeof zeros ? pad : sizeof zeros;
      out.write(zeros, k);
      pad -= k;
    }
    ++current_;
    current_written_ = 0;
  }
}

void GgufWriter::finish() const {
  if (current_ != tensors_.size()) {
    throw Error(ErrorCode::kInternal, fmt::format("GGUF writer: only {} of {} tensors written", current_, tensors_.size()));
  }
}

}  // namespace nextlm::gguf
