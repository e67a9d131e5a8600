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

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace pystrobe {

class PtraceSuspension {
 public:
  // Uses PTRACE_SEIZE + PTRACE_INTERRUPT (no SIGSTOP is sent, so the target
  // never sees a stop signal) and waits until each thread has stopped.
  // Errors: ProcessGoneError, NoPermissionError (with what to do about it).
  static absl::StatusOr<PtraceSuspension> Suspend(pid_t pid);

  PtraceSuspension(PtraceSuspension&& other) noexcept;
  PtraceSuspension& operator=(PtraceSuspension&& other) noexcept;
  PtraceSuspension(const PtraceSuspension&) = delete;
  PtraceSuspension& operator=(const PtraceSuspension&) = delete;
  ~PtraceSuspension();

  // Detaches from every thread now (the destructor then does nothing).
  void Resume();

  // The stopped threads, sorted by TID.
  const std::vector<pid_t>& threads() const { return tids_; }

 private:
  PtraceSuspension(std::vector<pid_t> tids, std::vector<int> signals)
      : tids_(std::move(tids)), signals_(std::move(signals)) {}
  std::vector<pid_t> tids_;
  // signals_[i]: the signal tids_[i] was about to receive when it stopped
  // (0 if none); handed back to it by PTRACE_DETACH.
  std::vector<int> signals_;
};

// The line to show a user who may not trace `pid`, naming the remedy:
// run as root or as the process owner, grant CAP_SYS_PTRACE, or lower
// kernel.yama.ptrace_scope (its current value is read and shown).
std::string PermissionAdvice(pid_t pid);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PTRACE_H_
