// Stopping every thread of a process for a consistent snapshot.
//
// Attaching is a factory: Suspend() seizes and interrupts all threads,
// re-reading the thread list until it stops changing, and on any failure
// detaches from those it already stopped. The destructor always resumes the
// target, so it is never left stopped by an error path.
//
// Why PTRACE_SEIZE + PTRACE_INTERRUPT rather than PTRACE_ATTACH: ATTACH
// stops the tracee by sending it SIGSTOP, which the target can observe (a
// parent waiting with WUNTRACED sees its child stop, a pending SIGSTOP can
// leak into a job-control stop if detaching races with it). INTERRUPT stops
// the thread with a ptrace trap that no signal handler, waiter or job control
// in the target ever sees. If a thread happens to stop for the delivery of
// a real signal first, that signal is held and re-injected on detach, so the
// target never loses a signal.
//
// Sleeping threads can be left alone (SuspendOptions::leave_sleepers, what
// pystrobe's samplers use). Interrupting a thread that sleeps in a system
// call makes the call return early: a write() to a full pipe returns a short
// count, and CPython's print() then loses the rest of its text (seen on 3.8,
// 3.12 and 3.13: a 3 MB print() to a pipe delivered 64 KiB and returned
// normally). A thread asleep in the kernel does not run Python code, so its
// stack holds still without being stopped; it is only read, and the caller
// asks afterwards which of those threads got onto a CPU meanwhile
// (SleepersThatRan(), from the kernel's count of times each was scheduled
// in) and discards their stacks.
//
// A ptrace tracer is a thread, not a process: create, use and destroy a
// PtraceSuspension on the same thread.
//
//   {
//     ASSIGN_OR_RETURN(PtraceSuspension stop, PtraceSuspension::Suspend(pid));
//     ReadStacks(...);
//   }  // every thread runs again here
#ifndef PYSTROBE_PROCESS_PTRACE_H_
#define PYSTROBE_PROCESS_PTRACE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace pystrobe {

struct SuspendOptions {
  // Leave threads that sleep in the kernel (states S and D) running; see
  // above. Needs /proc/PID/task/TID/schedstat (CONFIG_SCHED_INFO); without
  // it every thread is stopped.
  bool leave_sleepers = false;
};

class PtraceSuspension {
 public:
  // Uses PTRACE_SEIZE + PTRACE_INTERRUPT (no SIGSTOP is sent, so the target
  // never sees a stop signal) and waits until each thread has stopped.
  // Errors: ProcessGoneError, NoPermissionError (with what to do about it).
  static absl::StatusOr<PtraceSuspension> Suspend(
      pid_t pid, const SuspendOptions& options = {});

  PtraceSuspension(PtraceSuspension&& other) noexcept;
  PtraceSuspension& operator=(PtraceSuspension&& other) noexcept;
  PtraceSuspension(const PtraceSuspension&) = delete;
  PtraceSuspension& operator=(const PtraceSuspension&) = delete;
  ~PtraceSuspension();

  // Detaches from every thread now (the destructor then does nothing).
  void Resume();

  // The stopped threads, sorted by TID.
  const std::vector<pid_t>& threads() const { return tids_; }
  // The threads left running because they slept (leave_sleepers), sorted.
  std::vector<pid_t> sleepers() const;
  struct Sleeper {
    pid_t tid;
    uint64_t run_count;  // schedstat's timeslices when it was seen asleep
  };
  // The same with the count each had then: a thread whose count is the
  // same later has not run in between.
  const std::vector<Sleeper>& sleeping() const { return sleepers_; }
  // The sleeper `tid`, or null when it was stopped (or is not a thread of
  // the process).
  const Sleeper* FindSleeper(pid_t tid) const;
  // Those of sleepers() that have been on a CPU since Suspend looked at
  // them (or whose accounting can no longer be read): their memory may
  // have changed while it was read. Costs one read per sleeper.
  std::vector<pid_t> SleepersThatRan() const;

 private:
  PtraceSuspension(pid_t pid, std::vector<pid_t> tids, std::vector<int> signals,
                   std::vector<Sleeper> sleepers)
      : pid_(pid),
        tids_(std::move(tids)),
        signals_(std::move(signals)),
        sleepers_(std::move(sleepers)) {}
  pid_t pid_ = 0;
  std::vector<pid_t> tids_;
  // signals_[i]: the signal tids_[i] was about to receive when it stopped
  // (0 if none); handed back to it by PTRACE_DETACH.
  std::vector<int> signals_;
  std::vector<Sleeper> sleepers_;
};

// The line to show a user who may not trace `pid`, naming the remedy:
// run as root or as the process owner, grant CAP_SYS_PTRACE, or lower
// kernel.yama.ptrace_scope (its current value is read and shown).
std::string PermissionAdvice(pid_t pid);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PTRACE_H_
