// ParseDebugOffsets over a 3.13 _Py_DebugOffsets image laid out by hand in
// the order of CPython 3.13.0's Include/internal/pycore_runtime.h, filled
// with the generated 3.13 table's values (which the layout generator took
// from the same headers with offsetof). Offsets the table does not carry are
// plausible values that pystrobe does not use.
#include "debug_offsets.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/python/layout.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

// One uint64 per member of _Py_DebugOffsets after cookie, version and
// free_threaded, in declaration order (3.13.0).
enum Word : int {
  // struct _runtime_state
  kRuntimeSize,
  kRuntimeFinalizing,
  kRuntimeInterpretersHead,
  // struct _interpreter_state
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
  kInterpGilRuntimeStateEnabled,
  kInterpGilRuntimeStateLocked,
  kInterpGilRuntimeStateHolder,
  // struct _thread_state
  kTstateSize,
  kTstatePrev,
  kTstateNext,
  kTstateInterp,
  kTstateCurrentFrame,
  kTstateThreadId,
  kTstateNativeThreadId,
  kTstateDatastackChunk,
  kTstateStatus,
  // struct _interpreter_frame
  kFrameSize,
  kFramePrevious,
  kFrameExecutable,
  kFrameInstrPtr,
  kFrameLocalsplus,
  kFrameOwner,
  // struct _code_object
  kCodeSize,
  kCodeFilename,
  kCodeName,
  kCodeQualname,
  kCodeLinetable,
  kCodeFirstlineno,
  kCodeArgcount,
  kCodeLocalsplusnames,
  kCodeLocalspluskinds,
  kCodeCoCodeAdaptive,
  // struct _pyobject
  kPyObjectSize,
  kPyObjectObType,
  // struct _type_object
  kTypeSize,
  kTypeTpName,
  kTypeTpRepr,
  kTypeTpFlags,
  // struct _tuple_object
  kTupleSize,
  kTupleObItem,
  kTupleObSize,
  // struct _list_object
  kListSize,
  kListObItem,
  kListObSize,
  // struct _dict_object
  kDictSize,
  kDictMaKeys,
  kDictMaValues,
  // struct _float_object
  kFloatSize,
  kFloatObFval,
  // struct _long_object
  kLongSize,
  kLongLvTag,
  kLongObDigit,
  // struct _bytes_object
  kBytesSize,
  kBytesObSize,
  kBytesObSval,
  // struct _unicode_object
  kUnicodeSize,
  kUnicodeState,
  kUnicodeLength,
  kUnicodeAsciiobjectSize,
  // struct _gc
  kGcSize,
  kGcCollecting,
  kWords,
};

constexpr uint64_t kGilOffset = 100000;  // of _gil in PyInterpreterState

const Layout& Table313() {
  const LayoutEntry* entry = FindLayout(PythonVersion{3, 13, 0, false});
  EXPECT_NE(entry, nullptr);
  return entry->layout;
}

uint64_t T(Field f) { return static_cast<uint64_t>(*Table313().Offset(f)); }

std::vector<uint64_t> Words313() {
  std::vector<uint64_t> w(kWords, 0);
  w[kRuntimeSize] = 200000;
  w[kRuntimeFinalizing] = 616;
  w[kRuntimeInterpretersHead] = T(Field::kRuntimeInterpretersHead);
  w[kInterpSize] = T(Field::kSizeofInterpreterState);
  w[kInterpId] = 7256;
  w[kInterpNext] = T(Field::kInterpNext);
  w[kInterpThreadsHead] = T(Field::kInterpTstateHead);
  w[kInterpGc] = 7400;
  w[kInterpImportsModules] = 9000;
  w[kInterpSysdict] = 9100;
  w[kInterpBuiltins] = 9108;
  w[kInterpCevalGil] = T(Field::kInterpGil);
  w[kInterpGilRuntimeState] = kGilOffset;
  w[kInterpGilRuntimeStateEnabled] = kGilOffset + 4;
  w[kInterpGilRuntimeStateLocked] = kGilOffset + T(Field::kGilLocked);
  w[kInterpGilRuntimeStateHolder] = kGilOffset + T(Field::kGilLastHolder);
  w[kTstateSize] = T(Field::kSizeofThreadState);
  w[kTstatePrev] = 0;
  w[kTstateNext] = T(Field::kTstateNext);
  w[kTstateInterp] = T(Field::kTstateInterp);
  w[kTstateCurrentFrame] = T(Field::kTstateCurrentFrame);
  w[kTstateThreadId] = T(Field::kTstateThreadId);
  w[kTstateNativeThreadId] = T(Field::kTstateNativeThreadId);
  w[kTstateDatastackChunk] = 200;
  w[kTstateStatus] = 24;
  w[kFrameSize] = T(Field::kSizeofInterpreterFrame);
  w[kFramePrevious] = T(Field::kIframePrevious);
  w[kFrameExecutable] = T(Field::kIframeCode);
  w[kFrameInstrPtr] = T(Field::kIframeInstr);
  w[kFrameLocalsplus] = 72;
  w[kFrameOwner] = T(Field::kIframeOwner);
  w[kCodeSize] = T(Field::kSizeofCode);
  w[kCodeFilename] = T(Field::kCodeFilename);
  w[kCodeName] = T(Field::kCodeName);
  w[kCodeQualname] = T(Field::kCodeQualname);
  w[kCodeLinetable] = T(Field::kCodeLinetable);
  w[kCodeFirstlineno] = T(Field::kCodeFirstlineno);
  w[kCodeArgcount] = 52;
  w[kCodeLocalsplusnames] = 96;
  w[kCodeLocalspluskinds] = 104;
  w[kCodeCoCodeAdaptive] = T(Field::kCodeCodeAdaptive);
  w[kPyObjectSize] = 16;
  w[kPyObjectObType] = T(Field::kObType);
  w[kTypeSize] = 416;
  w[kTypeTpName] = 24;
  w[kTypeTpRepr] = 88;
  w[kTypeTpFlags] = 168;
  w[kTupleSize] = 32;
  w[kTupleObItem] = 24;
  w[kTupleObSize] = 16;
  w[kListSize] = 40;
  w[kListObItem] = 24;
  w[kListObSize] = 16;
  w[kDictSize] = 48;
  w[kDictMaKeys] = 32;
  w[kDictMaValues] = 40;
  w[kFloatSize] = 24;
  w[kFloatObFval] = 16;
  w[kLongSize] = 32;
  w[kLongLvTag] = 16;
  w[kLongObDigit] = 24;
  w[kBytesSize] = 40;
  w[kBytesObSize] = T(Field::kVarObSize);
  w[kBytesObSval] = T(Field::kBytesSval);
  w[kUnicodeSize] = T(Field::kUnicodeDataAny) + 8;  // sizeof(PyUnicodeObject)
  w[kUnicodeState] = T(Field::kUnicodeState);
  w[kUnicodeLength] = T(Field::kUnicodeLength);
  w[kUnicodeAsciiobjectSize] = T(Field::kSizeofAsciiObject);
  w[kGcSize] = 400;
  w[kGcCollecting] = 40;
  return w;
}

std::string Image(const std::vector<uint64_t>& words,
                  uint64_t version = 0x030D00F0, uint64_t free_threaded = 0) {
  std::string raw("xdebugpy", 8);
  raw.append(reinterpret_cast<const char*>(&version), 8);
  raw.append(reinterpret_cast<const char*>(&free_threaded), 8);
  raw.append(reinterpret_cast<const char*>(words.data()), words.size() * 8);
  // What follows in _PyRuntime (_initialized, ...); read along with it.
  raw.resize(kDebugOffsetsReadSize, '\x5a');
  return raw;
}

TEST(DebugOffsetsTest, ImageIsTheSizeOfTheRealStruct) {
  // 3 header words + 70 members (3.13.0's sizeof(_Py_DebugOffsets) = 584).
  EXPECT_EQ(24 + kWords * 8, 584);
}

TEST(DebugOffsetsTest, ParsesTheTableValues) {
  absl::StatusOr<DebugOffsets> parsed = ParseDebugOffsets(Image(Words313()));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->version, 0x030D00F0u);
  EXPECT_FALSE(parsed->free_threaded);
  const Layout& table = Table313();
  int compared = 0;
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    const Field f = static_cast<Field>(i);
    std::optional<int32_t> got = parsed->layout.Offset(f);
    if (!got) continue;
    EXPECT_EQ(got, table.Offset(f)) << FieldName(f);
    ++compared;
  }
  // Every field _Py_DebugOffsets has that the walker needs.
  for (Field f : {Field::kRuntimeInterpretersHead,
                  Field::kInterpNext,
                  Field::kInterpTstateHead,
                  Field::kInterpGil,
                  Field::kGilLocked,
                  Field::kGilLastHolder,
                  Field::kTstateNext,
                  Field::kTstateInterp,
                  Field::kTstateCurrentFrame,
                  Field::kTstateThreadId,
                  Field::kTstateNativeThreadId,
                  Field::kIframePrevious,
                  Field::kIframeCode,
                  Field::kIframeInstr,
                  Field::kIframeOwner,
                  Field::kCodeFilename,
                  Field::kCodeName,
                  Field::kCodeQualname,
                  Field::kCodeLinetable,
                  Field::kCodeFirstlineno,
                  Field::kCodeCodeAdaptive,
                  Field::kObType,
                  Field::kVarObSize,
                  Field::kBytesSval,
                  Field::kUnicodeState,
                  Field::kUnicodeLength,
                  Field::kSizeofThreadState,
                  Field::kSizeofInterpreterFrame,
                  Field::kSizeofCode,
                  Field::kSizeofAsciiObject,
                  Field::kSizeofInterpreterState}) {
    EXPECT_TRUE(parsed->layout.Has(f)) << FieldName(f);
  }
  EXPECT_GE(compared, 31);
}

TEST(DebugOffsetsTest, FreeThreadedFlag) {
  // A free-threaded build's object header is 24 bytes before ob_type.
  std::vector<uint64_t> w = Words313();
  w[kPyObjectObType] = 24;
  w[kPyObjectSize] = 32;
  // offsetof(struct _gil_runtime_state, enabled): 0 in 3.13t's headers.
  w[kInterpGilRuntimeStateEnabled] = 0;
  absl::StatusOr<DebugOffsets> parsed =
      ParseDebugOffsets(Image(w, 0x030D05F0, 1));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(parsed->free_threaded);
  EXPECT_EQ(parsed->layout.Offset(Field::kObType), 24);
  // Its GIL has `enabled`, given relative to the GIL struct itself.
  EXPECT_EQ(parsed->layout.Offset(Field::kGilEnabled),
            static_cast<int32_t>(w[kInterpGilRuntimeStateEnabled]));
}

TEST(DebugOffsetsTest, FlavourMustMatchTheObjectHeader) {
  // free_threaded with a default build's header, and the reverse: words
  // that contradict each other are refused, not half-believed.
  EXPECT_TRUE(IsInconsistent(
      ParseDebugOffsets(Image(Words313(), 0x030D05F0, 1)).status()));
  std::vector<uint64_t> w = Words313();
  w[kPyObjectObType] = 24;
  w[kPyObjectSize] = 32;
  EXPECT_FALSE(ParseDebugOffsets(Image(w)).ok());
  EXPECT_FALSE(ParseDebugOffsets(Image(Words313(), 0x030D00F0, 2)).ok())
      << "free_threaded is a flag";
}

TEST(DebugOffsetsTest, UnknownVersionIsRefusedByName) {
  // 3.16 may reorder the struct again: never guessed.
  absl::StatusOr<DebugOffsets> parsed =
      ParseDebugOffsets(Image(Words313(), 0x031000F0));
  EXPECT_TRUE(IsUnsupportedVersion(parsed.status())) << parsed.status();
  EXPECT_THAT(std::string(parsed.status().message()),
              ::testing::HasSubstr("3.16"));
}

TEST(DebugOffsetsTest, ApplyOverridesOnlyWhatItHas) {
  std::vector<uint64_t> w = Words313();
  w[kTstateCurrentFrame] = 80;  // a patch release moved it
  absl::StatusOr<DebugOffsets> parsed = ParseDebugOffsets(Image(w));
  ASSERT_THAT(parsed, IsOk());
  Layout layout = Table313();
  ApplyDebugOffsets(*parsed, layout);
  EXPECT_EQ(layout.Offset(Field::kTstateCurrentFrame), 80);
  // Not in _Py_DebugOffsets: kept from the table.
  EXPECT_EQ(layout.Offset(Field::kCodeFirstTraceable),
            Table313().Offset(Field::kCodeFirstTraceable));
  EXPECT_EQ(layout.Offset(Field::kSizeofCompactUnicode),
            Table313().Offset(Field::kSizeofCompactUnicode));
}

TEST(DebugOffsetsTest, MissingCookieIsInvalidArgument) {
  std::string raw = Image(Words313());
  raw[0] = 'X';
  EXPECT_THAT(ParseDebugOffsets(raw),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDebugOffsets(std::string(kDebugOffsetsReadSize, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DebugOffsetsTest, TooShortIsInvalidArgument) {
  std::string raw = Image(Words313()).substr(0, 100);
  EXPECT_THAT(ParseDebugOffsets(raw),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDebugOffsets(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DebugOffsetsTest, OffsetBeyondItsStructIsAnError) {
  struct Case {
    Word word;
    uint64_t value;
  };
  const uint64_t tstate_size = T(Field::kSizeofThreadState);
  const uint64_t code_size = T(Field::kSizeofCode);
  for (const Case& c : std::vector<Case>{
           {kTstateCurrentFrame, tstate_size},      // starts at the end
           {kTstateCurrentFrame, tstate_size - 4},  // 8-byte field straddles
           {kCodeName, code_size + 1000},
           {kCodeFirstlineno, code_size - 2},  // int straddles the end
           {kFrameOwner, T(Field::kSizeofInterpreterFrame)},
           {kFramePrevious, ~uint64_t{0} - 3},  // wraps around when + 8
           {kRuntimeInterpretersHead, 200000},
           {kUnicodeLength, 1 << 20},
           {kFrameSize, 0},                 // a struct of no size
           {kCodeSize, uint64_t{1} << 40},  // absurd size
           {kInterpGilRuntimeStateHolder, T(Field::kSizeofInterpreterState)},
           {kInterpGilRuntimeStateHolder, ~uint64_t{0} - 3},  // wraps + 8
           {kInterpGilRuntimeState, kGilOffset + 1000},  // after its fields
       }) {
    std::vector<uint64_t> w = Words313();
    w[c.word] = c.value;
    absl::StatusOr<DebugOffsets> parsed = ParseDebugOffsets(Image(w));
    EXPECT_TRUE(IsInconsistent(parsed.status()))
        << "word " << c.word << " = " << c.value << ": " << parsed.status();
  }
}

}  // namespace
}  // namespace pystrobe::testing
