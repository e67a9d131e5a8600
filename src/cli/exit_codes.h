// Exit codes of the pystrobe executable, documented in README.md. Each kind
// of bad input has its own, so scripts can tell them apart.
#ifndef PYSTROBE_SRC_CLI_EXIT_CODES_H_
#define PYSTROBE_SRC_CLI_EXIT_CODES_H_

#include <sys/types.h>

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

// For a failure while working on `pid`, which existed when pystrobe started:
// if the target has exited meanwhile (gone, or a zombie), whatever the error
// says, the truth is "the target exited" (a read of its memory fails with
// EFAULT or ESRCH, a /proc file vanishes, ...). Returns that status, else
// `status` unchanged.
absl::Status ExplainFailure(pid_t pid, absl::Status status);

// Prints "pystrobe: <message>" as one line on stderr.
void PrintError(const absl::Status& status);
void PrintError(const char* message);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_EXIT_CODES_H_
