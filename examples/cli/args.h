// Minimal command-line parsing for the `nextlm` subcommands: positionals plus
// `--name value` / `--flag` options, each checked against what the command knows.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nextlm::cli {

class Args {
 public:
  // value_opts take a value, flag_opts do not; anything else is an error.
  Args(int argc, char** argv, const std::set<std::string>& value_opts, const std::set<std::string>& flag_opts);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  std::string require(const std::string& name) const;
  long long get_int(const std::string& name, long long fallback) const;

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

// Thrown for usage errors; main prints it with the command's usage line.
struct UsageError {
  std::string message;
};

}  // namespace nextlm::cli
