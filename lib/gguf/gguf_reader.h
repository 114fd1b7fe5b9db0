// GGUF v2/v3 reader. Everything is validated while parsing, before any of it
// is used: a corrupt or hostile file yields nextlm::Error(kCorruptFile) that
// names the file, the byte offset and the problem — never a crash, hang or
// out-of-bounds read. Tensor data is left in the mapped file (zero-copy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_types.h"
#include "quant/types.h"
#include "util/mapped_file.h"

namespace nextlm::gguf {

constexpr int kMaxDims = 4;
constexpr uint32_t kDefaultAlignment = 32;

struct TensorInfo {
  std::string name;
  quant::Type type = quant::Type::F32;
  int n_dims = 0;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};  // ne[0] is the row length (contiguous)
  uint64_t offset = 0;                  // relative to the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;        // into the file's bytes

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_bytes() const { return quant::row_bytes(type, ne[0]); }
  std::string shape_string() const;  // e.g. "[256, 1024]"
};

struct MetadataEntry {
  std::string key;
  Value value;
};

struct OpenOptions {
  bool use_mmap = true;
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::string& path, OpenOptions opts = {});
  // Parses bytes owned by the caller, which must outlive the result; `name`
  // appears in error messages. Used by the fuzzer and corrupt-file tests.
  static std::unique_ptr<GgufFile> parse(std::string name, const uint8_t* data, size_t size);

  const std::string& path() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return size_; }
  bool is_mapped() const { return file_.is_mapped(); }
  const uint8_t* mapped_data() const { return file_.is_mapped() ? file_.data() : nullptr; }
  void release_pages() const noexcept { file_.release_pages(); }  // util::MappedFile::release_pages

  const std::vector<MetadataEntry>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;  // nullptr when absent
  // Typed access; throw nextlm::Error naming the key when absent or mistyped.
  const Value& get(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  int64_t get_int(std::string_view key, int64_t fallback) const;
  double get_float(std::string_view key) const;
  double get_float(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key) const;
  std::string get_string(std::string_view key, std::string_view fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent

 private:
  friend class Parser;
  GgufFile() = default;

  std::string name_;
  util::MappedFile file_;  // empty when parsing caller-owned bytes
  const uint8_t* bytes_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<MetadataEntry> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace nextlm::gguf
