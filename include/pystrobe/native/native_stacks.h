// Native + Python stacks of a process's threads (--native).
//
// Pairs a NativeUnwinder with the merge rules (merge.h) for one
// PythonProcess: after ReadThreads() of a stopped target, Merge() replaces
// a thread's Python frames by the merged stack.
//
// Threads asleep in the kernel are left running by the samplers (stopping
// them interrupts their system calls, ptrace.h); MergeSleeping() unwinds
// one from the stack pointer and program counter its syscall file gives,
// and keeps that native stack while the thread stays asleep there: a
// thread that has not been on a CPU since has the same stack, so a long
// sleeper costs one read of its syscall file per sample, not an unwind.
//
//   ASSIGN_OR_RETURN(auto native, NativeStacks::Create(*python, {}));
//   {
//     ASSIGN_OR_RETURN(PtraceSuspension stop, PtraceSuspension::Suspend(pid));
//     RETURN_IF_ERROR(python->ReadThreads(&threads));
//     for (PyThread& t : threads) native->Merge(&t);
//   }
#ifndef PYSTROBE_NATIVE_NATIVE_STACKS_H_
#define PYSTROBE_NATIVE_NATIVE_STACKS_H_

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/native/merge.h"
#include "pystrobe/native/native_unwinder.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {

enum class NativeOutcome {
  kMerged,        // frames now hold the merged stack
  kUnwindFailed,  // the native stack could not be read: Python frames kept
  kMismatch,      // eval frames and Python groups disagree: Python kept
};

class NativeStacks {
 public:
  static absl::StatusOr<std::unique_ptr<NativeStacks>> Create(
      const PythonProcess& python, MergeOptions options);

  // `thread` must be ptrace-stopped by the calling thread, and its frames
  // read while it was stopped. A thread whose stack could not be read
  // (status not OK) is left as it is (kUnwindFailed).
  NativeOutcome Merge(PyThread* thread);

  // `thread` asleep and not stopped, its frames read meanwhile: `call` is
  // what its syscall file said after they were read, `run_count` its
  // schedstat count when it was seen asleep (PtraceSuspension::sleeping).
  // A thread that woke meanwhile ("running", or a count that is not the
  // one its stack was kept with) is unwound again or fails; the caller
  // still discards the sample of one that ran while its stack was read
  // (SleepersThatRan).
  NativeOutcome MergeSleeping(PyThread* thread, const SyscallState& call,
                              uint64_t run_count);
  // Drops the stacks kept for threads that are not sleepers of `stop`:
  // those that woke or exited.
  void KeepSleepers(const PtraceSuspension& stop);
  // How many sleeping stacks were unwound and how many reused.
  uint64_t sleeper_unwinds() const { return sleeper_unwinds_; }
  uint64_t sleeper_reuses() const { return sleeper_reuses_; }

  // The last Merge's native stack (innermost first), e.g. to show what
  // could not be merged (MergeSleeping leaves it empty).
  const std::vector<NativeFrame>& last_native() const { return native_; }
  const InterpreterFrames& interpreter() const { return interpreter_; }
  NativeUnwinder& unwinder() { return *unwinder_; }

 private:
  NativeStacks(std::unique_ptr<NativeUnwinder> unwinder,
               InterpreterFrames interpreter, MergeOptions options)
      : unwinder_(std::move(unwinder)),
        interpreter_(std::move(interpreter)),
        options_(options) {}
  NativeOutcome MergeWith(PyThread* thread,
                          const std::vector<NativeFrame>& native);

  std::unique_ptr<NativeUnwinder> unwinder_;
  InterpreterFrames interpreter_;
  MergeOptions options_;
  std::vector<NativeFrame> native_;
  std::vector<Frame> merged_;
  // A sleeping thread's native stack and what proves it unchanged.
  struct SleepingStack {
    uint64_t run_count = 0;
    uint64_t sp = 0;
    uint64_t pc = 0;
    std::vector<NativeFrame> frames;  // empty: the unwind failed
  };
  absl::flat_hash_map<pid_t, SleepingStack> sleeping_;
  uint64_t sleeper_unwinds_ = 0;
  uint64_t sleeper_reuses_ = 0;
};

}  // namespace pystrobe

#endif  // PYSTROBE_NATIVE_NATIVE_STACKS_H_
