// Stopping every thread of a process for a consistent snapshot.
//
// Attaching is a factory: Suspend() seizes and interrupts all threads,
// re-reading the thread list until it stops changing, and on any failure
// detaches from those it already stopped. The destructor always resumes the
// target, so it is never left stopped by an error path:
//
//   {
//     ASSIGN_OR_RETURN(PtraceSuspension stop, PtraceSuspension::Suspend(pid));
//     ReadStacks(...);
//   }  // every thread runs again here
#ifndef PYSTROBE_PROCESS_PTRACE_H_
#define PYSTROBE_PROCESS_PTRACE_H_

#include <sys/types.h>

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

  const std::vector<pid_t>& threads() const { return tids_; }

 private:
  explicit PtraceSuspension(std::vector<pid_t> tids) : tids_(std::move(tids)) {}
  std::vector<pid_t> tids_;
};

// The line to show a user who may not trace `pid`, naming the remedy:
// run as root or as the process owner, grant CAP_SYS_PTRACE, or lower
// kernel.yama.ptrace_scope (its current value is read and shown).
std::string PermissionAdvice(pid_t pid);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PTRACE_H_
