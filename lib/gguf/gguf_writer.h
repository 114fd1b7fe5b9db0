// Streaming GGUF v3 writer: metadata and the tensor table first, then each
// tensor's bytes in table order, in chunks of any size. Nothing is held in
// memory beyond the header, so multi-gigabyte files are written in O(1) RAM.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/gguf_types.h"
#include "quant/types.h"

namespace nextlm::gguf {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const void* data, size_t n) = 0;
};

// Buffered file output; throws nextlm::Error(kIo) on failure.
class FileSink : public ByteSink {
 public:
  explicit FileSink(const std::string& path);
  ~FileSink() override;
  void write(const void* data, size_t n) override;
  void close();  // flushes; reports write errors

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

class VectorSink : public ByteSink {
 public:
  void write(const void* data, size_t n) override;
  std::vector<uint8_t> bytes;
};

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);

  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_f32(std::string_view key, float v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_strings(std::string_view key, std::span<const std::string> v);
  void add_i32s(std::string_view key, std::span<const int32_t> v);
  void add_f32s(std::string_view key, std::span<const float> v);
  void add_value(std::string_view key, const Value& v);  // copies a value read from another file

  // ne[0] is the row length. Returns the tensor's index in the table.
  size_t add_tensor(std::string_view name, quant::Type type, std::span<const int64_t> ne);
  uint64_t tensor_bytes(size_t index) const { return tensors_[index].n_bytes; }
  size_t tensor_count() const { return tensors_.size(); }

  void write_header(ByteSink& out);
  // Appends bytes of the current tensor; pads and moves on when it is complete.
  void write_tensor_data(ByteSink& out, const void* data, size_t n);
  // Checks that every tensor was written in full.
  void finish() const;

 private:
  struct PendingTensor {
    std::string name;
    quant::Type type;
    std::vector<int64_t> ne;
    uint64_t n_bytes;
    uint64_t offset;
  };
  void begin_kv(std::string_view key, ValueType t);
  void encode_value(const Value& v);

  uint32_t alignment_;
  uint64_t n_kv_ = 0;
  std::vector<uint8_t> kv_;  // encoded metadata
  std::vector<PendingTensor> tensors_;
  uint64_t data_size_ = 0;
  size_t current_ = 0;
  uint64_t current_written_ = 0;
  bool header_written_ = false;
};

}  // namespace nextlm::gguf
