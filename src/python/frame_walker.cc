#include "frame_walker.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

// _PyInterpreterFrame.owner values: enum _frameowner in
// Include/internal/pycore_frame.h (3.11-3.13) and
// Include/internal/pycore_interpframe_structs.h (3.14+).
//   3.11-3.13: THREAD 0, GENERATOR 1, FRAME_OBJECT 2, CSTACK 3
//   3.14:      THREAD 0, GENERATOR 1, FRAME_OBJECT 2, INTERPRETER 3, CSTACK 4
//   3.15:      THREAD 0, GENERATOR 1, FRAME_OBJECT 2, INTERPRETER 3
// Frames owned by the C stack (3.12+) or the interpreter (3.14+: entry and
// sentinel frames) are never Python frames (_PyFrame_IsIncomplete).
constexpr uint8_t kOwnedByGenerator = 1;

// The first owner value that is not a Python frame, and the highest valid.
struct OwnerRange {
  uint8_t first_skipped;
  uint8_t max;
};
OwnerRange OwnersOf(const PythonVersion& v) {
  if (v.AtLeast(3, 15)) return {3, 3};
  if (v.AtLeast(3, 14)) return {3, 4};
  if (v.AtLeast(3, 12)) return {3, 3};
  return {4, 3};  // 3.11: no C-stack owner, frames use is_entry instead
}

// _PyCodeArray (Include/cpython/code.h, free-threaded 3.14+):
// {Py_ssize_t size; char *entries[];}; entries[0] is co_code_adaptive.
constexpr int64_t kMaxTlbcEntries = 1 << 16;

// Brent's cycle detection over a chain of frame addresses: one comparison
// per link and no memory. A chain read while its thread ran can loop (a
// frame's `previous` read before the thread reused another frame's slot):
// the walk stops within about twice the loop's length plus its tail,
// instead of running to kMaxDepth (16,384 frames from the page cache, 100+
// us that every later thread of the tick waited for; 3.13's busy threads
// tore into such loops in half of their torn walks).
class LoopGuard {
 public:
  // False if `address` closes a loop in the chain walked so far.
  bool Fresh(uint64_t address) {
    if (address == mark_) return false;
    if (++steps_ == power_) {
      mark_ = address;
      power_ *= 2;
      steps_ = 0;
    }
    return true;
  }

 private:
  uint64_t mark_ = 0;  // never a frame: a chain ends at 0
  uint32_t power_ = 1;
  uint32_t steps_ = 0;
};

absl::Status Loops(uint64_t frame) {
  return InconsistentError(absl::StrCat("frame chain loops back to 0x",
                                        absl::Hex(frame), " (torn)"));
}

absl::Status TooDeep() {
  return InconsistentError(absl::StrCat(
      "frame chain longer than ", FrameWalker::kMaxDepth, " (cyclic or torn)"));
}

int32_t OffsetOr(const Layout& layout, Field field) {
  return layout.Offset(field).value_or(-1);
}

// Field `offset` of a loaded frame; the walker checked at construction that
// every offset it reads lies inside the struct it loads.
template <typename T>
T At(const RemoteStruct& s, int32_t offset) {
  T value;
  std::memcpy(&value, s.data() + offset, sizeof(T));
  return value;
}

// Writes frame `n` of `frames`, growing the vector only past its old size;
// an unchanged frame keeps its shared_ptr (no reference count traffic).
void Emit(std::vector<Frame>* frames, size_t n,
          const std::shared_ptr<const CodeInfo>& code, int line, bool entry,
          uint64_t address) {
  if (n < frames->size()) {
    Frame& f = (*frames)[n];
    if (f.code != code) f.code = code;
    f.line = line;
    f.entry = entry;
    f.entry_frame = 0;
    f.address = address;
  } else {
    frames->push_back(Frame{code, line, entry, 0, address});
  }
}

}  // namespace

FrameWalker::FrameWalker(const Layout* layout, const PythonVersion* version,
                         TypeAddresses types, CodeCache* codes)
    : layout_(layout), version_(version), types_(types), codes_(codes) {
  const bool interpreter_frames = !layout->Has(Field::kTstateFrame);
  FrameOffsets& o = offsets_;
  o.ob_type = OffsetOr(*layout, Field::kObType);
  if (interpreter_frames) {
    o.previous = OffsetOr(*layout, Field::kIframePrevious);
    o.code = OffsetOr(*layout, Field::kIframeCode);
    o.instr = OffsetOr(*layout, Field::kIframeInstr);
    o.owner = OffsetOr(*layout, Field::kIframeOwner);
    o.is_entry = OffsetOr(*layout, Field::kIframeIsEntry);
    o.size = OffsetOr(*layout, Field::kSizeofInterpreterFrame);
    o.code_adaptive = OffsetOr(*layout, Field::kCodeCodeAdaptive);
    if (layout->Has(Field::kIframeTlbcIndex) && layout->Has(Field::kCodeTlbc)) {
      o.tlbc_index = OffsetOr(*layout, Field::kIframeTlbcIndex);
      o.code_tlbc = OffsetOr(*layout, Field::kCodeTlbc);
    }
  } else {
    o.previous = OffsetOr(*layout, Field::kFrameBack);
    o.code = OffsetOr(*layout, Field::kFrameCode);
    o.lasti = OffsetOr(*layout, Field::kFrameLasti);
    o.size = OffsetOr(*layout, Field::kSizeofFrameObject);
  }
  // A layout whose frame fields do not fit its frame struct is a table bug;
  // refuse to read frames with it rather than check every access.
  auto fits = [&](int32_t offset, size_t size) {
    return offset >= 0 &&
           static_cast<size_t>(offset) + size <= static_cast<size_t>(o.size);
  };
  const bool ok =
      o.size > 0 && static_cast<size_t>(o.size) <= RemoteStruct::kMaxSize &&
      fits(o.previous, 8) && fits(o.code, 8) &&
      (interpreter_frames
           ? fits(o.instr, 8) && fits(o.owner, 1) && o.code_adaptive > 0 &&
                 (o.is_entry < 0 || fits(o.is_entry, 1)) &&
                 (o.tlbc_index < 0 || fits(o.tlbc_index, 4))
           : fits(o.lasti, 4) && fits(o.ob_type, 8));
  if (!ok) o.size = -1;
}

absl::Status FrameWalker::Walk(RemoteMemory& memory, const RemoteStruct& tstate,
                               std::vector<Frame>* frames) {
  if (offsets_.size < 0) {
    return absl::InternalError(
        "the layout's frame fields do not fit its frame");
  }
  if (layout_->Has(Field::kTstateFrame)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t frame, tstate.Get<uint64_t>(*layout_, Field::kTstateFrame));
    return WalkFrameObjects(memory, frame, frames);
  }
  uint64_t frame = 0;
  uint64_t base_frame = 0;
  if (layout_->Has(Field::kTstateBaseFrame)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        base_frame, tstate.Get<uint64_t>(*layout_, Field::kTstateBaseFrame));
  }
  if (layout_->Has(Field::kTstateCframe)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t cframe, tstate.Get<uint64_t>(*layout_, Field::kTstateCframe));
    if (cframe == 0) {
      frames->clear();
      return absl::OkStatus();
    }
    PYSTROBE_ASSIGN_OR_RETURN(frame,
                              ReadField<uint64_t>(memory, *layout_, cframe,
                                                  Field::kCframeCurrentFrame));
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(
        frame, tstate.Get<uint64_t>(*layout_, Field::kTstateCurrentFrame));
  }
  return WalkInterpreterFrames(memory, frame, base_frame, frames);
}

absl::StatusOr<bool> FrameWalker::LoadCode(RemoteMemory& memory,
                                           uint64_t address, bool allow_other) {
  if (address == 0) {
    if (allow_other) return false;
    return InconsistentError("frame without a code object");
  }
  PYSTROBE_RETURN_IF_ERROR(
      code_.Load(memory, *layout_, address, Field::kSizeofCode));
  if (types_.code_type != 0) {
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t type,
                              code_.Get<uint64_t>(*layout_, Field::kObType));
    if (type != types_.code_type) {
      if (allow_other) return false;
      return InconsistentError(absl::StrCat(
          "frame's code at 0x", absl::Hex(address), " is not a code object"));
    }
  }
  return true;
}

absl::StatusOr<FrameWalker::MemoEntry*> FrameWalker::ResolveCode(
    RemoteMemory& memory, uint64_t address, bool allow_other) {
  const uint64_t snapshot = codes_->snapshot();
  MemoEntry& memo = memo_[(address >> 4) & (kMemoSize - 1)];
  if (memo.address == address && memo.snapshot == snapshot) return &memo;
  memo.address = address;
  memo.snapshot = 0;  // until validated below
  memo.last_offset = kNoOffset;
  if (const std::shared_ptr<const CodeInfo>* hit =
          codes_->ValidatedThisSnapshot(address)) {
    memo.info = *hit;
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(bool is_code,
                              LoadCode(memory, address, allow_other));
    if (!is_code) {
      memo.info = nullptr;
    } else {
      PYSTROBE_ASSIGN_OR_RETURN(memo.info, codes_->Get(memory, code_));
    }
  }
  memo.snapshot = snapshot;
  return &memo;
}

int FrameWalker::LineFor(MemoEntry& code, int offset) {
  if (offset != code.last_offset) {
    code.last_line = code.info->lines.LineForOffset(offset);
    code.last_offset = offset;
  }
  return code.last_line;
}

void FrameWalker::PrefetchCodes(RemoteMemory& memory, uint8_t first_skipped) {
  const uint64_t snapshot = codes_->snapshot();
  const auto size =
      static_cast<size_t>(layout_->Offset(Field::kSizeofCode).value_or(0));
  prefetch_.clear();
  uint64_t last = 0;
  for (const RawFrame& raw : raw_) {
    if (raw.owner >= first_skipped || raw.code == 0) continue;
    // Recursion runs one code object in a row of frames: announce it once.
    if (raw.code == last) continue;
    last = raw.code;
    const MemoEntry& memo = memo_[(raw.code >> 4) & (kMemoSize - 1)];
    if (memo.address == raw.code && memo.snapshot == snapshot) continue;
    if (codes_->ValidatedThisSnapshot(raw.code) != nullptr) continue;
    prefetch_.push_back(ReadRequest{raw.code, nullptr, size});
  }
  if (prefetch_.size() > 1) memory.Prefetch(prefetch_);
}

absl::Status FrameWalker::WalkFrameObjects(RemoteMemory& memory, uint64_t frame,
                                           std::vector<Frame>* frames) {
  // 3.10 counts f_lasti in code units, older versions in bytes.
  const int lasti_scale = version_->AtLeast(3, 10) ? 2 : 1;
  const FrameOffsets& o = offsets_;
  // First the chain, then the code objects it runs, fetched together.
  raw_.clear();
  LoopGuard loop;
  for (int depth = 0; frame != 0; ++depth) {
    if (depth >= kMaxDepth) return TooDeep();
    if (!loop.Fresh(frame)) return Loops(frame);
    PYSTROBE_RETURN_IF_ERROR(
        frame_.LoadBytes(memory, frame, static_cast<size_t>(o.size)));
    if (types_.frame_type != 0 &&
        At<uint64_t>(frame_, o.ob_type) != types_.frame_type) {
      return InconsistentError(absl::StrCat(
          "0x", absl::Hex(frame), " in the frame chain is not a frame"));
    }
    RawFrame raw;
    raw.address = frame;
    raw.code = At<uint64_t>(frame_, o.code);
    raw.lasti = At<int32_t>(frame_, o.lasti);
    raw_.push_back(raw);
    frame = At<uint64_t>(frame_, o.previous);
  }
  PrefetchCodes(memory, UINT8_MAX);

  size_t n = 0;
  for (const RawFrame& raw : raw_) {
    PYSTROBE_ASSIGN_OR_RETURN(MemoEntry * resolved,
                              ResolveCode(memory, raw.code, false));
    // f_lasti is the target's data: a torn frame can hold any int, and
    // doubling it (3.10) must not overflow.
    const int64_t offset = static_cast<int64_t>(raw.lasti) * lasti_scale;
    if (offset < -2 || offset > std::numeric_limits<int32_t>::max()) {
      return InconsistentError(absl::StrCat(
          "frame at 0x", absl::Hex(raw.address), " has f_lasti ", raw.lasti));
    }
    // Each frame object is run by a C call of the eval function of its own.
    Emit(frames, n++, resolved->info,
         LineFor(*resolved, static_cast<int>(offset)), true, raw.address);
  }
  frames->resize(n);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FrameWalker::ThreadLocalBytecode(
    RemoteMemory& memory, uint64_t code, int32_t index, uint64_t frame) const {
  // Free-threaded 3.14+: a thread may run its own specialized copy of the
  // bytecode, co_tlbc->entries[tlbc_index] (_PyFrame_GetBytecode).
  if (index == 0) return code + static_cast<uint64_t>(offsets_.code_adaptive);
  uint64_t tlbc = 0;
  PYSTROBE_RETURN_IF_ERROR(memory.Read(
      code + static_cast<uint64_t>(offsets_.code_tlbc), &tlbc, sizeof(tlbc)));
  int64_t size = 0;
  if (tlbc != 0) {
    PYSTROBE_RETURN_IF_ERROR(memory.Read(tlbc, &size, sizeof(size)));
  }
  if (tlbc == 0 || index < 0 || size > kMaxTlbcEntries || index >= size) {
    return InconsistentError(absl::StrCat("frame at 0x", absl::Hex(frame),
                                          " runs thread-local bytecode ", index,
                                          " of ", size));
  }
  uint64_t bytecode = 0;
  PYSTROBE_RETURN_IF_ERROR(
      memory.Read(tlbc + 8 + 8 * static_cast<uint64_t>(index), &bytecode,
                  sizeof(bytecode)));
  return bytecode;
}

absl::Status FrameWalker::ReadOneFrame(RemoteMemory& memory, uint64_t frame,
                                       std::vector<Frame>* frames) {
  const FrameOffsets& o = offsets_;
  if (o.instr < 0) {
    return absl::FailedPreconditionError("no interpreter frames before 3.11");
  }
  PYSTROBE_RETURN_IF_ERROR(
      frame_.LoadBytes(memory, frame, static_cast<size_t>(o.size)));
  const uint64_t mask =
      version_->AtLeast(3, 14) ? ~kStackRefTagBits : ~uint64_t{0};
  const uint64_t code = At<uint64_t>(frame_, o.code) & mask;
  const uint64_t instr = At<uint64_t>(frame_, o.instr);
  PYSTROBE_ASSIGN_OR_RETURN(
      MemoEntry * resolved,
      ResolveCode(memory, code, version_->AtLeast(3, 13)));
  if (resolved->info == nullptr) return absl::OkStatus();
  const int64_t units = resolved->info->code_units;
  // Free-threaded 3.14+ builds may run a thread's own copy of the bytecode;
  // a suspended coroutine keeps its index like any frame.
  uint64_t bytecode = code + static_cast<uint64_t>(o.code_adaptive);
  if (o.tlbc_index >= 0) {
    PYSTROBE_ASSIGN_OR_RETURN(
        bytecode, ThreadLocalBytecode(
                      memory, code, At<int32_t>(frame_, o.tlbc_index), frame));
  }
  const auto offset = static_cast<int64_t>(instr - bytecode);
  if (units < 0 || units > std::numeric_limits<int32_t>::max() / 2 ||
      offset < -2 || offset > 2 * units) {
    return InconsistentError(absl::StrCat("instruction pointer of frame 0x",
                                          absl::Hex(frame),
                                          " is outside its code object"));
  }
  Emit(frames, frames->size(), resolved->info,
       LineFor(*resolved, static_cast<int>(offset)), false, frame);
  return absl::OkStatus();
}

absl::Status FrameWalker::WalkInterpreterFrames(RemoteMemory& memory,
                                                uint64_t frame,
                                                uint64_t base_frame,
                                                std::vector<Frame>* frames) {
  const OwnerRange owners = OwnersOf(*version_);
  const bool executable_may_be_other = version_->AtLeast(3, 13);
  const uint64_t executable_mask =
      version_->AtLeast(3, 14) ? ~kStackRefTagBits : ~uint64_t{0};
  const bool has_first_traceable = layout_->Has(Field::kCodeFirstTraceable);
  const bool thread_local_bytecode = offsets_.tlbc_index >= 0;
  const FrameOffsets& o = offsets_;
  size_t n = 0;
  // Frames [group_start, n) were run by the same C call of the eval
  // function so far; the outermost of them gets Frame::entry when the
  // group closes (marking is idempotent, so consecutive entry or sentinel
  // frames close it once).
  size_t group_start = 0;
  auto close_group = [&](uint64_t entry_frame) {
    if (n > group_start) {
      (*frames)[n - 1].entry = true;
      (*frames)[n - 1].entry_frame = entry_frame;
    }
    group_start = n;
  };
  // First the chain (frames are contiguous in the data stack: few pages),
  // then the code objects it runs, fetched together, then the frames.
  raw_.clear();
  LoopGuard loop;
  for (int depth = 0; frame != 0; ++depth) {
    if (depth >= kMaxDepth) return TooDeep();
    if (!loop.Fresh(frame)) return Loops(frame);
    PYSTROBE_RETURN_IF_ERROR(
        frame_.LoadBytes(memory, frame, static_cast<size_t>(o.size)));
    RawFrame raw;
    raw.address = frame;
    raw.owner = At<uint8_t>(frame_, o.owner);
    raw.is_entry = o.is_entry >= 0 && At<uint8_t>(frame_, o.is_entry);
    raw.code = At<uint64_t>(frame_, o.code) & executable_mask;
    raw.instr = At<uint64_t>(frame_, o.instr);
    if (thread_local_bytecode) {
      raw.tlbc_index = At<int32_t>(frame_, offsets_.tlbc_index);
    }
    frame = At<uint64_t>(frame_, o.previous);
    if (raw.owner > owners.max) {
      return InconsistentError(absl::StrCat(
          "frame at 0x", absl::Hex(raw.address), " has owner ", raw.owner));
    }
    raw_.push_back(raw);
  }
  PYSTROBE_RETURN_IF_ERROR(CheckChainEnd(owners.first_skipped, base_frame));
  PrefetchCodes(memory, owners.first_skipped);

  for (const RawFrame& raw : raw_) {
    const uint64_t current = raw.address;
    // 3.12+: an entry (or sentinel) frame lies below the frames of each
    // eval call. 3.11: the first frame of each call is flagged is_entry
    // (closed after it is emitted, below, or here when it is skipped).
    if (raw.owner >= owners.first_skipped) {
      close_group(current);
      continue;
    }
    struct CloseIfEntry {
      bool entry;
      decltype(close_group)& close;
      ~CloseIfEntry() {
        if (entry) close(0);
      }
    } close_if_entry{raw.is_entry, close_group};
    const uint64_t code = raw.code;
    PYSTROBE_ASSIGN_OR_RETURN(
        MemoEntry * resolved,
        ResolveCode(memory, code, executable_may_be_other));
    const CodeInfo* info = resolved->info.get();
    if (info == nullptr) continue;
    // The bytecode lives inside the code object (co_code_adaptive), whose
    // ob_size counts its code units: an instruction pointer outside it means
    // the frame was torn or reused while being read.
    const int64_t units = info->code_units;
    uint64_t bytecode = code + static_cast<uint64_t>(o.code_adaptive);
    if (thread_local_bytecode) {
      PYSTROBE_ASSIGN_OR_RETURN(
          bytecode, ThreadLocalBytecode(memory, code, raw.tlbc_index, current));
    }
    // Both values are the target's data: subtract without signed overflow
    // (the difference wraps in uint64), and bound units before doubling it.
    const auto offset = static_cast<int64_t>(raw.instr - bytecode);
    if (units < 0 || units > std::numeric_limits<int32_t>::max() / 2 ||
        offset < -2 || offset > 2 * units) {
      return InconsistentError(absl::StrCat("instruction pointer of frame 0x",
                                            absl::Hex(current),
                                            " is outside its code object"));
    }
    if (has_first_traceable && raw.owner != kOwnedByGenerator) {
      // A frame still running its RESUME/COPY_FREE_VARS prologue is not yet
      // visible to the interpreter's own tracebacks (_PyFrame_IsIncomplete).
      if (offset < 2 * static_cast<int64_t>(info->first_traceable)) continue;
    }
    Emit(frames, n++, resolved->info,
         LineFor(*resolved, static_cast<int>(offset)), false, current);
  }
  frames->resize(n);
  return absl::OkStatus();
}

absl::Status FrameWalker::CheckChainEnd(uint8_t first_skipped,
                                        uint64_t base_frame) const {
  if (raw_.empty()) return absl::OkStatus();
  const RawFrame& outermost = raw_.back();
  // 3.15: every thread's chain ends at the sentinel embedded in its thread
  // state; a chain that ends anywhere else was torn while being read.
  if (base_frame != 0) {
    if (outermost.address == base_frame) return absl::OkStatus();
    return InconsistentError(absl::StrCat(
        "frame chain ends at 0x", absl::Hex(outermost.address),
        ", not at the thread's base frame 0x", absl::Hex(base_frame)));
  }
  if (version_->AtLeast(3, 15)) return absl::OkStatus();
  // 3.12-3.14: every C call of the eval function pushes an entry frame
  // (owned by the C stack, 3 on 3.12/3.13; by the interpreter, 3 on 3.14)
  // below the frame it runs, so the outermost frame of any thread is one.
  // A chain ending at a Python frame was cut while read: the thread had
  // just pushed or popped a frame whose `previous` was not written yet
  // (a coroutine's frame keeps NULL there while suspended).
  if (version_->AtLeast(3, 12)) {
    if (outermost.owner >= first_skipped) return absl::OkStatus();
    return InconsistentError(
        absl::StrCat("frame chain ends at 0x", absl::Hex(outermost.address),
                     " (owner ", outermost.owner, "), not at an entry frame"));
  }
  // 3.11: the first frame of each eval call is flagged is_entry, the
  // outermost frame of a thread too. A generator's frame keeps the flag
  // from its last resumption and NULL in `previous` once it yields: read
  // just after, it looks like a whole chain. A thread's outermost frame is
  // a function's or a module's (a generator resumed from C with no Python
  // caller at all is not worth the wrong stacks: 41% of a busy thread's
  // samples in record_errors_test were such a lone `<genexpr>`).
  if (offsets_.is_entry >= 0 &&
      (!outermost.is_entry || outermost.owner == kOwnedByGenerator)) {
    return InconsistentError(absl::StrCat(
        "frame chain ends at 0x", absl::Hex(outermost.address), " (owner ",
        outermost.owner, "), not at the frame a thread started with"));
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
