#include "pystrobe/native/native_stacks.h"

#include <algorithm>
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

NativeOutcome NativeStacks::MergeWith(PyThread* thread,
                                      const std::vector<NativeFrame>& native) {
  if (native.empty()) return NativeOutcome::kUnwindFailed;
  if (!MergeNativeStack(thread->frames, native, interpreter_, options_,
                        &merged_)) {
    return NativeOutcome::kMismatch;
  }
  std::swap(thread->frames, merged_);
  return NativeOutcome::kMerged;
}

NativeOutcome NativeStacks::Merge(PyThread* thread) {
  native_.clear();
  if (!thread->status.ok() || thread->native_id == 0) {
    return NativeOutcome::kUnwindFailed;
  }
  if (!unwinder_->Unwind(thread->native_id, &native_).ok()) {
    return NativeOutcome::kUnwindFailed;
  }
  return MergeWith(thread, native_);
}

NativeOutcome NativeStacks::MergeSleeping(PyThread* thread,
                                          const SyscallState& call,
                                          uint64_t run_count) {
  native_.clear();
  if (!thread->status.ok() || thread->native_id == 0 || call.running ||
      call.sp == 0 || call.pc == 0) {
    return NativeOutcome::kUnwindFailed;
  }
  // Kept while the thread has not been on a CPU since (the same count of
  // times scheduled in) and is blocked at the same place. The count is the
  // one read before its Python frames were: a thread that ran after that
  // read and was unwound asleep elsewhere is kept under a count it no
  // longer has, so that stack is never reused.
  auto [it, fresh] = sleeping_.try_emplace(thread->native_id);
  SleepingStack& kept = it->second;
  if (fresh || kept.run_count != run_count || kept.sp != call.sp ||
      kept.pc != call.pc) {
    ++sleeper_unwinds_;
    kept.run_count = run_count;
    kept.sp = call.sp;
    kept.pc = call.pc;
    if (!unwinder_
             ->UnwindSleeping(thread->native_id, call.sp, call.pc, &kept.frames)
             .ok()) {
      kept.frames.clear();
    }
  } else {
    ++sleeper_reuses_;
  }
  return MergeWith(thread, kept.frames);
}

void NativeStacks::KeepSleepers(const PtraceSuspension& stop) {
  for (auto it = sleeping_.begin(); it != sleeping_.end();) {
    if (stop.FindSleeper(it->first) != nullptr) {
      ++it;
    } else {
      sleeping_.erase(it++);
    }
  }
}

}  // namespace pystrobe
