// Walking one thread's Python frames, innermost first, for each frame model:
//   <= 3.10: PyThreadState.frame -> PyFrameObject chain through f_back;
//   3.11-3.12: tstate->cframe->current_frame -> _PyInterpreterFrame chain
//              through previous, skipping frames the C stack owns (3.12) and
//              frames that have not reached their first traceable
//              instruction;
//   3.13+: tstate->current_frame, where f_executable may be a non-code
//          object (skipped after a type check).
// Every pointer is checked (object types against PyCode_Type/PyFrame_Type),
// every loop is bounded, so garbage memory or a torn stack gives an error,
// never a crash, a hang or unbounded allocation.
//
//   FrameWalker walker(&layout, &version, types, &code_cache);
//   std::vector<Frame> frames;
//   RETURN_IF_ERROR(walker.Walk(memory, tstate_struct, &frames));
#ifndef PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_
#define PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "code_cache.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/python/version.h"
#include "remote_struct.h"

namespace pystrobe {

// Addresses of the type objects frames are checked against (0: unchecked).
struct TypeAddresses {
  uint64_t code_type = 0;   // PyCode_Type
  uint64_t frame_type = 0;  // PyFrame_Type (<= 3.10)
};

class FrameWalker {
 public:
  // Deeper stacks are reported as inconsistent: CPython's recursion limit
  // keeps real ones far below (and a cycle in a torn chain ends here too).
  static constexpr int kMaxDepth = 16384;

  FrameWalker(const Layout* layout, const PythonVersion* version,
              TypeAddresses types, CodeCache* codes);

  // Appends the frames of the thread whose PyThreadState is `tstate` to
  // `frames` (cleared first).
  absl::Status Walk(RemoteMemory& memory, const RemoteStruct& tstate,
                    std::vector<Frame>* frames);

 private:
  absl::Status WalkFrameObjects(RemoteMemory& memory, uint64_t frame,
                                std::vector<Frame>* frames);
  absl::Status WalkInterpreterFrames(RemoteMemory& memory, uint64_t frame,
                                     std::vector<Frame>* frames);
  // Loads and type-checks the code object at `address` into code_.
  // Returns false (with OK status) for a non-code object when `allow_other`.
  absl::StatusOr<bool> LoadCode(RemoteMemory& memory, uint64_t address,
                                bool allow_other);
  // The decoded code object at `address`: from this snapshot's validated
  // entries when it was seen already, else loaded, checked and looked up.
  // nullptr for a non-code object when `allow_other`.
  absl::StatusOr<std::shared_ptr<const CodeInfo>> ResolveCode(
      RemoteMemory& memory, uint64_t address, bool allow_other);

  const Layout* layout_;
  const PythonVersion* version_;
  TypeAddresses types_;
  CodeCache* codes_;
  RemoteStruct frame_;
  RemoteStruct code_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_
