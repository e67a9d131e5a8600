// Native + Python stacks of a process's stopped threads (--native).
//
// Pairs a NativeUnwinder with the merge rules (merge.h) for one
// PythonProcess: after ReadThreads() of a stopped target, Merge() replaces
// a thread's Python frames by the merged stack.
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

#include "absl/status/statusor.h"
#include "pystrobe/native/merge.h"
#include "pystrobe/native/native_unwinder.h"
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

  // The last Merge's native stack (innermost first), e.g. to show what
  // could not be merged.
  const std::vector<NativeFrame>& last_native() const { return native_; }
  const InterpreterFrames& interpreter() const { return interpreter_; }
  NativeUnwinder& unwinder() { return *unwinder_; }

 private:
  NativeStacks(std::unique_ptr<NativeUnwinder> unwinder,
               InterpreterFrames interpreter, MergeOptions options)
      : unwinder_(std::move(unwinder)),
        interpreter_(std::move(interpreter)),
        options_(options) {}
  std::unique_ptr<NativeUnwinder> unwinder_;
  InterpreterFrames interpreter_;
  MergeOptions options_;
  std::vector<NativeFrame> native_;
  std::vector<Frame> merged_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_NATIVE_NATIVE_STACKS_H_
