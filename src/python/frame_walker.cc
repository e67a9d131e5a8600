#include "frame_walker.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

// _PyInterpreterFrame.owner values (Include/internal/pycore_frame.h).
constexpr uint8_t kOwnedByGenerator = 1;
constexpr uint8_t kOwnedByCStack = 3;  // 3.12+

absl::Status TooDeep() {
  return InconsistentError(absl::StrCat(
      "frame chain longer than ", FrameWalker::kMaxDepth, " (cyclic or torn)"));
}

}  // namespace

FrameWalker::FrameWalker(const Layout* layout, const PythonVersion* version,
                         TypeAddresses types, CodeCache* codes)
    : layout_(layout), version_(version), types_(types), codes_(codes) {}

absl::Status FrameWalker::Walk(RemoteMemory& memory, const RemoteStruct& tstate,
                               std::vector<Frame>* frames) {
  frames->clear();
  if (layout_->Has(Field::kTstateFrame)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t frame, tstate.Get<uint64_t>(*layout_, Field::kTstateFrame));
    return WalkFrameObjects(memory, frame, frames);
  }
  uint64_t frame = 0;
  if (layout_->Has(Field::kTstateCframe)) {
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t cframe, tstate.Get<uint64_t>(*layout_, Field::kTstateCframe));
    if (cframe == 0) return absl::OkStatus();
    PYSTROBE_ASSIGN_OR_RETURN(frame,
                              ReadField<uint64_t>(memory, *layout_, cframe,
                                                  Field::kCframeCurrentFrame));
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(
        frame, tstate.Get<uint64_t>(*layout_, Field::kTstateCurrentFrame));
  }
  return WalkInterpreterFrames(memory, frame, frames);
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

absl::StatusOr<std::shared_ptr<const CodeInfo>> FrameWalker::ResolveCode(
    RemoteMemory& memory, uint64_t address, bool allow_other) {
  if (const std::shared_ptr<const CodeInfo>* hit =
          codes_->ValidatedThisSnapshot(address)) {
    return *hit;
  }
  PYSTROBE_ASSIGN_OR_RETURN(bool is_code,
                            LoadCode(memory, address, allow_other));
  if (!is_code) return std::shared_ptr<const CodeInfo>();
  return codes_->Get(memory, code_);
}

absl::Status FrameWalker::WalkFrameObjects(RemoteMemory& memory, uint64_t frame,
                                           std::vector<Frame>* frames) {
  // 3.10 counts f_lasti in code units, older versions in bytes.
  const int lasti_scale = version_->AtLeast(3, 10) ? 2 : 1;
  for (int depth = 0; frame != 0; ++depth) {
    if (depth >= kMaxDepth) return TooDeep();
    PYSTROBE_RETURN_IF_ERROR(
        frame_.Load(memory, *layout_, frame, Field::kSizeofFrameObject));
    if (types_.frame_type != 0) {
      PYSTROBE_ASSIGN_OR_RETURN(uint64_t type,
                                frame_.Get<uint64_t>(*layout_, Field::kObType));
      if (type != types_.frame_type) {
        return InconsistentError(absl::StrCat(
            "0x", absl::Hex(frame), " in the frame chain is not a frame"));
      }
    }
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t code, frame_.Get<uint64_t>(*layout_, Field::kFrameCode));
    PYSTROBE_ASSIGN_OR_RETURN(
        int32_t lasti, frame_.Get<int32_t>(*layout_, Field::kFrameLasti));
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t back, frame_.Get<uint64_t>(*layout_, Field::kFrameBack));
    PYSTROBE_ASSIGN_OR_RETURN(std::shared_ptr<const CodeInfo> info,
                              ResolveCode(memory, code, false));
    // f_lasti is the target's data: a torn frame can hold any int, and
    // doubling it (3.10) must not overflow.
    const int64_t offset = static_cast<int64_t>(lasti) * lasti_scale;
    if (offset < -2 || offset > std::numeric_limits<int32_t>::max()) {
      return InconsistentError(absl::StrCat("frame at 0x", absl::Hex(frame),
                                            " has f_lasti ", lasti));
    }
    int line = info->lines.LineForOffset(static_cast<int>(offset));
    frames->push_back(Frame{std::move(info), line});
    frame = back;
  }
  return absl::OkStatus();
}

absl::Status FrameWalker::WalkInterpreterFrames(RemoteMemory& memory,
                                                uint64_t frame,
                                                std::vector<Frame>* frames) {
  const bool has_cstack_owner = version_->AtLeast(3, 12);
  const bool executable_may_be_other = version_->AtLeast(3, 13);
  std::optional<int32_t> code_start = layout_->Offset(Field::kCodeCodeAdaptive);
  if (!code_start) return MissingField(Field::kCodeCodeAdaptive);
  for (int depth = 0; frame != 0; ++depth) {
    if (depth >= kMaxDepth) return TooDeep();
    PYSTROBE_RETURN_IF_ERROR(
        frame_.Load(memory, *layout_, frame, Field::kSizeofInterpreterFrame));
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t previous,
        frame_.Get<uint64_t>(*layout_, Field::kIframePrevious));
    PYSTROBE_ASSIGN_OR_RETURN(
        uint8_t owner, frame_.Get<uint8_t>(*layout_, Field::kIframeOwner));
    const uint64_t current = frame;
    frame = previous;
    if (has_cstack_owner && owner == kOwnedByCStack) continue;
    if (owner > kOwnedByCStack) {
      return InconsistentError(absl::StrCat("frame at 0x", absl::Hex(current),
                                            " has owner ", owner));
    }
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t code, frame_.Get<uint64_t>(*layout_, Field::kIframeCode));
    PYSTROBE_ASSIGN_OR_RETURN(
        std::shared_ptr<const CodeInfo> info,
        ResolveCode(memory, code, executable_may_be_other));
    if (info == nullptr) continue;
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t instr, frame_.Get<uint64_t>(*layout_, Field::kIframeInstr));
    // The bytecode lives inside the code object (co_code_adaptive), whose
    // ob_size counts its code units: an instruction pointer outside it means
    // the frame was torn or reused while being read.
    const int64_t units = info->code_units;
    const uint64_t bytecode = code + static_cast<uint64_t>(*code_start);
    // Both values are the target's data: subtract without signed overflow
    // (the difference wraps in uint64), and bound units before doubling it.
    const auto offset = static_cast<int64_t>(instr - bytecode);
    if (units < 0 || units > std::numeric_limits<int32_t>::max() / 2 ||
        offset < -2 || offset > 2 * units) {
      return InconsistentError(absl::StrCat("instruction pointer of frame 0x",
                                            absl::Hex(current),
                                            " is outside its code object"));
    }
    if (layout_->Has(Field::kCodeFirstTraceable) &&
        owner != kOwnedByGenerator) {
      // A frame still running its RESUME/COPY_FREE_VARS prologue is not yet
      // visible to the interpreter's own tracebacks (_PyFrame_IsIncomplete).
      if (offset < 2 * static_cast<int64_t>(info->first_traceable)) continue;
    }
    int line = info->lines.LineForOffset(static_cast<int>(offset));
    frames->push_back(Frame{std::move(info), line});
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
