// The target process as /proc shows it: existence, executable, memory maps,
// threads with their names, states and CPU time.
//
// The /proc root is a parameter so that parsing is tested on small fake trees
// under tests/data/ (ProcFs("tests/data/proc")).
//
//   ProcFs proc;  // "/proc"
//   ASSIGN_OR_RETURN(std::vector<MemoryMapping> maps, proc.ReadMaps(pid));
//   ASSIGN_OR_RETURN(std::vector<ThreadInfo> threads, proc.ListThreads(pid));
#ifndef PYSTROBE_PROCESS_PROC_FS_H_
#define PYSTROBE_PROCESS_PROC_FS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pystrobe {

// One line of /proc/PID/maps.
struct MemoryMapping {
  uint64_t start = 0;
  uint64_t end = 0;  // exclusive
  bool readable = false;
  bool writable = false;
  bool executable = false;
  bool shared = false;
  uint64_t offset = 0;  // file offset of `start`
  uint64_t inode = 0;
  std::string path;      // empty for anonymous mappings; without " (deleted)"
  bool deleted = false;  // the file was deleted or replaced since mapped

  bool Contains(uint64_t address) const {
    return address >= start && address < end;
  }
};

// Parses the text of a maps file. Malformed lines are an InvalidArgument
// error naming the line number.
absl::StatusOr<std::vector<MemoryMapping>> ParseMaps(std::string_view text);

// One thread of the target, from /proc/PID/task/TID/{comm,stat}.
struct ThreadInfo {
  pid_t tid = 0;
  std::string name;  // comm, without the trailing newline
  char state = '?';  // R, S, D, T, t, Z, X, I ...
  // utime + stime, in clock ticks (sysconf(_SC_CLK_TCK)).
  uint64_t cpu_ticks = 0;
};

// Parses the text of /proc/PID/stat (or task/TID/stat). The command name may
// contain spaces and parentheses; the state follows the last ')'.
absl::StatusOr<ThreadInfo> ParseStat(std::string_view text);

// How a dead process ended, from the text of its /proc/PID/stat while it
// is a zombie (state Z or X): field 52, the wait status its parent will
// get (Linux 3.5+). nullopt while it runs, or when the field is missing.
std::optional<int> ParseExitStatus(std::string_view stat_text);

// A wait status in words: "exit status 3", "killed by signal 9 (SIGKILL)".
std::string DescribeWaitStatus(int wait_status);

// /proc/PID/task/TID/schedstat: "cpu_ns wait_ns run_count\n" (time on a
// CPU, time waiting for one, times scheduled in). Needs CONFIG_SCHED_INFO.
struct SchedStat {
  uint64_t cpu_ns = 0;
  uint64_t wait_ns = 0;
  uint64_t run_count = 0;
};
// Parses schedstat's text without allocating (it is read on every tick).
absl::StatusOr<SchedStat> ParseSchedstat(std::string_view text);

// /proc/PID/task/TID/syscall of a thread off the CPU: "NR ARG1..ARG6 SP PC"
// in a system call, "-1 SP PC" blocked outside one (a page fault),
// "running" on a CPU (or woken while the file was read). Reading it needs
// ptrace access to the thread, and does not disturb it.
struct SyscallState {
  bool running = false;
  int64_t number = -1;  // the call; -1 when blocked outside one
  uint64_t args[6] = {};
  uint64_t sp = 0;  // the thread's user stack pointer and program counter
  uint64_t pc = 0;  // (0 when the kernel could not say)
};
// Parses that file's text; InvalidArgument for anything else.
absl::StatusOr<SyscallState> ParseSyscall(std::string_view text);

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc") : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // "<root>/<pid>"
  std::string PidPath(pid_t pid) const;

  // OK if the process exists; ProcessGoneError (naming the PID) if not.
  absl::Status CheckExists(pid_t pid) const;
  // The resolved path of /proc/PID/exe (may end in " (deleted)").
  absl::StatusOr<std::string> ExePath(pid_t pid) const;
  // The target's command line, arguments joined by spaces.
  absl::StatusOr<std::string> CommandLine(pid_t pid) const;
  absl::StatusOr<std::vector<MemoryMapping>> ReadMaps(pid_t pid) const;
  // Every thread of the process, sorted by TID. Threads that exit while the
  // list is read are left out.
  absl::StatusOr<std::vector<ThreadInfo>> ListThreads(pid_t pid) const;
  // How the process ended (ParseExitStatus), while it is a zombie; nullopt
  // while it runs or once its parent reaped it.
  std::optional<int> ExitStatus(pid_t pid) const;
  // A single thread, or ProcessGoneError if it exited.
  absl::StatusOr<ThreadInfo> ReadThread(pid_t pid, pid_t tid) const;
  // Path to open a file of the target's mount namespace:
  // "<root>/<pid>/root<path>", so binaries inside containers resolve.
  std::string InTargetRoot(pid_t pid, std::string_view path) const;

 private:
  std::string root_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PROC_FS_H_
