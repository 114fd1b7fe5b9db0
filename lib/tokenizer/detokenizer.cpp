#include "tokenizer/detokenizer.h"

#include "tokenizer/bpe.h"
#include "tokenizer/unicode.h"

namespace nextlm::tokenizer {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xHH>" -> HH, else -1.
int byte_token_value(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

// The bytes a byte-level vocabulary text stands for; false when some
// character is not in the alphabet (or the text is not valid UTF-8).
bool byte_level_decode(std::string_view text, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0, n = text.size();
  while (i < n) {
    Utf8Char c = decode_utf8(p + i, n - i);
    int b = c.valid ? unicode_to_byte(c.cp) : -1;
    if (b < 0) return false;
    out.push_back(static_cast<char>(b));
    i += c.len;
  }
  return true;
}

}  // namespace

TokenBytes::TokenBytes(const std::vector<std::string_view>& texts, const std::vector<TokenType>& types) {
  const size_t n = texts.size();
  offsets_.reserve(n + 1);
  special_.resize(n, 0);
  std::string bytes;
  for (size_t id = 0; id < n; ++id) {
    std::string_view text = texts[id];
    TokenType type = id < types.size() ? types[id] : TokenType::kNormal;
    bytes.clear();
    switch (type) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUnused:
        special_[id] = 1;
        bytes.assign(text);
        break;
      case TokenType::kUserDefined:
        bytes.assign(text);
        break;
      case TokenType::kByte:
        if (int v = byte_token_value(text); v >= 0) {
          bytes.push_back(static_cast<char>(v));
          break;
        }
        [[fallthrough]];
      default:
        if (!byte_level_decode(text, bytes)) bytes.assign(text);
        break;
    }
    blob_.insert(blob_.end(), bytes.begin(), bytes.end());
    offsets_.push_back(blob_.size());
  }
}

void Utf8StreamDecoder::emit_invalid(unsigned char b, std::string& out) const {
  if (mode_ == Invalid::kReplace) {
    out.append("\xEF\xBF\xBD");
  } else {
    out.push_back(static_cast<char>(b));
  }
}

void Utf8StreamDecoder::push(std::string_view bytes, std::string& out) {
  if (bytes.empty()) return;
  std::string_view data = bytes;
  if (!pending_.empty()) {
    pending_.append(bytes.data(), bytes.size());
    data = pending_;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  size_t keep_from = n;
  while (i < n) {
    if (p[i] < 0x80) {  // ASCII run
      size_t j = i + 1;
      while (j < n && p[j] < 0x80) ++j;
      out.append(data.data() + i, j - i);
      i = j;
      continue;
    }
    Utf8Char c = decode_utf8(p + i, n - i);
    if (c.valid) {
      out.append(data.data() + i, c.len);
      i += c.len;
    } else if (is_utf8_prefix(p + i, n - i)) {
      keep_from = i;  // incomplete: wait for more bytes
      break;
    } else {
      emit_invalid(p[i], out);
      i += 1;
    }
  }
  std::string rest(data.substr(keep_from));
  pending_.swap(rest);
}

void Utf8StreamDecoder::finish(std::string& out) {
  for (unsigned char b : pending_) emit_invalid(b, out);
  pending_.clear();
}

}  // namespace nextlm::tokenizer
