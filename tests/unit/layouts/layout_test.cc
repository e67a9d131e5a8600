// The committed layout table (src/python/layouts_table.inc) against the
// invariants any correct generator output satisfies, FindLayout's choice of
// entry, and the generator's own staleness check.
#include "pystrobe/python/layout.h"

#include <stdio.h>
#include <sys/wait.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using ::testing::IsNull;
using ::testing::NotNull;

int Major(const LayoutEntry& e) { return (e.version_hex >> 24) & 0xFF; }
int Minor(const LayoutEntry& e) { return (e.version_hex >> 16) & 0xFF; }
// (major, minor) as one comparable number: 3.12 -> 312.
int MajorMinor(const LayoutEntry& e) { return Major(e) * 100 + Minor(e); }

std::string Describe(const LayoutEntry& e) {
  return absl::StrFormat("%d.%d.%d%s", Major(e), Minor(e),
                         (e.version_hex >> 8) & 0xFF, e.debug ? " debug" : "");
}

int32_t Get(const LayoutEntry& e, Field f) {
  return e.layout.Offset(f).value_or(-1);
}

TEST(GeneratedLayoutsTest, HasTwoSevenAndEveryThreeSixToThreeThirteen) {
  std::set<int> release_versions;
  for (const LayoutEntry& e : GeneratedLayouts()) {
    if (!e.debug) release_versions.insert(MajorMinor(e));
  }
  for (int v : {207, 306, 307, 308, 309, 310, 311, 312, 313}) {
    EXPECT_TRUE(release_versions.count(v)) << "no release entry for " << v;
  }
}

TEST(GeneratedLayoutsTest, EntriesAreSortedUniqueAndMasked) {
  const std::vector<LayoutEntry>& entries = GeneratedLayouts();
  ASSERT_FALSE(entries.empty());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].version_hex & 0xFF, 0u) << Describe(entries[i]);
    if (i == 0) continue;
    const auto prev =
        std::make_pair(entries[i - 1].version_hex, entries[i - 1].debug);
    const auto cur = std::make_pair(entries[i].version_hex, entries[i].debug);
    EXPECT_LT(prev, cur) << Describe(entries[i]);
  }
}

TEST(GeneratedLayoutsTest, ObjectHeaderIsTheUsualOne) {
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    // Before 3.8 Py_DEBUG implied Py_TRACE_REFS, whose two list pointers
    // come before the refcount; the generator skips later trace-refs builds.
    // A free-threaded build's header has ob_tid, flags, mutex, GC bits and
    // two reference counts before ob_type (Include/object.h).
    const int32_t ob_type =
        ((e.debug && MajorMinor(e) < 308) || e.free_threaded) ? 24 : 8;
    EXPECT_EQ(Get(e, Field::kObType), ob_type);
    EXPECT_EQ(Get(e, Field::kVarObSize), ob_type + 8);
  }
}

// Fields every supported version has.
TEST(GeneratedLayoutsTest, CommonFieldsArePresentEverywhere) {
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    for (Field f :
         {Field::kObType, Field::kVarObSize, Field::kBytesSval,
          Field::kUnicodeLength, Field::kInterpNext, Field::kInterpTstateHead,
          Field::kSizeofInterpreterState, Field::kTstateNext,
          Field::kTstateInterp, Field::kTstateThreadId,
          Field::kSizeofThreadState, Field::kCodeFilename, Field::kCodeName,
          Field::kCodeFirstlineno, Field::kSizeofCode}) {
      EXPECT_TRUE(e.layout.Has(f)) << FieldName(f);
    }
  }
}

// Which (major, minor) has a field; mirrors the #if ranges of probe.c and
// the comments of layout.h, independently of both.
struct Presence {
  Field field;
  int from;  // first major*100+minor that has it
  int to;    // last one that has it
};

TEST(GeneratedLayoutsTest, FieldsExistExactlyInTheirVersions) {
  const Presence kPresence[] = {
      {Field::kUnicodeState, 303, 9999},
      {Field::kUnicodeDataAny, 303, 9999},
      {Field::kSizeofAsciiObject, 303, 9999},
      {Field::kSizeofCompactUnicode, 303, 9999},
      {Field::kUnicodeStr, 200, 299},
      {Field::kSizeofPyUnicode, 200, 299},
      {Field::kRuntimeInterpretersHead, 307, 9999},
      {Field::kRuntimeTstateCurrent, 307, 311},
      {Field::kRuntimeGil, 307, 311},
      {Field::kInterpGil, 312, 9999},
      {Field::kGilLocked, 307, 9999},
      {Field::kGilLastHolder, 307, 9999},
      {Field::kTstateFrame, 200, 310},
      {Field::kTstateCframe, 311, 312},
      {Field::kCframeCurrentFrame, 311, 312},
      {Field::kTstateCurrentFrame, 313, 9999},
      {Field::kTstateNativeThreadId, 311, 9999},
      {Field::kFrameBack, 200, 310},
      {Field::kFrameCode, 200, 310},
      {Field::kFrameLasti, 200, 310},
      {Field::kFrameLineno, 200, 310},
      {Field::kSizeofFrameObject, 200, 310},
      {Field::kIframePrevious, 311, 9999},
      {Field::kIframeCode, 311, 9999},
      {Field::kIframeInstr, 311, 9999},
      {Field::kIframeOwner, 311, 9999},
      {Field::kIframeIsEntry, 311, 311},
      {Field::kSizeofInterpreterFrame, 311, 9999},
      {Field::kCodeQualname, 311, 9999},
      {Field::kCodeLnotab, 200, 309},
      {Field::kCodeLinetable, 310, 9999},
      {Field::kCodeCodeAdaptive, 311, 9999},
      {Field::kCodeFirstTraceable, 311, 9999},
      // asyncio through Python objects (probe.c's 3.11+ block): every
      // task before 3.14, pure-Python tasks from 3.14 on.
      {Field::kDictKeys, 311, 9999},
      {Field::kHeapTypeCachedKeys, 311, 9999},
      {Field::kManagedDictBefore, 311, 9999},
      {Field::kManagedValuesBefore, 311, 311},
      {Field::kTpflagsInlineValues, 313, 9999},
      {Field::kInlineValuesAfter, 313, 9999},
      {Field::kDictValuesValid, 313, 9999},
      {Field::kInterpModules, 311, 9999},
      {Field::kIframeStacktop, 311, 313},
      {Field::kOpcodeResume, 311, 312},
      {Field::kOpcodeResumeVariant, 311, 312},
  };
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    const int v = MajorMinor(e);
    for (const Presence& p : kPresence) {
      EXPECT_EQ(e.layout.Has(p.field), v >= p.from && v <= p.to)
          << FieldName(p.field);
    }
  }
}

// The fields that live in one struct, and the size of that struct (if the
// table has it). Members of one struct never share an offset.
struct StructFields {
  const char* name;
  std::optional<Field> size;
  std::vector<Field> members;
};

std::vector<StructFields> Structs() {
  return {
      {"PyThreadState",
       Field::kSizeofThreadState,
       {Field::kTstateNext, Field::kTstateInterp, Field::kTstateFrame,
        Field::kTstateCframe, Field::kTstateCurrentFrame,
        Field::kTstateThreadId, Field::kTstateNativeThreadId}},
      {"PyInterpreterState",
       Field::kSizeofInterpreterState,
       {Field::kInterpNext, Field::kInterpTstateHead, Field::kInterpGil}},
      {"PyFrameObject",
       Field::kSizeofFrameObject,
       {Field::kObType, Field::kFrameBack, Field::kFrameCode,
        Field::kFrameLasti, Field::kFrameLineno}},
      {"_PyInterpreterFrame",
       Field::kSizeofInterpreterFrame,
       {Field::kIframePrevious, Field::kIframeCode, Field::kIframeInstr,
        Field::kIframeOwner, Field::kIframeIsEntry}},
      {"PyCodeObject",
       Field::kSizeofCode,
       {Field::kObType, Field::kCodeFilename, Field::kCodeName,
        Field::kCodeQualname, Field::kCodeFirstlineno, Field::kCodeLnotab,
        Field::kCodeLinetable, Field::kCodeCodeAdaptive,
        Field::kCodeFirstTraceable}},
      {"PyASCIIObject",
       Field::kSizeofAsciiObject,
       {Field::kObType, Field::kUnicodeLength, Field::kUnicodeState}},
      {"struct _gil_runtime_state",
       std::nullopt,
       {Field::kGilLocked, Field::kGilLastHolder}},
      {"_PyRuntimeState",
       std::nullopt,
       {Field::kRuntimeInterpretersHead, Field::kRuntimeTstateCurrent,
        Field::kRuntimeGil}},
  };
}

TEST(GeneratedLayoutsTest, OffsetsLieInsideTheirStructAndDiffer) {
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    for (const StructFields& s : Structs()) {
      SCOPED_TRACE(s.name);
      std::optional<int32_t> size;
      if (s.size) size = e.layout.Offset(*s.size);
      // A version that has the struct's own members has its size too (the
      // object header alone does not make a struct present). 2.7's unicode
      // object is not a PyASCIIObject and has no such size.
      bool has_own_member = false;
      for (Field f : s.members) {
        has_own_member |= f != Field::kObType && e.layout.Has(f);
      }
      if (s.size && has_own_member && !size && Major(e) >= 3) {
        ADD_FAILURE() << "no " << FieldName(*s.size);
      }
      std::map<int32_t, Field> seen;
      for (Field f : s.members) {
        std::optional<int32_t> off = e.layout.Offset(f);
        if (!off) continue;
        if (size) {
          EXPECT_LT(*off, *size) << FieldName(f);
        }
        auto [it, inserted] = seen.emplace(*off, f);
        EXPECT_TRUE(inserted) << FieldName(f) << " and "
                              << FieldName(it->second) << " both at " << *off;
      }
    }
  }
}

TEST(GeneratedLayoutsTest, OffsetsAreAlignedForTheirType) {
  // Pointers and longs (thread ids) are 8-aligned on x86-64 and aarch64.
  const Field kEightByte[] = {
      Field::kObType,
      Field::kVarObSize,
      Field::kUnicodeLength,
      Field::kUnicodeDataAny,
      Field::kUnicodeStr,
      Field::kRuntimeInterpretersHead,
      Field::kRuntimeTstateCurrent,
      Field::kInterpNext,
      Field::kInterpTstateHead,
      Field::kInterpGil,
      Field::kGilLastHolder,
      Field::kTstateNext,
      Field::kTstateInterp,
      Field::kTstateFrame,
      Field::kTstateCframe,
      Field::kCframeCurrentFrame,
      Field::kTstateCurrentFrame,
      Field::kTstateThreadId,
      Field::kTstateNativeThreadId,
      Field::kFrameBack,
      Field::kFrameCode,
      Field::kIframePrevious,
      Field::kIframeCode,
      Field::kIframeInstr,
      Field::kCodeFilename,
      Field::kCodeName,
      Field::kCodeQualname,
      Field::kCodeLnotab,
      Field::kCodeLinetable,
      Field::kSizeofThreadState,
      Field::kSizeofInterpreterState,
      Field::kSizeofInterpreterFrame,
      Field::kSizeofAsciiObject,
      Field::kSizeofCompactUnicode,
  };
  const Field kFourByte[] = {Field::kGilLocked, Field::kFrameLasti,
                             Field::kFrameLineno, Field::kCodeFirstlineno,
                             Field::kCodeFirstTraceable};
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    for (Field f : kEightByte) {
      if (auto off = e.layout.Offset(f)) {
        EXPECT_EQ(*off % 8, 0) << FieldName(f) << " at " << *off;
      }
    }
    for (Field f : kFourByte) {
      if (auto off = e.layout.Offset(f)) {
        EXPECT_EQ(*off % 4, 0) << FieldName(f) << " at " << *off;
      }
    }
  }
}

TEST(GeneratedLayoutsTest, StringAndCodeShapesAreConsistent) {
  for (const LayoutEntry& e : GeneratedLayouts()) {
    SCOPED_TRACE(Describe(e));
    if (Major(e) == 2) {
      const int32_t unicode = Get(e, Field::kSizeofPyUnicode);
      EXPECT_TRUE(unicode == 2 || unicode == 4) << unicode;
      EXPECT_GT(Get(e, Field::kUnicodeStr), Get(e, Field::kUnicodeLength));
    } else {
      // Compact strings: the ASCII header, then the compact one, then the
      // legacy data pointer; characters follow the header they belong to.
      EXPECT_LT(Get(e, Field::kUnicodeState),
                Get(e, Field::kSizeofAsciiObject));
      EXPECT_LT(Get(e, Field::kSizeofAsciiObject),
                Get(e, Field::kSizeofCompactUnicode));
      EXPECT_EQ(Get(e, Field::kUnicodeDataAny),
                Get(e, Field::kSizeofCompactUnicode));
    }
    if (e.layout.Has(Field::kCodeCodeAdaptive)) {
      // The bytecode is the trailing flexible array of the code object.
      EXPECT_GT(Get(e, Field::kCodeCodeAdaptive), Get(e, Field::kCodeName));
      EXPECT_LE(Get(e, Field::kSizeofCode) - Get(e, Field::kCodeCodeAdaptive),
                8);
    }
  }
}

const LayoutEntry* Find(int major, int minor, int micro, bool debug = false) {
  PythonVersion v;
  v.major = major;
  v.minor = minor;
  v.micro = micro;
  v.debug = debug;
  return FindLayout(v);
}

TEST(FindLayoutTest, ExactMicroWins) {
  const LayoutEntry* e = Find(3, 11, 2);
  ASSERT_THAT(e, NotNull());
  EXPECT_EQ(e->version_hex, 0x030B0200u);
  EXPECT_FALSE(e->debug);
}

TEST(FindLayoutTest, ClosestMicroBelowWins) {
  const LayoutEntry* e = Find(3, 11, 9);
  ASSERT_THAT(e, NotNull());
  EXPECT_EQ(e->version_hex, 0x030B0700u);
  e = Find(3, 11, 5);
  ASSERT_THAT(e, NotNull());
  EXPECT_EQ(e->version_hex, 0x030B0200u);
}

TEST(FindLayoutTest, ClosestMicroAboveWhenNothingBelow) {
  const LayoutEntry* e = Find(3, 11, 0);
  ASSERT_THAT(e, NotNull());
  EXPECT_EQ(e->version_hex, 0x030B0200u);
  EXPECT_FALSE(e->debug);
}

TEST(FindLayoutTest, DebugTargetGetsTheDebugEntry) {
  const LayoutEntry* e = Find(3, 11, 2, /*debug=*/true);
  ASSERT_THAT(e, NotNull());
  EXPECT_EQ(e->version_hex, 0x030B0200u);
  EXPECT_TRUE(e->debug);
  // A debug 3.11.7 has no exact entry; the debug 3.11.2 is closer in kind
  // than the release 3.11.7.
  e = Find(3, 11, 7, /*debug=*/true);
  ASSERT_THAT(e, NotNull());
  EXPECT_TRUE(e->debug);
}

TEST(FindLayoutTest, NoEntryOfTheSameFlavourIsNull) {
  bool has_debug_312 = false;
  for (const LayoutEntry& e : GeneratedLayouts()) {
    has_debug_312 |= e.debug && MajorMinor(e) == 312;
  }
  if (has_debug_312) GTEST_SKIP() << "the table has a debug 3.12";
  EXPECT_THAT(Find(3, 12, 1, /*debug=*/true), IsNull());
  EXPECT_THAT(Find(3, 12, 1), NotNull());
}

TEST(FindLayoutTest, UnknownMajorMinorIsNull) {
  EXPECT_THAT(Find(3, 5, 10), IsNull());
  EXPECT_THAT(Find(3, 16, 0), IsNull());
  EXPECT_THAT(Find(4, 12, 1), IsNull());  // minor alone must not match
  EXPECT_THAT(Find(2, 6, 9), IsNull());
}

TEST(FieldNameTest, EveryFieldHasItsOwnName) {
  std::set<std::string_view> names;
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    std::string_view name = FieldName(static_cast<Field>(i));
    EXPECT_NE(name, "(unknown field)") << i;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(FieldName(Field::kTstateNext), "PyThreadState.next");
  EXPECT_EQ(FieldName(Field::kFieldCount), "(unknown field)");
}

// Runs `command` through the shell; returns the exit code and the output.
std::pair<int, std::string> RunShell(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string Quote(const std::string& s) {
  return "'" + absl::StrReplaceAll(s, {{"'", "'\\''"}}) + "'";
}

class GeneratorCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef PYSTROBE_PYTHON3
    GTEST_SKIP() << "no python3 found at configure time";
#else
    const std::string script =
        std::string(PYSTROBE_SOURCE_DIR) + "/tools/layouts/generate";
    table_ = std::string(PYSTROBE_SOURCE_DIR) + "/src/python/layouts_table.inc";
    if (!std::filesystem::exists(script)) {
      GTEST_SKIP() << "no generator at " << script;
    }
    generate_ = Quote(PYSTROBE_PYTHON3) + " " + Quote(script);
    auto [code, output] = RunShell(generate_ + " --list");
    if (code != 0 || output.empty()) {
      GTEST_SKIP() << "no CPython headers installed: " << output;
    }
    std::cout << "header sets:\n" << output;
#endif
  }

  std::string generate_;
  std::string table_;
};

TEST_F(GeneratorCheckTest, CommittedTableIsUpToDate) {
  auto [code, output] = RunShell(generate_ + " --check");
  if (code == 2) GTEST_SKIP() << "generator cannot run here: " << output;
  EXPECT_EQ(code, 0) << "stale table; run tools/layouts/generate:\n" << output;
}

TEST_F(GeneratorCheckTest, StaleTableIsDetected) {
  // A table in which every ob_type offset is wrong: whichever header sets
  // are installed here, their regenerated rows differ from it.
  std::ifstream in(table_);
  ASSERT_TRUE(in) << table_;
  std::stringstream text;
  text << in.rdbuf();
  const std::string stale = absl::StrReplaceAll(
      text.str(), {{"{Field::kObType, ", "{Field::kObType, 9"}});
  ASSERT_NE(stale, text.str());
  const std::string path = ::testing::TempDir() + "/layouts_table_stale.inc";
  {
    std::ofstream out(path);
    out << stale;
    ASSERT_TRUE(out.good()) << path;
  }
  auto [code, output] = RunShell(generate_ + " --check --table " + Quote(path));
  std::filesystem::remove(path);
  if (code == 2) GTEST_SKIP() << "generator cannot run here: " << output;
  EXPECT_EQ(code, 1) << output;
  EXPECT_THAT(output, HasSubstr("stale"));
  EXPECT_THAT(output, HasSubstr("-    {Field::kObType, 9"));
}

}  // namespace
}  // namespace pystrobe
