// Waiting for a child's thread to be asleep in a system call, as its
// /proc/PID/task/TID/syscall file says, for tests of what pystrobe reads of
// sleeping threads.
#ifndef PYSTROBE_TESTS_UNIT_PROCESS_ASLEEP_IN_SYSCALL_H_
#define PYSTROBE_TESTS_UNIT_PROCESS_ASLEEP_IN_SYSCALL_H_

#include <sys/types.h>
#include <unistd.h>

#include "absl/status/statusor.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/thread_monitor.h"

namespace pystrobe::testing {

// What `tid`'s syscall file says once the thread is blocked in a system
// call (polled every millisecond for up to 5 s; the last answer if it never
// is), or the first read error.
inline absl::StatusOr<SyscallState> WaitUntilInASyscall(ThreadMonitor& monitor,
                                                        pid_t tid) {
  absl::StatusOr<SyscallState> call;
  for (int i = 0; i < 5000; ++i) {
    call = monitor.ReadSyscall(tid);
    if (!call.ok() || (!call->running && call->number >= 0)) return call;
    usleep(1000);
  }
  return call;
}

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_PROCESS_ASLEEP_IN_SYSCALL_H_
