// Exit codes of the pystrobe executable, documented in README.md. Each kind
// of bad input has its own, so scripts can tell them apart.
#ifndef PYSTROBE_SRC_CLI_EXIT_CODES_H_
#define PYSTROBE_SRC_CLI_EXIT_CODES_H_

#include "absl/status/status.h"

namespace pystrobe {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,       // anything not listed below
  kExitUsage = 2,         // bad command line
  kExitNoProcess = 3,     // no process with that PID
  kExitNoPermission = 4,  // may not read the target
  kExitNotPython = 5,     // the target is not CPython
  kExitUnsupported = 6,   // a CPython version pystrobe does not support
  kExitTargetExited = 7,  // the target exited while pystrobe worked
};

// The exit code for a failure. `attached` tells whether the target had been
// found already: a vanished process is then kExitTargetExited, not
// kExitNoProcess.
int ExitCodeFor(const absl::Status& status, bool attached);

// Prints "pystrobe: <message>" as one line on stderr.
void PrintError(const absl::Status& status);
void PrintError(const char* message);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_EXIT_CODES_H_
