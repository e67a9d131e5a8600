#include "exit_codes.h"

#include <cstdio>
#include <string>

#include "pystrobe/base/errors.h"

namespace pystrobe {

int ExitCodeFor(const absl::Status& status, bool attached) {
  if (status.ok()) return kExitOk;
  if (IsProcessGone(status)) {
    return attached ? kExitTargetExited : kExitNoProcess;
  }
  if (IsNoPermission(status)) return kExitNoPermission;
  if (IsNotPython(status)) return kExitNotPython;
  if (IsUnsupportedVersion(status)) return kExitUnsupported;
  return kExitFailure;
}

void PrintError(const char* message) {
  std::string line(message);
  // One line, whatever the message holds.
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  std::fprintf(stderr, "pystrobe: %s\n", line.c_str());
}

void PrintError(const absl::Status& status) {
  PrintError(std::string(status.message()).c_str());
}

}  // namespace pystrobe
