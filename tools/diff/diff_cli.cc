#include "diff_cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include "pystrobe/base/text.h"

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
  return MatchOptionValue(args_, &i_, name, value, error);
}

}  // namespace pystrobe::diff_cli
