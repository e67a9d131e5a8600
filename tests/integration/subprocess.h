// Processes and files for integration tests: targets that are always killed
// and reaped, commands run to completion with a time limit, scratch folders,
// and the few /proc readings the tests use as ground truth.
//
//   ScopedTempDir dir;
//   auto target = ChildProcess::Start({python, workload, dir.path()}, {},
//                                     dir.path() + "/target.log");
//   ASSERT_TRUE(target.ok()) << target.status();
//   CommandResult r = RunCommand({PystrobeBinary(), "dump", "--pid", ...});
//   // `target` is killed and reaped when it goes out of scope, even when an
//   // assertion returned early.
#ifndef PYSTROBE_TESTS_INTEGRATION_SUBPROCESS_H_
#define PYSTROBE_TESTS_INTEGRATION_SUBPROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pystrobe::integration {

// Path of the `pystrobe` CLI under test.
std::string PystrobeBinary();

// How a command ended, with everything it wrote.
struct CommandResult {
  bool exited = false;  // exited normally; exit_code is valid
  int exit_code = -1;
  int term_signal = 0;  // nonzero when a signal ended it
  bool timed_out = false;
  std::string out;
  std::string err;

  // "exit 3" / "killed by signal 11 (Segmentation fault)" / "timed out",
  // followed by the captured stdout and stderr, for failure messages.
  std::string Describe() const;
};

// Runs argv (argv[0] is a path) with stdin from /dev/null, capturing stdout and
// stderr. A command still running after `timeout` is killed, so a hung tool
// fails a test instead of hanging it.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(120));

// A child process that is killed (SIGKILL) and reaped when this object goes
// away; it also dies with the test process (PR_SET_PDEATHSIG).
class ChildProcess {
 public:
  // Starts argv with the current environment plus `env` (overriding), stdin
  // from /dev/null and stdout+stderr appended to `log_path`.
  static absl::StatusOr<ChildProcess> Start(
      const std::vector<std::string>& argv,
      const std::map<std::string, std::string>& env,
      const std::string& log_path);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // True once the child has exited. Does not reap it: its PID stays valid (a
  // zombie) until Reap(), so a tool pointed at it never sees a reused PID.
  bool HasExited() const;
  // Waits until the child has exited, without reaping; false on timeout.
  bool WaitForExit(absl::Duration timeout) const;
  // Kills the child if it still runs and reaps it. Idempotent.
  void KillAndReap();
  // The child's log so far, for failure messages.
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_ = -1;
  std::string log_path_;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class ScopedTempDir {
 public:
  ScopedTempDir();
  // A fresh folder under `parent` ("": $TMPDIR or /tmp), e.g. inside the
  // root a chrooted target runs in.
  explicit ScopedTempDir(const std::string& parent);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  // Empty if the directory could not be created.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Polls `condition` until it holds or `timeout` passes; returns its last value.
// This waits for a state the test can observe, never for time itself.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
bool FileExists(const std::string& path);

// State letter of every thread of `pid` (/proc/PID/task/TID/stat), by TID.
absl::StatusOr<std::map<int64_t, char>> ThreadStates(pid_t pid);

// /proc/PID/task/TID/syscall: the syscall number and arguments a blocked
// thread sits in; empty when the thread is running.
absl::StatusOr<std::vector<uint64_t>> ThreadSyscall(pid_t pid, int64_t tid);

// The kernel's number of read(2) on this machine's architecture.
uint64_t ReadSyscallNumber();

}  // namespace pystrobe::integration

// A measurement needs a machine that let the workload run: when a
// recording says the machine was overloaded (the target's threads waited
// for a CPU over a quarter of the time they could run), `record` warns and
// the gate refuses to judge; so does a test that measures shares of CPU.
// So does one whose sampler missed periods because it did not get a CPU
// in time (`record` says so when it took under 90% of the requested rate):
// its samples are uneven in time, which is noise the test did not ask for.
#define SKIP_IF_OVERLOADED(result)                                             \
  if ((result).out.find("overloaded machine") != std::string::npos ||          \
      (result).err.find("overloaded machine") != std::string::npos ||          \
      (result).err.find("the machine was overloaded") != std::string::npos ||  \
      (result).err.find("did not get the CPU it needed") != std::string::npos) \
  GTEST_SKIP() << "the machine was overloaded while recording:\n"              \
               << (result).err

#endif  // PYSTROBE_TESTS_INTEGRATION_SUBPROCESS_H_
