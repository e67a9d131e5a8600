#include "diff_cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe::diff_cli {

void PrintError(const std::string& message) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "pystrobe-diff: %s\n", line.c_str());
}

void PrintError(const absl::Status& status) {
  PrintError(std::string(status.message()));
}

bool Args::Option(const char* name, std::string* value, std::string* error) {
  const std::string& a = args_[i_];
  if (a == name) {
    if (i_ + 1 >= args_.size()) {
      *error = absl::StrCat(name, " needs a value");
      return true;
    }
    *value = args_[++i_];
    return true;
  }
  const std::string prefix = absl::StrCat(name, "=");
  if (absl::StartsWith(a, prefix)) {
    *value = a.substr(prefix.size());
    return true;
  }
  return false;
}

}  // namespace pystrobe::diff_cli
