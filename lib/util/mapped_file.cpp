#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "nextlm/error.h"

namespace nextlm::util {

namespace {

[[noreturn]] void fail(const std::string& path, const char* what) {
  throw Error(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(errno));
}

// Closes the descriptor on every path out of open().
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

HugeMapping map_huge(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
  void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return {};
#ifdef MADV_HUGEPAGE
  ::madvise(mem, len, MADV_HUGEPAGE);
#endif
  return {static_cast<uint8_t*>(mem), len};
}

bool huge_pages_available() {
  static const bool available = [] {
    Fd fd{::open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) return false;
    char buf[128] = {};
    if (::read(fd.fd, buf, sizeof buf - 1) <= 0) return false;
    return std::strstr(buf, "[always]") != nullptr || std::strstr(buf, "[madvise]") != nullptr;
  }();
  return available;
}

void MappedFile::release_pages() const noexcept {
  if (mapped_ && data_ && map_len_ != 0) ::madvise(const_cast<uint8_t*>(data_), map_len_, MADV_DONTNEED);
}

MappedFile MappedFile::open(const std::string& path, bool use_mmap) {
  Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) fail(path, "cannot open");
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) fail(path, "cannot stat");
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kIo, path + ": not a regular file");
  }
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ == 0) return f;  // mmap of length 0 is invalid; an empty view is fine
  if (use_mmap) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (p == MAP_FAILED) fail(path, "cannot mmap");
    f.data_ = static_cast<const uint8_t*>(p);
    f.mapped_ = true;
    f.map_len_ = f.size_;
    return f;
  }
  // On 2 MiB pages, weights read at every token cost one TLB entry per 2 MiB
  // instead of per 4 KiB.
  const HugeMapping mem = map_huge(f.size_);
  if (mem.data == nullptr) fail(path, "cannot allocate memory for");
  size_t done = 0;
  while (done < f.size_) {
    ssize_t n = ::read(fd.fd, mem.data + done, f.size_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || n == 0) {
      ::munmap(mem.data, mem.len);
      if (n < 0) fail(path, "read failed");
      throw Error(ErrorCode::kIo, path + ": file shrank while reading");
    }
    done += static_cast<size_t>(n);
  }
  ::mprotect(mem.data, mem.len, PROT_READ);  // read-only like the mapped form
  f.data_ = mem.data;
  f.map_len_ = mem.len;
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, false);
    map_len_ = std::exchange(other.map_len_, 0);
    data_ = std::exchange(other.data_, nullptr);
  }
  return *this;
}

MappedFile::~MappedFile() { reset(); }

void MappedFile::reset() noexcept {
  if (map_len_ != 0 && data_) ::munmap(const_cast<uint8_t*>(data_), map_len_);
  data_ = nullptr;
  size_ = 0;
  map_len_ = 0;
  mapped_ = false;
}

}  // namespace nextlm::util
