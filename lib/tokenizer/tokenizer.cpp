#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "nextlm/error.h"
#include "tokenizer/normalize.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace nextlm::tokenizer {

namespace {

[[noreturn]] void corrupt(const gguf::GgufFile& f, const std::string& what) {
  throw Error(ErrorCode::kCorruptFile, fmt::format("{}: tokenizer: {}", f.path(), what));
}

std::string quoted(std::string_view s) {
  std::string q = "'";
  for (unsigned char c : s.substr(0, 64)) {
    if (c < 0x20 || c == 0x7F)
      q += fmt::format("\\x{:02x}", c);
    else
      q.push_back(static_cast<char>(c));
  }
  if (s.size() > 64) q += "...";
  return q + "'";
}

const gguf::Value& string_array(const gguf::GgufFile& f, std::string_view key) {
  const gguf::Value* v = f.find(key);
  if (!v) corrupt(f, fmt::format("{} is missing", key));
  if (!v->is_array() || v->elem_type() != gguf::ValueType::STRING) {
    corrupt(f, fmt::format("{} is not an array of strings", key));
  }
  return *v;
}

// An optional token id: absent or -1 (0xFFFFFFFF as u32) mean "none".
int32_t optional_id(const gguf::GgufFile& f, std::string_view key, size_t n_vocab) {
  const gguf::Value* v = f.find(key);
  if (!v) return -1;
  if (!v->is_integer()) corrupt(f, fmt::format("{} is not an integer", key));
  int64_t id;
  if (v->type() == gguf::ValueType::U64) {
    uint64_t u = v->as_uint();
    id = u == std::numeric_limits<uint64_t>::max() ? -1 : (u > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(u));
  } else {
    id = v->as_int();
  }
  if (v->type() == gguf::ValueType::U32 && id == 0xFFFFFFFFll) id = -1;
  if (id == -1) return -1;
  if (id < 0 || static_cast<uint64_t>(id) >= n_vocab) {
    corrupt(f, fmt::format("{} = {} is outside the vocabulary (0..{})", key, id, n_vocab - 1));
  }
  return static_cast<int32_t>(id);
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
  auto f = gguf::GgufFile::open(path);
  return from_gguf(*f);
}

Tokenizer Tokenizer::from_gguf(const gguf::GgufFile& f) {
  // Kind of tokenizer.
  const gguf::Value* model = f.find("tokenizer.ggml.model");
  if (!model) {
    throw Error(ErrorCode::kUnsupported, fmt::format("{}: no tokenizer (tokenizer.ggml.model is missing)", f.path()));
  }
  if (!model->is_string()) corrupt(f, "tokenizer.ggml.model is not a string");
  if (model->as_string() != "gpt2") {
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: tokenizer model {} is not supported (only 'gpt2', byte-level BPE)", f.path(),
                            quoted(model->as_string())));
  }
  const gguf::Value* pre = f.find("tokenizer.ggml.pre");
  if (!pre) {
    throw Error(
        ErrorCode::kUnsupported,
        fmt::format("{}: tokenizer.ggml.pre is missing (only the 'qwen2' pre-tokenizer is supported)", f.path()));
  }
  if (!pre->is_string()) corrupt(f, "tokenizer.ggml.pre is not a string");
  if (pre->as_string() != "qwen2") {
    throw Error(ErrorCode::kUnsupported, fmt::format("{}: pre-tokenizer {} is not supported (only 'qwen2')", f.path(),
                                                     quoted(pre->as_string())));
  }

  // Vocabulary.
  const gguf::Value& tokens = string_array(f, "tokenizer.ggml.tokens");
  const size_t n = tokens.size();
  if (n == 0) corrupt(f, "tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) corrupt(f, "too many tokens");

  std::vector<TokenType> types(n, TokenType::kNormal);
  if (const gguf::Value* tt = f.find("tokenizer.ggml.token_type")) {
    if (!tt->is_array() || tt->elem_type() == gguf::ValueType::STRING || tt->elem_type() == gguf::ValueType::ARRAY ||
        tt->elem_type() == gguf::ValueType::F32 || tt->elem_type() == gguf::ValueType::F64 ||
        tt->elem_type() == gguf::ValueType::BOOL) {
      corrupt(f, "tokenizer.ggml.token_type is not an array of integers");
    }
    if (tt->size() != n) {
      corrupt(f, fmt::format("tokenizer.ggml.token_type has {} entries for {} tokens", tt->size(), n));
    }
    for (size_t i = 0; i < n; ++i) {
      int64_t t = tt->int_at(i);
      if (t < 0 || t > 6) corrupt(f, fmt::format("token {} has unknown type {}", i, t));
      types[i] = static_cast<TokenType>(t);
    }
  }

  std::vector<char> blob;
  std::vector<size_t> off;
  off.reserve(n + 1);
  off.push_back(0);
  for (size_t i = 0; i < n; ++i) {
    std::string_view s = tokens.string_at(i);
    blob.insert(blob.end(), s.begin(), s.end());
    off.push_back(blob.size());
  }
  std::unordered_map<std::string_view, int32_t> by_text;
  by_text.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    by_text.emplace(std::string_view(blob.data() + off[i], off[i + 1] - off[i]), static_cast<int32_t>(i));
  }
  auto lookup = [&](std::string_view s) {
    auto it = by_text.find(s);
    return it == by_text.end() ? -1 : it->second;
  };

  int32_t byte_tokens[256];
  for (int b = 0; b < 256; ++b) {
    std::string t;
    append_utf8(t, byte_to_unicode(static_cast<uint8_t>(b)));
    byte_tokens[b] = lookup(t);
    if (byte_tokens[b] < 0) corrupt(f, fmt::format("the vocabulary lacks the token for byte 0x{:02x} ({})", b, t));
  }

  // Merges: "LEFT RIGHT", rank = index; both sides and their concatenation
  // must be tokens.
  const gguf::Value& merges = string_array(f, "tokenizer.ggml.merges");
  if (merges.size() > static_cast<size_t>(std::numeric_limits<uint32_t>::max())) corrupt(f, "too many merges");
  MergeTable table(merges.size());
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    std::string_view m = merges.string_at(r);
    size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
    if (sp == std::string_view::npos) corrupt(f, fmt::format("merge {} ({}) is not 'LEFT RIGHT'", r, quoted(m)));
    std::string_view left = m.substr(0, sp), right = m.substr(sp + 1);
    int32_t l = lookup(left), rt = lookup(right);
    if (l < 0 || rt < 0) {
      corrupt(f,
              fmt::format("merge {} ({}) refers to an unknown token {}", r, quoted(m), quoted(l < 0 ? left : right)));
    }
    joined.assign(left);
    joined.append(right);
    int32_t res = lookup(joined);
    if (res < 0) corrupt(f, fmt::format("merge {} ({}) makes {}, which is not a token", r, quoted(m), quoted(joined)));
    table.insert(l, rt, static_cast<uint32_t>(r), res);  // a repeated pair keeps its first rank
  }

  Tokenizer tok{BpeEncoder(byte_tokens, std::move(table))};
  std::copy(std::begin(byte_tokens), std::end(byte_tokens), tok.byte_token_);

  std::vector<std::string_view> texts(n);
  for (size_t i = 0; i < n; ++i) texts[i] = std::string_view(blob.data() + off[i], off[i + 1] - off[i]);
  tok.bytes_ = TokenBytes(texts, types);
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == TokenType::kControl || types[i] == TokenType::kUserDefined) {
      tok.specials_.add(texts[i], static_cast<int32_t>(i), types[i] == TokenType::kControl);
    }
  }

  tok.bos_ = optional_id(f, "tokenizer.ggml.bos_token_id", n);
  tok.eos_ = optional_id(f, "tokenizer.ggml.eos_token_id", n);
  tok.pad_ = optional_id(f, "tokenizer.ggml.padding_token_id", n);
  if (const gguf::Value* v = f.find("tokenizer.ggml.add_bos_token")) {
    if (v->type() != gguf::ValueType::BOOL) corrupt(f, "tokenizer.ggml.add_bos_token is not a bool");
    tok.add_bos_ = v->as_bool();
  }

  // The vector buffers move into the tokenizer, so the views stay valid.
  tok.text_blob_ = std::move(blob);
  tok.text_off_ = std::move(off);
  tok.types_ = std::move(types);
  tok.by_text_ = std::move(by_text);
  return tok;
}

void Tokenizer::check_id(int32_t id) const {
  if (id < 0 || id >= n_vocab()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1));
  }
}

std::string_view Tokenizer::token_text(int32_t id) const {
  check_id(id);
  size_t i = static_cast<size_t>(id);
  return std::string_view(text_blob_.data() + text_off_[i], text_off_[i + 1] - text_off_[i]);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  check_id(id);
  return bytes_.bytes(static_cast<size_t>(id));
}

bool Tokenizer::is_special(int32_t id) const {
  check_id(id);
  return bytes_.is_special(static_cast<size_t>(id));
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return types_[static_cast<size_t>(id)];
}

int32_t Tokenizer::find_token(std::string_view text) const {
  auto it = by_text_.find(text);
  return it == by_text_.end() ? -1 : it->second;
}

template <class F>
void Tokenizer::for_each_piece(std::string_view run, bool normalize, F&& piece) const {
  // run is well-formed UTF-8.
  std::vector<uint32_t> cps;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offs;  // byte offset of each code point, plus the end
  cps.reserve(run.size());
  flags.reserve(run.size());
  offs.reserve(run.size() + 1);
  uint8_t any = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(run.data());
  const size_t n = run.size();
  for (size_t i = 0; i < n;) {
    Utf8Char c = p[i] < 0x80 ? Utf8Char{p[i], 1, true} : decode_utf8(p + i, n - i);
    uint8_t fl = unicode_flags(c.cp);
    cps.push_back(c.cp);
    flags.push_back(fl);
    offs.push_back(static_cast<uint32_t>(i));
    any |= fl;
    i += c.len;
  }
  offs.push_back(static_cast<uint32_t>(n));

  std::string normalized;
  if (normalize && (any & ucd::kNfcCheck) && nfc_may_change(cps.data(), cps.size())) {
    cps = nfc(cps.data(), cps.size());
    flags.clear();
    offs.clear();
    for (uint32_t cp : cps) {
      offs.push_back(static_cast<uint32_t>(normalized.size()));
      flags.push_back(unicode_flags(cp));
      append_utf8(normalized, cp);
    }
    offs.push_back(static_cast<uint32_t>(normalized.size()));
    run = normalized;
  }

  std::vector<uint32_t> ends;
  pretokenize_qwen2(cps.data(), flags.data(), cps.size(), ends);
  uint32_t start = 0;
  for (uint32_t e : ends) {
    piece(run.substr(offs[start], offs[e] - offs[start]));
    start = e;
  }
}

void Tokenizer::encode_fragment(std::string_view frag, bool normalize, std::vector<int32_t>& out) const {
  const auto* p = reinterpret_cast<const unsigned char*>(frag.data());
  const size_t n = frag.size();
  auto emit_piece = [&](std::string_view piece) { bpe_.encode(piece, out); };
  size_t run_start = 0, i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    Utf8Char c = decode_utf8(p + i, n - i);
    if (c.valid) {
      i += c.len;
      continue;
    }
    if (i > run_start) for_each_piece(frag.substr(run_start, i - run_start), normalize, emit_piece);
    out.push_back(byte_token_[p[i]]);  // an invalid byte is a piece of its own
    run_start = ++i;
  }
  if (n > run_start) for_each_piece(frag.substr(run_start), normalize, emit_piece);
}

void Tokenizer::encode(std::string_view text, const EncodeOptions& opts, std::vector<int32_t>& out) const {
  encode_guarded(text, {}, opts, out);  // no plain ranges: added tokens anywhere
}

void Tokenizer::encode_guarded(std::string_view text, std::span<const PlainRange> plain, const EncodeOptions& opts,
                               std::vector<int32_t>& out) const {
  if (opts.add_bos && add_bos_ && bos_ >= 0) out.push_back(bos_);
  const size_t n = text.size();
  size_t pos = 0;     // start of the text not yet encoded
  size_t search = 0;  // where the next added token may start
  size_t k = 0;       // first plain range that may still matter
  while (pos < n) {
    SpecialTokenMatcher::Match m;
    bool found = false;
    while (!found && search < n) {
      while (k < plain.size() && plain[k].end <= search) ++k;
      if (k < plain.size() && plain[k].begin <= search) {
        search = plain[k].end;
        continue;
      }
      // Matches are looked for in the template text up to the next plain range only.
      const size_t limit = k < plain.size() ? std::min(plain[k].begin, n) : n;
      found = specials_.find(text.substr(0, limit), search, opts.parse_special, m);
      if (!found) search = limit;
    }
    const size_t end = found ? m.pos : n;
    if (end > pos) encode_fragment(text.substr(pos, end - pos), opts.normalize, out);
    if (!found) break;
    out.push_back(m.id);
    pos = search = m.pos + m.len;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& opts) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode(text, opts, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) {
    check_id(id);
    bytes_.append(static_cast<size_t>(id), render_special, out);
  }
  return out;
}

std::vector<std::string> Tokenizer::pretokenize(std::string_view text, bool normalize) const {
  std::vector<std::string> pieces;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  auto add = [&](std::string_view piece) { pieces.emplace_back(piece); };
  size_t run_start = 0, i = 0, n = text.size();
  while (i < n) {
    Utf8Char c = decode_utf8(p + i, n - i);
    if (c.valid) {
      i += c.len;
      continue;
    }
    if (i > run_start) for_each_piece(text.substr(run_start, i - run_start), normalize, add);
    pieces.emplace_back(1, static_cast<char>(p[i]));
    run_start = ++i;
  }
  if (n > run_start) for_each_piece(text.substr(run_start), normalize, add);
  return pieces;
}

std::string StreamDecoder::push(int32_t id) {
  std::string out;
  if (render_special_ || !tok_->is_special(id)) utf8_.push(tok_->token_bytes(id), out);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out;
  utf8_.finish(out);
  return out;
}

}  // namespace nextlm::tokenizer
