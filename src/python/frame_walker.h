// Walking one thread's Python frames, innermost first, for each frame model:
//   <= 3.10: PyThreadState.frame -> PyFrameObject chain through f_back;
//   3.11-3.12: tstate->cframe->current_frame -> _PyInterpreterFrame chain
//              through previous, skipping frames the C stack owns (3.12) and
//              frames that have not reached their first traceable
//              instruction;
//   3.13+: tstate->current_frame, where f_executable may be a non-code
//          object (skipped after a type check);
//   3.14+: f_executable is a _PyStackRef (tag bits cleared), owners are
//          renumbered, free-threaded builds may run per-thread bytecode;
//   3.15:  the chain must end at the thread state's base_frame;
//   3.12-3.14: it must end at an entry frame (owned by the C stack or the
//          interpreter); 3.11: at a frame flagged is_entry that is not a
//          generator's. A chain that
//          ends anywhere else was cut while read: an error, never a stack.
// Every pointer is checked (object types against PyCode_Type/PyFrame_Type),
// every loop is bounded, so garbage memory or a torn stack gives an error,
// never a crash, a hang or unbounded allocation.
//
//   FrameWalker walker(&layout, &version, types, &code_cache);
//   std::vector<Frame> frames;
//   RETURN_IF_ERROR(walker.Walk(memory, tstate_struct, &frames));
#ifndef PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_
#define PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
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

  // Stores the frames of the thread whose PyThreadState is `tstate` in
  // `frames`, replacing what it held. The vector is overwritten in place:
  // passing the previous snapshot's frames back in costs no allocation and
  // no reference counting for the frames that did not change. On error
  // `frames` holds an unspecified prefix.
  absl::Status Walk(RemoteMemory& memory, const RemoteStruct& tstate,
                    std::vector<Frame>* frames);

  // 3.11+: the one interpreter frame at `frame` (a suspended coroutine's,
  // embedded in its object), without following `previous`. Appends it to
  // `frames`; appends nothing for a frame that runs no code object.
  absl::Status ReadOneFrame(RemoteMemory& memory, uint64_t frame,
                            std::vector<Frame>* frames);

 private:
  absl::Status WalkFrameObjects(RemoteMemory& memory, uint64_t frame,
                                std::vector<Frame>* frames);
  // `base_frame`: 3.15's sentinel the chain must end at (0: unchecked).
  absl::Status WalkInterpreterFrames(RemoteMemory& memory, uint64_t frame,
                                     uint64_t base_frame,
                                     std::vector<Frame>* frames);
  // 3.11+: whether the chain just read into raw_ ends where the version
  // guarantees a thread's chain ends (3.15: at `base_frame`; 3.12-3.14: at
  // an entry frame, owner `first_skipped` or above; 3.11: at a frame flagged
  // is_entry, not a generator's). Inconsistent otherwise: the chain was cut
  // while read.
  absl::Status CheckChainEnd(uint8_t first_skipped, uint64_t base_frame) const;
  // Free-threaded 3.14+: where the bytecode of the frame at `frame` is,
  // running code object `code` with thread-local bytecode index `index`.
  absl::StatusOr<uint64_t> ThreadLocalBytecode(RemoteMemory& memory,
                                               uint64_t code, int32_t index,
                                               uint64_t frame) const;
  // Loads and type-checks the code object at `address` into code_.
  // Returns false (with OK status) for a non-code object when `allow_other`.
  absl::StatusOr<bool> LoadCode(RemoteMemory& memory, uint64_t address,
                                bool allow_other);
  // A few code objects resolved in this snapshot, by address: a stack runs
  // the same code objects again and again (recursion, loops of calls), and
  // this spares the hash lookup of CodeCache for each of those frames, and
  // the line lookup for a frame at the same instruction as the last one.
  // No line looked up yet (real offsets are >= -2; -1 is a frame before
  // its first instruction on <= 3.9).
  static constexpr int kNoOffset = std::numeric_limits<int>::min();
  struct MemoEntry {
    uint64_t address = 0;
    uint64_t snapshot = 0;
    std::shared_ptr<const CodeInfo> info;
    int last_offset = kNoOffset;
    int last_line = 0;
  };
  static constexpr size_t kMemoSize = 64;  // a power of two

  // The decoded code object at `address`: from this snapshot's validated
  // entries when it was seen already, else loaded, checked and looked up.
  // Its info is nullptr for a non-code object when `allow_other`. The entry
  // is valid until the next call.
  absl::StatusOr<MemoEntry*> ResolveCode(RemoteMemory& memory, uint64_t address,
                                         bool allow_other);
  static int LineFor(MemoEntry& code, int offset);

  // What the first pass over a chain keeps of each frame.
  struct RawFrame {
    uint64_t address = 0;
    uint64_t code = 0;
    uint64_t instr = 0;      // 3.11+
    int32_t lasti = 0;       // <= 3.10
    int32_t tlbc_index = 0;  // free-threaded 3.14+
    uint8_t owner = 0;       // 3.11+
    bool is_entry = false;   // 3.11
  };
  // Hints `memory` with the code objects of raw_ that this snapshot has not
  // validated yet (frames whose owner is `first_skipped` or above run none),
  // so that they arrive in one read rather than one read each.
  void PrefetchCodes(RemoteMemory& memory, uint8_t first_skipped);

  // Offsets of the fields read for every frame, looked up once (-1: the
  // version has no such field).
  struct FrameOffsets {
    int32_t ob_type = -1;
    int32_t previous = -1;  // f_back / previous
    int32_t code = -1;      // f_code / f_executable
    int32_t lasti = -1;     // f_lasti (<= 3.10)
    int32_t instr = -1;     // prev_instr / instr_ptr (3.11+)
    int32_t owner = -1;     // 3.11+
    int32_t is_entry = -1;  // 3.11 only
    int32_t size = -1;      // sizeof the frame struct
    int32_t code_adaptive = -1;
    int32_t tlbc_index = -1;  // free-threaded 3.14+
    int32_t code_tlbc = -1;   // free-threaded 3.14+
  };

  const Layout* layout_;
  const PythonVersion* version_;
  TypeAddresses types_;
  CodeCache* codes_;
  FrameOffsets offsets_;
  std::array<MemoEntry, kMemoSize> memo_;
  RemoteStruct frame_;
  RemoteStruct code_;
  std::vector<RawFrame> raw_;          // the chain being walked
  std::vector<ReadRequest> prefetch_;  // PrefetchCodes' scratch
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_FRAME_WALKER_H_
