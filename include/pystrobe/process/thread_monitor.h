// Per-thread scheduling state and CPU time of a process, read cheaply on
// every sample.
//
// Each thread's /proc/PID/task/TID/stat and schedstat stay open and are
// re-read with pread(2): one syscall per file per sample instead of
// open+read+close. schedstat's first field is the thread's time on a CPU in
// nanoseconds (exact, unlike stat's clock ticks), which is what makes
// `--mode cpu` weigh samples in real CPU seconds even at low rates.
//
//   ThreadMonitor monitor(pid);
//   ASSIGN_OR_RETURN(ThreadSnapshot t, monitor.Read(tid));
//   if (t.state == 'R') ...;  t.cpu_ns ...
#ifndef PYSTROBE_PROCESS_THREAD_MONITOR_H_
#define PYSTROBE_PROCESS_THREAD_MONITOR_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

struct ThreadSnapshot {
  char state = '?';     // R, S, D, T, t, Z ...
  uint64_t cpu_ns = 0;  // time spent on a CPU since the thread started
  // Times the thread was scheduled onto a CPU (schedstat); valid only when
  // has_run_count (kernels without schedstat do not say).
  uint64_t run_count = 0;
  // Time spent runnable but waiting for a CPU (schedstat's run_delay),
  // valid with has_run_count; grows when a wait ends.
  uint64_t wait_ns = 0;
  bool has_run_count = false;
};

class ThreadMonitor {
 public:
  explicit ThreadMonitor(pid_t pid, std::string proc_root = "/proc")
      : pid_(pid), proc_root_(std::move(proc_root)) {}

  // The thread's state and CPU time now. ProcessGoneError once it exited.
  // Two syscalls; a sampler that needs only one of them (wall mode needs
  // the state, cpu mode the CPU time) calls ReadState or ReadCpu: with many
  // threads these reads are most of what a tick costs.
  absl::StatusOr<ThreadSnapshot> Read(pid_t tid);
  // The state alone (one pread of stat).
  absl::StatusOr<char> ReadState(pid_t tid);
  // The CPU time alone (one pread of schedstat, or of stat without it).
  absl::StatusOr<uint64_t> ReadCpu(pid_t tid);
  // The CPU time, run-queue delay and run count (one pread of schedstat,
  // or the CPU time from stat without it); `state` is left '?'.
  absl::StatusOr<ThreadSnapshot> ReadAccounting(pid_t tid);
  // What /proc/PID/task/TID/syscall says now (one pread; the file is
  // opened at the first call): where a sleeping thread is blocked.
  absl::StatusOr<SyscallState> ReadSyscall(pid_t tid);
  // The thread's name (comm), read once and remembered.
  const std::string& Name(pid_t tid);
  // Closes the files of threads neither read nor named since the previous
  // call (they exited or are no longer sampled), so fds stay bounded by
  // live threads.
  void ForgetUnused();

 private:
  struct Files {
    ScopedFd stat;
    ScopedFd schedstat;
    ScopedFd syscall;  // opened by the first ReadSyscall
    std::string name;
    bool used = false;
  };
  absl::StatusOr<Files*> Open(pid_t tid);
  absl::StatusOr<ThreadInfo> ReadStat(Files& files, pid_t tid);

  pid_t pid_;
  std::string proc_root_;
  absl::flat_hash_map<pid_t, Files> threads_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_THREAD_MONITOR_H_
