#include "pystrobe/native/native_stacks.h"

#include <utility>

#include "pystrobe/base/status_macros.h"

namespace pystrobe {

absl::StatusOr<std::unique_ptr<NativeStacks>> NativeStacks::Create(
    const PythonProcess& python, MergeOptions options) {
  PYSTROBE_ASSIGN_OR_RETURN(std::unique_ptr<NativeUnwinder> unwinder,
                            NativeUnwinder::Create(python.pid()));
  return std::unique_ptr<NativeStacks>(new NativeStacks(
      std::move(unwinder), InterpreterFrames(python.version(), python.binary()),
      options));
}

NativeOutcome NativeStacks::Merge(PyThread* thread) {
  native_.clear();
  if (!thread->status.ok() || thread->native_id == 0) {
    return NativeOutcome::kUnwindFailed;
  }
  if (!unwinder_->Unwind(thread->native_id, &native_).ok() || native_.empty()) {
    return NativeOutcome::kUnwindFailed;
  }
  if (!MergeNativeStack(thread->frames, native_, interpreter_, options_,
                        &merged_)) {
    return NativeOutcome::kMismatch;
  }
  std::swap(thread->frames, merged_);
  return NativeOutcome::kMerged;
}

}  // namespace pystrobe
