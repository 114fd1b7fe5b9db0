#include "synth/tokenizer_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

#include "nextlm/error.h"

namespace nextlm::cli::synth {
namespace {

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// A few common English merges; each side is a byte token or an earlier merge
// result, so a BPE tokenizer can apply them (checked in builtin()).
const char* const kMerges[] = {
    "Ġ t",  "Ġ a",   "h e",  "i n",  "r e",  "o n",   "Ġt he", "e r",  "Ġ s",   "a t",   "Ġ w",  "Ġ o",
    "e n",  "Ġ c",   "i t",  "i s",  "a n",  "o r",   "e s",   "Ġ b",  "e d",   "Ġ f",   "in g", "Ġ p",
    "o u",  "Ġa n",  "a l",  "a r",  "Ġt o", "Ġ m",   "Ġo f",  "Ġ in", "Ġ d",   "Ġ h",   "Ġan d", "Ġ Ġ",
    "ĠĠ ĠĠ", "Ġ (",  "( )",  "Ġ =",  "Ġ {",  "Ġ }",   "Ċ Ġ",   "ĊĠ Ġ", "e l",   "el f",
    "s elf", "d e",  "de f",  "Ġ def",
};

// The Qwen3 special tokens in vocabulary order (ids 151643.. in the real one),
// with Qwen3's token types: control, except the tool/think markers.
const char* const kSpecials[] = {
    "<|endoftext|>",  "<|im_start|>",   "<|im_end|>",     "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>",  "<|box_end|>",    "<|quad_start|>", "<|quad_end|>",         "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",  "<|video_pad|>",        "<tool_call>",
    "</tool_call>",   "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",       "<|fim_pad|>",
    "<|repo_name|>",  "<|file_sep|>",   "<tool_response>", "</tool_response>",    "<think>",
    "</think>",
};

// Qwen3-style ChatML, short: enough for chat formatting and generation prompts.
const char* const kChatTemplate =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

void put_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {  // bytes_to_unicode never goes past U+0143
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool printable_byte(uint32_t b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

}  // namespace

std::string byte_to_unicode(uint8_t b) {
  // Printable bytes stand for themselves; the rest map to U+0100.. in order.
  uint32_t cp = b;
  if (!printable_byte(b)) {
    cp = 256;
    for (uint32_t x = 0; x < b; ++x)
      if (!printable_byte(x)) ++cp;
  }
  std::string s;
  put_utf8(s, cp);
  return s;
}

TokenizerSource TokenizerSource::from_gguf(const std::string& path) {
  TokenizerSource src;
  src.file_ = gguf::GgufFile::open(path);
  const gguf::Value* tokens = src.file_->find("tokenizer.ggml.tokens");
  if (!tokens || !tokens->is_array() || tokens->elem_type() != gguf::ValueType::STRING || tokens->size() == 0) {
    throw Error(ErrorCode::kInvalidArgument, path + ": no tokenizer.ggml.tokens string array to copy");
  }
  return src;
}

TokenizerSource TokenizerSource::builtin() {
  TokenizerSource src;
  // Byte tokens in GPT-2 order: the printable bytes first, then the others.
  for (int pass = 0; pass < 2; ++pass)
    for (uint32_t b = 0; b < 256; ++b)
      if (printable_byte(b) == (pass == 0)) src.tokens_.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
  src.types_.assign(src.tokens_.size(), kNormal);
  std::unordered_set<std::string> known(src.tokens_.begin(), src.tokens_.end());
  for (const char* m : kMerges) {
    std::string merge = m;
    size_t sp = merge.find(' ');
    std::string left = merge.substr(0, sp), right = merge.substr(sp + 1), joined = left + right;
    if (!known.count(left) || !known.count(right) || known.count(joined)) {
      throw Error(ErrorCode::kInternal, "built-in tokenizer: inconsistent merge '" + merge + "'");
    }
    src.merges_.push_back(merge);
    src.tokens_.push_back(joined);
    src.types_.push_back(kNormal);
    known.insert(joined);
  }
  const uint32_t first_special = static_cast<uint32_t>(src.tokens_.size());
  for (const char* s : kSpecials) {
    std::string tok = s;
    bool user = tok.find("<|") == std::string::npos;  // <tool_call>, <think>, ...
    src.tokens_.push_back(tok);
    src.types_.push_back(user ? kUserDefined : kControl);
  }
  src.bos_ = src.pad_ = first_special;  // <|endoftext|>, as Qwen3
  src.eos_ = first_special + 2;         // <|im_end|>
  return src;
}

int64_t TokenizerSource::n_tokens() const {
  if (file_) return static_cast<int64_t>(file_->get("tokenizer.ggml.tokens").size());
  return static_cast<int64_t>(tokens_.size());
}

int64_t TokenizerSource::resolve_vocab(int64_t n_vocab) const {
  const int64_t n = n_tokens();
  if (file_ || n_vocab == 0) return n;
  if (n_vocab < n) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("n_vocab {} is smaller than the built-in tokenizer's {} tokens", n_vocab, n));
  }
  return n_vocab;
}

void TokenizerSource::write_metadata(gguf::GgufWriter& w, int64_t n_vocab) const {
  if (n_vocab != resolve_vocab(n_vocab)) {
    throw Error(ErrorCode::kInternal, fmt::format("tokenizer cannot provide {} tokens", n_vocab));
  }
  if (file_) {
    for (const gguf::MetadataEntry& e : file_->metadata())
      if (e.key.rfind("tokenizer.", 0) == 0) w.add_value(e.key, e.value);
    return;
  }
  // Pad as the real vocabulary does: "[PADn]" placeholders of type unused.
  std::vector<std::string> tokens = tokens_;
  std::vector<int32_t> types = types_;
  for (int64_t i = static_cast<int64_t>(tokens.size()); i < n_vocab; ++i) {
    tokens.push_back(fmt::format("[PAD{}]", i));
    types.push_back(kUnused);
  }
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "qwen2");
  w.add_strings("tokenizer.ggml.tokens", tokens);
  w.add_i32s("tokenizer.ggml.token_type", types);
  w.add_strings("tokenizer.ggml.merges", merges_);
  w.add_u32("tokenizer.ggml.eos_token_id", eos_);
  w.add_u32("tokenizer.ggml.padding_token_id", pad_);
  w.add_u32("tokenizer.ggml.bos_token_id", bos_);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_string("tokenizer.chat_template", kChatTemplate);
}

}  // namespace nextlm::cli::synth
