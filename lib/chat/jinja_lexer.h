// Jinja template lexer with jinja2's whitespace rules as Hugging Face
// configures them: trim_blocks (the first newline after a block or comment
// tag is dropped), lstrip_blocks (whitespace from the start of a line up to a
// block or comment tag is dropped), `-`/`+` modifiers on tags, raw blocks,
// newline normalisation and the dropped single trailing newline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nextlm::chat::jinja {

enum class Tok : uint8_t { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type = Tok::kEof;
  std::string value;  // data, name, string contents (unescaped) or operator
  int line = 1;
  int64_t ival = 0;
  double fval = 0;
};

// Throws TemplateError("TemplateSyntaxError", ...) on malformed input.
std::vector<Token> tokenize(std::string_view source);

const char* token_type_name(Tok t);

}  // namespace nextlm::chat::jinja
