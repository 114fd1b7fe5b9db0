#include "args.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace nextlm::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& value_opts, const std::set<std::string>& flag_opts) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    // "--name" options, and "-x" one-letter aliases for options named "x".
    const bool is_long = a.size() > 2 && a.rfind("--", 0) == 0;
    const bool is_short = a.size() == 2 && a[0] == '-' && std::isalpha(static_cast<unsigned char>(a[1]));
    if (is_long || is_short) {
      std::string name = a.substr(is_long ? 2 : 1);
      std::string value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      if (flag_opts.count(name) && !inline_value) {
        flags_.insert(name);
      } else if (value_opts.count(name)) {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError{"option --" + name + " needs a value"};
          value = argv[++i];
        }
        values_[name] = value;
      } else {
        throw UsageError{"unknown option --" + name};
      }
    } else {
      positionals_.push_back(a);
    }
  }
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw UsageError{"missing required option --" + name};
  return it->second;
}

long long Args::get_int(const std::string& name, long long fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (errno || end == it->second.c_str() || *end) {
    throw UsageError{"option --" + name + " expects an integer, got '" + it->second + "'"};
  }
  return v;
}

}  // namespace nextlm::cli
