// Session state files: "NLMSTATE", format version, the model's fingerprint,
// the session's shape, its tokens and sequence state, the last logits, then a
// 64-bit FNV-1a checksum of everything before it. Loading checks all of it
// before touching the session.
#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "nextlm/error.h"
#include "nextlm/session.h"
#include "session/model_impl.h"
#include "session/session_impl.h"

namespace nextlm {

namespace {

constexpr char kMagic[8] = {'N', 'L', 'M', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 1;

uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

template <typename T>
void put(std::vector<uint8_t>& out, const T& v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  const uint8_t* take(size_t k, const char* what) {
    if (k > n_ - at_) throw Error(ErrorCode::kCorruptFile, fmt::format("session state: truncated {}", what));
    const uint8_t* r = p_ + at_;
    at_ += k;
    return r;
  }
  template <typename T>
  T get(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  size_t left() const { return n_ - at_; }

 private:
  const uint8_t* p_;
  size_t n_, at_ = 0;
};

}  // namespace

std::vector<uint8_t> Session::save_state() const {
  const detail::SessionImpl& s = *impl_;
  std::vector<uint8_t> out(sizeof kMagic);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  put(out, kVersion);
  put(out, s.m.fingerprint);
  put(out, s.params.n_ctx);
  put(out, static_cast<uint32_t>(s.types.k));
  put(out, static_cast<uint32_t>(s.types.v));
  put(out, static_cast<uint64_t>(s.tokens.size()));
  for (int32_t t : s.tokens) put(out, t);
  std::vector<uint8_t> seq;
  s.seq->save(seq);
  put(out, static_cast<uint64_t>(seq.size()));
  out.insert(out.end(), seq.begin(), seq.end());
  put(out, static_cast<uint8_t>(s.logits_valid));
  if (s.logits_valid) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.logits.data());
    out.insert(out.end(), p, p + s.logits.size() * sizeof(float));
  }
  put(out, fnv1a(out.data(), out.size()));
  return out;
}

void Session::load_state(std::span<const uint8_t> bytes) {
  detail::SessionImpl& s = *impl_;
  if (bytes.size() < sizeof kMagic + 4 + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw Error(ErrorCode::kCorruptFile, "session state: not a nextlm session state");
  }
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (stored != fnv1a(bytes.data(), bytes.size() - 8)) {
    throw Error(ErrorCode::kCorruptFile, "session state: checksum mismatch (damaged data)");
  }
  Reader r(bytes.data() + sizeof kMagic, bytes.size() - sizeof kMagic - 8);
  if (uint32_t v = r.get<uint32_t>("version"); v != kVersion) {
    throw Error(ErrorCode::kCorruptFile, fmt::format("session state: format version {} (this build reads {})", v, kVersion));
  }
  if (r.get<uint64_t>("fingerprint") != s.m.fingerprint) {
    throw Error(ErrorCode::kInvalidArgument, "session state: saved with a different model");
  }
  const int64_t n_ctx = r.get<int64_t>("n_ctx");
  const uint32_t k = r.get<uint32_t>("cache type"), v = r.get<uint32_t>("cache type");
  if (n_ctx != s.params.n_ctx || k != static_cast<uint32_t>(s.types.k) || v != static_cast<uint32_t>(s.types.v)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("session state: saved with n_ctx {} and other cache types than this session's", n_ctx));
  }
  const uint64_t n_tokens = r.get<uint64_t>("token count");
  if (n_tokens > static_cast<uint64_t>(s.params.n_ctx)) throw Error(ErrorCode::kCorruptFile, "session state: too many tokens");
  std::vector<int32_t> tokens(n_tokens);
  std::memcpy(tokens.data(), r.take(n_tokens * 4, "tokens"), n_tokens * 4);
  for (int32_t t : tokens) {
    if (t < 0 || t >= s.model->n_vocab()) throw Error(ErrorCode::kCorruptFile, "session state: token id out of range");
  }
  const uint64_t seq_bytes = r.get<uint64_t>("state size");
  const uint8_t* seq = r.take(seq_bytes, "sequence state");
  const bool valid = r.get<uint8_t>("logits flag") != 0;
  std::vector<float> logits(s.logits.size());
  if (valid) std::memcpy(logits.data(), r.take(logits.size() * 4, "logits"), logits.size() * 4);
  if (r.left() != 0) throw Error(ErrorCode::kCorruptFile, "session state: trailing bytes");

  // Everything checked: replace the session's state.
  auto fresh = s.m.model->new_sequence(s.params.n_ctx, s.types);
  fresh->load(seq, seq_bytes);
  if (fresh->n_past() != static_cast<int64_t>(n_tokens)) {
    throw Error(ErrorCode::kCorruptFile, "session state: token count does not match the sequence state");
  }
  s.checkpoints.resize(1);  // position 0 stays valid for any history
  s.seq = std::move(fresh);
  s.tokens = std::move(tokens);
  s.logits = std::move(logits);
  s.logits_valid = valid;
  s.take_checkpoint();
}

void Session::save_file(const std::string& path) const {
  const auto bytes = save_state();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw Error(ErrorCode::kIo, fmt::format("{}: cannot write the session state", path));
}

void Session::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, fmt::format("{}: cannot open", path));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  load_state(bytes);
}

}  // namespace nextlm
