#include "debug_offsets.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"

namespace pystrobe {
namespace {

// The field order of 3.13's _Py_DebugOffsets (Include/internal/
// pycore_runtime.h), as indices of uint64 words after cookie, version and
// free_threaded. Each group starts with the struct's size.
enum Word : int {
  kRuntimeSize = 0,
  kRuntimeFinalizing,
  kRuntimeInterpretersHead,
  kInterpSize,
  kInterpId,
  kInterpNext,
  kInterpThreadsHead,
  kInterpGc,
  kInterpImportsModules,
  kInterpSysdict,
  kInterpBuiltins,
  kInterpCevalGil,
  kInterpGilRuntimeState,
  kInterpGilEnabled,
  kInterpGilLocked,
  kInterpGilHolder,
  kTstateSize,
  kTstatePrev,
  kTstateNext,
  kTstateInterp,
  kTstateCurrentFrame,
  kTstateThreadId,
  kTstateNativeThreadId,
  kTstateDatastackChunk,
  kTstateStatus,
  kFrameSize,
  kFramePrevious,
  kFrameExecutable,
  kFrameInstrPtr,
  kFrameLocalsplus,
  kFrameOwner,
  kCodeSize,
  kCodeFilename,
  kCodeName,
  kCodeQualname,
  kCodeLinetable,
  kCodeFirstlineno,
  kCodeArgcount,
  kCodeLocalsplusnames,
  kCodeLocalspluskinds,
  kCodeCodeAdaptive,
  kPyObjectSize,
  kPyObjectObType,
  kTypeSize,
  kTypeTpName,
  kTypeTpRepr,
  kTypeTpFlags,
  kTupleSize,
  kTupleObItem,
  kTupleObSize,
  kListSize,
  kListObItem,
  kListObSize,
  kDictSize,
  kDictMaKeys,
  kDictMaValues,
  kFloatSize,
  kFloatObFval,
  kLongSize,
  kLongLvTag,
  kLongObDigit,
  kBytesSize,
  kBytesObSize,
  kBytesObSval,
  kUnicodeSize,
  kUnicodeState,
  kUnicodeLength,
  kUnicodeAsciiSize,
  kWordCount,
};

constexpr size_t kHeaderSize = 24;  // cookie, version, free_threaded
// No CPython struct pystrobe reads through these offsets is near this large;
// PyInterpreterState is the largest (~100 KiB in 3.13).
constexpr uint64_t kMaxStructSize = 1 << 22;

}  // namespace

absl::StatusOr<DebugOffsets> ParseDebugOffsets(std::string_view raw) {
  if (raw.size() < kHeaderSize + size_t{kWordCount} * 8) {
    return absl::InvalidArgumentError("_Py_DebugOffsets: too few bytes");
  }
  if (std::memcmp(raw.data(), "xdebugpy", 8) != 0) {
    return absl::InvalidArgumentError(
        "_PyRuntime does not start with the _Py_DebugOffsets cookie");
  }
  DebugOffsets out;
  std::memcpy(&out.version, raw.data() + 8, 8);
  uint64_t free_threaded = 0;
  std::memcpy(&free_threaded, raw.data() + 16, 8);
  out.free_threaded = free_threaded != 0;
  std::vector<uint64_t> w(kWordCount);
  std::memcpy(w.data(), raw.data() + kHeaderSize, size_t{kWordCount} * 8);

  // Each offset must fall inside the struct whose size heads its group.
  auto field = [&](Field f, int size_word, int word,
                   size_t width) -> absl::Status {
    uint64_t size = w[size_word];
    uint64_t offset = w[word];
    // Compared without adding to `offset`, which is the target's data and
    // may be large enough to wrap.
    if (size == 0 || size > kMaxStructSize || offset > size ||
        width > size - offset) {
      return InconsistentError(
          absl::StrCat("_Py_DebugOffsets: ", std::string(FieldName(f)), " at ",
                       offset, " is outside its struct of ", size, " bytes"));
    }
    out.layout.Set(f, static_cast<int32_t>(offset));
    return absl::OkStatus();
  };
  auto size = [&](Field f, int size_word) -> absl::Status {
    if (w[size_word] == 0 || w[size_word] > kMaxStructSize) {
      return InconsistentError(absl::StrCat("_Py_DebugOffsets: bad size of ",
                                            std::string(FieldName(f))));
    }
    out.layout.Set(f, static_cast<int32_t>(w[size_word]));
    return absl::OkStatus();
  };

  struct Spec {
    Field field;
    int size_word;
    int word;
    size_t width;
  };
  const Spec specs[] = {
      {Field::kRuntimeInterpretersHead, kRuntimeSize, kRuntimeInterpretersHead,
       8},
      {Field::kInterpNext, kInterpSize, kInterpNext, 8},
      {Field::kInterpTstateHead, kInterpSize, kInterpThreadsHead, 8},
      {Field::kInterpGil, kInterpSize, kInterpCevalGil, 8},
      {Field::kTstateNext, kTstateSize, kTstateNext, 8},
      {Field::kTstateInterp, kTstateSize, kTstateInterp, 8},
      {Field::kTstateCurrentFrame, kTstateSize, kTstateCurrentFrame, 8},
      {Field::kTstateThreadId, kTstateSize, kTstateThreadId, 8},
      {Field::kTstateNativeThreadId, kTstateSize, kTstateNativeThreadId, 8},
      {Field::kIframePrevious, kFrameSize, kFramePrevious, 8},
      {Field::kIframeCode, kFrameSize, kFrameExecutable, 8},
      {Field::kIframeInstr, kFrameSize, kFrameInstrPtr, 8},
      {Field::kIframeOwner, kFrameSize, kFrameOwner, 1},
      {Field::kCodeFilename, kCodeSize, kCodeFilename, 8},
      {Field::kCodeName, kCodeSize, kCodeName, 8},
      {Field::kCodeQualname, kCodeSize, kCodeQualname, 8},
      {Field::kCodeLinetable, kCodeSize, kCodeLinetable, 8},
      {Field::kCodeFirstlineno, kCodeSize, kCodeFirstlineno, 4},
      {Field::kCodeCodeAdaptive, kCodeSize, kCodeCodeAdaptive, 2},
      {Field::kObType, kPyObjectSize, kPyObjectObType, 8},
      {Field::kVarObSize, kBytesSize, kBytesObSize, 8},
      {Field::kBytesSval, kBytesSize, kBytesObSval, 1},
      {Field::kUnicodeState, kUnicodeSize, kUnicodeState, 4},
      {Field::kUnicodeLength, kUnicodeSize, kUnicodeLength, 8},
  };
  for (const Spec& s : specs) {
    if (absl::Status st = field(s.field, s.size_word, s.word, s.width);
        !st.ok()) {
      return st;
    }
  }
  // The GIL's fields are given relative to PyInterpreterState (its embedded
  // _gil); pystrobe reads them relative to the GIL struct that ceval.gil
  // points to, which for an interpreter with its own GIL is that same _gil.
  uint64_t gil = w[kInterpGilRuntimeState];
  if (gil > w[kInterpGilLocked] || gil > w[kInterpGilHolder] ||
      w[kInterpGilHolder] > w[kInterpSize] ||
      8 > w[kInterpSize] - w[kInterpGilHolder] ||
      w[kInterpGilLocked] > w[kInterpSize] ||
      4 > w[kInterpSize] - w[kInterpGilLocked]) {
    return InconsistentError("_Py_DebugOffsets: GIL fields out of range");
  }
  out.layout.Set(Field::kGilLocked,
                 static_cast<int32_t>(w[kInterpGilLocked] - gil));
  out.layout.Set(Field::kGilLastHolder,
                 static_cast<int32_t>(w[kInterpGilHolder] - gil));

  const std::pair<Field, int> sizes[] = {
      {Field::kSizeofInterpreterState, kInterpSize},
      {Field::kSizeofThreadState, kTstateSize},
      {Field::kSizeofInterpreterFrame, kFrameSize},
      {Field::kSizeofCode, kCodeSize},
      {Field::kSizeofAsciiObject, kUnicodeAsciiSize},
  };
  for (const auto& [f, word] : sizes) {
    if (absl::Status st = size(f, word); !st.ok()) return st;
  }
  return out;
}

void ApplyDebugOffsets(const DebugOffsets& offsets, Layout& layout) {
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    Field f = static_cast<Field>(i);
    if (std::optional<int32_t> v = offsets.layout.Offset(f)) layout.Set(f, *v);
  }
}

}  // namespace pystrobe
