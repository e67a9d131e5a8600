// A command `pystrobe record -- CMD` launched, and the Python process behind
// it: CMD itself, or, when CMD is a launcher (a shell script, `env`, `make`,
// `uv run`), its first Python descendant.
//
//   ASSIGN_OR_RETURN(LaunchedCommand cmd, LaunchedCommand::Start(argv));
//   ASSIGN_OR_RETURN(auto python, cmd.FindPython(stop));
//   ... sample python ...
//   LaunchedCommand::Outcome out = cmd.Wait();
#ifndef PYSTROBE_SRC_RECORDER_LAUNCHER_H_
#define PYSTROBE_SRC_RECORDER_LAUNCHER_H_

#include <sys/types.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {

class LaunchedCommand {
 public:
  struct Outcome {
    int wait_status = 0;
    int exit_code = 0;  // the exit status, or 128 + the signal
    double cpu_s = 0;   // user + system CPU of CMD and what it waited for
  };

  // Forks and execs `argv` (searched in PATH), in `working_dir` when given
  // (an interleaved recording's base arm). The child restores the default
  // SIGINT/SIGTERM/SIGHUP dispositions. A command that cannot be executed
  // (or a folder that cannot be entered) exits 127 with a message, as a
  // shell's would.
  static absl::StatusOr<LaunchedCommand> Start(
      std::vector<std::string> argv, const std::string& working_dir = "");

  LaunchedCommand(LaunchedCommand&& other) noexcept;
  LaunchedCommand& operator=(LaunchedCommand&&) = delete;
  // Kills and reaps the command if it was never waited for.
  ~LaunchedCommand();

  pid_t pid() const { return pid_; }

  // Waits until a Python interpreter can be attached: CMD itself or its
  // first Python descendant. Gives up when CMD exits (NotPython: "no Python
  // process appeared"; the outcome is kept for Wait()), when `stop` is set
  // (Cancelled), or at once for an unsupported version or missing
  // permission.
  absl::StatusOr<std::unique_ptr<PythonProcess>> FindPython(
      const std::atomic<bool>& stop);

  // Whether CMD has exited (reaping it, without blocking).
  bool Exited() { return Reap(WNOHANG); }
  // Reaps CMD (blocking) and returns how it ended.
  Outcome Wait();
  // Sends SIGTERM (then SIGKILL after 2 s) and reaps.
  Outcome Terminate();

 private:
  explicit LaunchedCommand(pid_t pid) : pid_(pid) {}
  bool Reap(int options);  // true once CMD is reaped

  pid_t pid_ = 0;
  std::optional<Outcome> outcome_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_RECORDER_LAUNCHER_H_
