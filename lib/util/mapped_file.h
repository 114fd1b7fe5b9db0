// Read-only view of a whole file: memory-mapped by default (weights are
// paged in lazily and shared between processes), or read into anonymous
// memory asked for 2 MiB pages (fewer TLB misses when every token reads the
// weights; the OS may decline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace nextlm::util {

// Anonymous read-write memory of at least `bytes`, in whole 2 MiB pages and
// advised to use them (the OS may decline: then the pages stay small).
// `data` is null on failure; release with munmap(data, len).
struct HugeMapping {
  uint8_t* data = nullptr;
  size_t len = 0;
};
HugeMapping map_huge(size_t bytes);

// Whether the OS gives anonymous memory 2 MiB pages when asked
// (transparent huge pages "always" or "madvise").
bool huge_pages_available();

class MappedFile {
 public:
  // Throws nextlm::Error(kIo) naming the path and the OS error.
  static MappedFile open(const std::string& path, bool use_mmap = true);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool is_mapped() const { return mapped_; }
  // A mapped file: drops this process's page mappings (the data stays in the
  // page cache and faults back in on the next read), so weights copied
  // elsewhere stop counting twice in its resident memory. No-op otherwise.
  void release_pages() const noexcept;

 private:
  void reset() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;  // a mapping of the file (else anonymous memory the file was read into)
  size_t map_len_ = 0;   // bytes to unmap (both kinds)
};

}  // namespace nextlm::util
