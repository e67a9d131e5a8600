#include "exit_codes.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/process/proc_fs.h"

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

absl::Status ExplainFailure(pid_t pid, absl::Status status) {
  if (status.ok() || IsNoPermission(status)) return status;
  ProcFs proc;
  bool gone = !proc.CheckExists(pid).ok();
  bool zombie = false;
  if (!gone) {
    absl::StatusOr<ThreadInfo> main = proc.ReadThread(pid, pid);
    zombie = main.ok() && (main->state == 'Z' || main->state == 'X');
    gone = !main.ok() || zombie;
  }
  if (!gone) return status;
  std::string line = absl::StrCat("process ", pid, " exited");
  if (zombie) {
    line += " (a zombie: its parent has not reaped it yet)";
  } else if (!IsProcessGone(status)) {
    // What failed, unless it only says the same.
    absl::StrAppend(&line, " (", status.message(), ")");
  }
  return ProcessGoneError(line);
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
