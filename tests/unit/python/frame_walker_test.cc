// FrameWalker over hand-laid fake processes of every frame model: the names,
// file names and lines it reports are the ones written into the fake, and
// the line tables are encoded by hand (the expected lines are literals
// worked out from CPython's documented formats).
#include "frame_walker.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "code_cache.h"
#include "fake_python.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "remote_struct.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct WalkedFrame {
  std::string name;
  std::string qualname;
  std::string filename;
  int line;
  bool operator==(const WalkedFrame& o) const {
    return name == o.name && qualname == o.qualname && filename == o.filename &&
           line == o.line;
  }
};

std::ostream& operator<<(std::ostream& os, const WalkedFrame& f) {
  return os << f.name << " [" << f.qualname << "] " << f.filename << ":"
            << f.line;
}

// Walks `tstate` in `memory` with `cache`. Like the sampler, it hands the
// previous walk's frames back to the walker, which overwrites them in place.
class Walker {
 public:
  explicit Walker(const FakePython& py)
      : version_(py.version()),
        layout_(py.layout()),
        cache_(&layout_, &version_),
        walker_(&layout_, &version_,
                TypeAddresses{FakePython::kCodeType, FakePython::kFrameType},
                &cache_) {}

  absl::Status Walk(RemoteMemory& memory, uint64_t tstate,
                    std::vector<WalkedFrame>* out) {
    RemoteStruct ts;
    if (absl::Status s =
            ts.Load(memory, layout_, tstate, Field::kSizeofThreadState);
        !s.ok()) {
      return s;
    }
    cache_.NewSnapshot();  // each walk is a snapshot of its own
    absl::Status status = walker_.Walk(memory, ts, &frames_);
    out->clear();
    if (!status.ok()) frames_.clear();  // as ReadThreads does
    for (const Frame& f : frames_) {
      out->push_back(
          {f.code->name, f.code->qualname, f.code->filename, f.line});
    }
    return status;
  }

  CodeCache& cache() { return cache_; }
  // The last walk's frames, as the walker left them.
  const std::vector<Frame>& frames() const { return frames_; }

 private:
  std::vector<Frame> frames_;
  PythonVersion version_;
  Layout layout_;
  CodeCache cache_;
  FrameWalker walker_;
};

std::string VersionName(const ::testing::TestParamInfo<PythonVersion>& info) {
  return "Py" + std::to_string(info.param.major) +
         std::to_string(info.param.minor);
}

// Three code objects per version with hand-encoded line tables, and the
// lasti of a frame running each, with the line CPython reports there.
struct Scenario {
  FakeCode inner, middle, module;
  int inner_lasti, middle_lasti, module_lasti;
  int inner_line, middle_line, module_line;
};

Scenario MakeScenario(const PythonVersion& v) {
  Scenario s;
  s.inner = {"inner", "Outer.inner", "/app/inner.py", 10, "", 9, 1};
  // UCS1 name and a UCS2 file name on 3.x; 2.7 str holds the UTF-8 bytes.
  s.middle = {"café", "café", "/app/関数.py", 20, "", 6, 0};
  s.module = {"<module>", "", "/app/main.py", 1, "", 4, 0};
  if (!v.AtLeast(3, 10)) {
    // co_lnotab: (address increment, line increment) pairs; the increment
    // applies from the end of its pair's address range on.
    s.inner.line_table = std::string("\x06\x01\x08\x02", 4);
    s.inner_lasti = 8;  // bytes: in [6, 14) -> 10 + 1
    s.inner_line = 11;
    s.middle.line_table = std::string("\x02\x05\x04\xfe", 4);
    s.middle_lasti = 12;  // past both pairs: 20 + 5 + (-2), or + 254 on 2.7
    s.middle_line = v.major == 2 ? 279 : 23;
    s.module.line_table = "";
    s.module_lasti = 0;
    s.module_line = 1;
  } else if (!v.AtLeast(3, 11)) {
    // co_linetable of 3.10: (byte length, line delta or -128) per range;
    // f_lasti counts code units.
    s.inner.line_table = std::string("\x06\x00\x08\x01\x04\x02", 6);
    s.inner_lasti = 4;  // byte 8, in [6, 14) -> 11
    s.inner_line = 11;
    s.middle.line_table = std::string("\x02\x00\x04\x80\x06\x03", 6);
    s.middle_lasti = 5;  // byte 10, in [6, 12) -> 20 + 0 + 3
    s.middle_line = 23;
    s.module.line_table = std::string("\x04\x00", 2);
    s.module_lasti = 1;  // byte 2 -> 1
    s.module_line = 1;
  } else {
    // 3.11+ location table, "no column" entries (code 13): first byte
    // 0x80 | 13 << 3 | (units - 1) = 0xe8 + units - 1, then the line delta as a
    // signed varint.
    s.inner.line_table = std::string("\xea\x00\xeb\x02\xe9\x04", 6);
    s.inner_lasti = 4;  // unit 4 in units [3, 7) -> 10 + 1
    s.inner_line = 11;
    // Second entry: code 15 (no location) for 2 units.
    s.middle.line_table = std::string("\xe8\x00\xf9\xea\x06", 5);
    s.middle_lasti = 5;  // unit 5 in units [3, 6) -> 20 + 3
    s.middle_line = 23;
    // +100 (zigzag 200) needs two varint chunks (0x48 0x03); then -50
    // (zigzag 101: 0x65 0x01).
    s.module.line_table = std::string("\xe8\x00\xe9\x48\x03\xe8\x65\x01", 8);
    s.module_lasti = 3;  // unit 3 -> 1 + 100 - 50
    s.module_line = 51;
  }
  return s;
}

class FrameWalkerTest : public ::testing::TestWithParam<PythonVersion> {
 protected:
  FrameWalkerTest() : py_(GetParam()), s_(MakeScenario(GetParam())) {
    inner_ = py_.Code(s_.inner);
    middle_ = py_.Code(s_.middle);
    module_ = py_.Code(s_.module);
  }

  bool HasQualname() const { return GetParam().AtLeast(3, 11); }
  WalkedFrame Expect(const FakeCode& c, int line) const {
    return {c.name,
            HasQualname() ? c.qualname.empty() ? c.name : c.qualname : "",
            c.filename, line};
  }
  std::vector<WalkedFrame> ExpectedStack() const {
    return {Expect(s_.inner, s_.inner_line), Expect(s_.middle, s_.middle_line),
            Expect(s_.module, s_.module_line)};
  }
  std::vector<FakeFrame> NormalFrames() const {
    return {{inner_, s_.inner_lasti},
            {middle_, s_.middle_lasti},
            {module_, s_.module_lasti}};
  }

  FakePython py_;
  Scenario s_;
  uint64_t inner_ = 0, middle_ = 0, module_ = 0;
};

TEST_P(FrameWalkerTest, ReportsNamesFilesAndLines) {
  FakeStack stack = py_.Stack(NormalFrames());
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
  if (GetParam().AtLeast(3, 11)) {
    EXPECT_EQ(frames[0].qualname, "Outer.inner");
  }
  if (GetParam().major == 3) {
    EXPECT_EQ(frames[1].name, "caf\xc3\xa9");
    EXPECT_EQ(frames[1].filename, "/app/\xe9\x96\xa2\xe6\x95\xb0.py");
  }
}

// <= 3.10: each frame object is run by its own C call of the eval
// function, so every frame is the outermost of its group (merge.h).
TEST_P(FrameWalkerTest, FrameObjectsAreEachTheirOwnEvalCall) {
  if (GetParam().AtLeast(3, 11)) GTEST_SKIP() << "frame objects: <= 3.10";
  FakeStack stack = py_.Stack(NormalFrames());
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(walker.frames().size(), 3u);
  for (const Frame& f : walker.frames()) EXPECT_TRUE(f.entry);
}

TEST_P(FrameWalkerTest, WorksThroughAPageCache) {
  FakeStack stack = py_.Stack(NormalFrames());
  auto memory = py_.Memory();
  PageCache cache(memory.get());
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(cache, stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

// Records what the walker announces and reads, in order.
class RecordingMemory final : public RemoteMemory {
 public:
  explicit RecordingMemory(RemoteMemory* source) : source_(source) {}
  absl::Status Read(uint64_t address, void* out, size_t size) override {
    events_.push_back({false, address});
    return source_->Read(address, out, size);
  }
  void Prefetch(const std::vector<ReadRequest>& ranges) override {
    for (const ReadRequest& r : ranges) events_.push_back({true, r.address});
  }
  struct Event {
    bool announced;
    uint64_t address;
  };
  const std::vector<Event>& events() const { return events_; }

 private:
  RemoteMemory* source_;
  std::vector<Event> events_;
};

// The chain is walked first and the code objects it runs are announced
// together, before any of them is read: a cache fetches them in one read.
TEST_P(FrameWalkerTest, AnnouncesTheChainsCodeObjectsBeforeReadingThem) {
  FakeStack stack = py_.Stack(NormalFrames());
  auto fake = py_.Memory();
  RecordingMemory memory(fake.get());
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(frames, ExpectedStack());
  std::vector<uint64_t> announced;
  size_t first_announced = memory.events().size();
  for (size_t i = 0; i < memory.events().size(); ++i) {
    const auto& e = memory.events()[i];
    if (!e.announced) continue;
    announced.push_back(e.address);
    first_announced = std::min(first_announced, i);
  }
  EXPECT_THAT(announced,
              ::testing::UnorderedElementsAre(inner_, middle_, module_));
  for (size_t i = 0; i < first_announced; ++i) {
    const uint64_t a = memory.events()[i].address;
    for (uint64_t code : {inner_, middle_, module_}) {
      EXPECT_NE(a, code) << "code object read before it was announced";
    }
  }
}

// A recursive function runs one code object in many frames in a row: it is
// announced once.
TEST_P(FrameWalkerTest, AnnouncesARecursiveFunctionsCodeOnce) {
  FakeStack stack = py_.Stack({{inner_, s_.inner_lasti},
                               {inner_, s_.inner_lasti},
                               {inner_, s_.inner_lasti},
                               {module_, s_.module_lasti}});
  auto fake = py_.Memory();
  RecordingMemory memory(fake.get());
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(frames.size(), 4u);
  std::vector<uint64_t> announced;
  for (const auto& e : memory.events()) {
    if (e.announced) announced.push_back(e.address);
  }
  EXPECT_THAT(announced, ::testing::ElementsAre(inner_, module_));
}

TEST_P(FrameWalkerTest, EmptyStack) {
  FakeStack stack = py_.Stack({});
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames = {{"stale", "", "", 1}};
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  EXPECT_THAT(frames, IsEmpty());
}

TEST_P(FrameWalkerTest, SecondWalkDecodesNothing) {
  // Recursion: the same code object twice decodes once.
  std::vector<FakeFrame> spec = NormalFrames();
  spec.insert(spec.begin() + 1, FakeFrame{middle_, s_.middle_lasti});
  FakeStack stack = py_.Stack(spec);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(walker.cache().decodes(), 3u);
  EXPECT_EQ(walker.cache().size(), 3u);
  std::vector<WalkedFrame> again;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &again), IsOk());
  EXPECT_EQ(again, frames);
  EXPECT_EQ(walker.cache().decodes(), 3u);
}

// The walker overwrites the previous walk's frames in place: a shorter stack
// after a deeper one, and a different one after that, come out exactly.
TEST_P(FrameWalkerTest, ReusedFramesAreOverwrittenExactly) {
  std::vector<FakeFrame> deep = NormalFrames();
  deep.insert(deep.begin(), FakeFrame{middle_, s_.middle_lasti});
  deep.insert(deep.begin(), FakeFrame{inner_, s_.inner_lasti});
  FakeStack deep_stack = py_.Stack(deep);
  FakeStack normal_stack = py_.Stack(NormalFrames());
  FakeStack short_stack = py_.Stack({{module_, s_.module_lasti}});
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, deep_stack.tstate, &frames), IsOk());
  ASSERT_EQ(frames.size(), 5u);
  ASSERT_THAT(walker.Walk(*memory, normal_stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
  ASSERT_THAT(walker.Walk(*memory, short_stack.tstate, &frames), IsOk());
  EXPECT_THAT(frames, ElementsAre(Expect(s_.module, s_.module_line)));
  ASSERT_THAT(walker.Walk(*memory, normal_stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

TEST_P(FrameWalkerTest, CodeReplacedAtSameAddressIsDecodedAgain) {
  FakeStack stack = py_.Stack(NormalFrames());
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  {
    auto memory = py_.Memory();
    ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  }
  ASSERT_EQ(walker.cache().decodes(), 3u);
  // A new code object at the address of `inner`: other name and qualname.
  uint64_t renamed = py_.Str("renamed");
  py_.WriteField<uint64_t>(inner_, Field::kCodeName, renamed);
  if (GetParam().AtLeast(3, 11)) {
    py_.WriteField<uint64_t>(inner_, Field::kCodeQualname, renamed);
  }
  {
    auto memory = py_.Memory();
    ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  }
  EXPECT_EQ(walker.cache().decodes(), 4u);
  EXPECT_EQ(frames[0].name, "renamed");
  EXPECT_EQ(frames[1], ExpectedStack()[1]);
  // Only co_firstlineno differs: every line of the new code moves with it.
  py_.WriteField<int32_t>(middle_, Field::kCodeFirstlineno, 120);
  {
    auto memory = py_.Memory();
    ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  }
  EXPECT_EQ(walker.cache().decodes(), 5u);
  EXPECT_EQ(frames[1].line, s_.middle_line + 100);
}

TEST_P(FrameWalkerTest, CodeWithWrongTypeIsInconsistent) {
  if (GetParam().AtLeast(3, 13)) {
    GTEST_SKIP() << "3.13 skips non-code executables (tested below)";
  }
  FakeStack stack = py_.Stack(NormalFrames());
  py_.WriteField<uint64_t>(middle_, Field::kObType, FakePython::kStrType);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
  EXPECT_TRUE(IsInconsistent(status)) << status;
}

TEST_P(FrameWalkerTest, FrameWithWrongTypeIsInconsistent) {
  if (GetParam().AtLeast(3, 11)) GTEST_SKIP() << "frame objects only";
  FakeStack stack = py_.Stack(NormalFrames());
  py_.WriteField<uint64_t>(stack.frames[1], Field::kObType,
                           FakePython::kCodeType);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
  EXPECT_TRUE(IsInconsistent(status)) << status;
}

// A chain torn into a loop is given up within a few laps of it, not after
// kMaxDepth frames (16,384 reads from the page cache: 100+ us that every
// later thread of the tick waited for).
TEST_P(FrameWalkerTest, CycleEndsWithAnError) {
  FakeStack stack = py_.Stack(NormalFrames());
  const Field back =
      GetParam().AtLeast(3, 11) ? Field::kIframePrevious : Field::kFrameBack;
  py_.WriteField<uint64_t>(stack.frames[2], back, stack.frames[0]);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
  EXPECT_TRUE(IsInconsistent(status)) << status;
  EXPECT_THAT(status.message(), ::testing::HasSubstr("loops back"));
  EXPECT_LT(memory->read_count(), 32u);  // FakeMemory counts every read
  EXPECT_LE(frames.size(), static_cast<size_t>(FrameWalker::kMaxDepth));
  // The chain is walked before its code objects are decoded: the cycle is
  // found first, and no code object is decoded more than once in any case.
  EXPECT_LE(walker.cache().decodes(), 3u);
}

TEST_P(FrameWalkerTest, SelfLoopEndsWithAnError) {
  FakeStack stack = py_.Stack(NormalFrames());
  const Field back =
      GetParam().AtLeast(3, 11) ? Field::kIframePrevious : Field::kFrameBack;
  py_.WriteField<uint64_t>(stack.frames[0], back, stack.frames[0]);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, stack.tstate, &frames)));
}

TEST_P(FrameWalkerTest, UnmappedFrameIsMemoryGone) {
  FakeStack stack = py_.Stack(NormalFrames());
  const Field back =
      GetParam().AtLeast(3, 11) ? Field::kIframePrevious : Field::kFrameBack;
  py_.WriteField<uint64_t>(stack.frames[1], back, 0x10);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
  EXPECT_TRUE(IsMemoryGone(status)) << status;
}

TEST_P(FrameWalkerTest, BeforeFirstInstructionGivesFirstLine) {
  // A frame that has not started: f_lasti == -1 (<= 3.10), prev_instr one
  // unit before the code (3.11/3.12). Owned by a generator so that 3.11+
  // does not treat it as incomplete; under a module's frame, as a thread's
  // chain never starts with a generator's.
  std::vector<FakeFrame> spec = {{inner_, -1, /*owner=*/1},
                                 {module_, s_.module_lasti}};
  FakeStack stack = py_.Stack(spec);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].line, 10);
}

TEST_P(FrameWalkerTest, GarbageLastiIsInconsistent) {
  if (GetParam().AtLeast(3, 11)) GTEST_SKIP() << "f_lasti: <= 3.10 only";
  // A torn frame's f_lasti can be any int. 3.10 doubles it (code units to
  // bytes): that must not overflow, nor give a line for a negative offset.
  for (int32_t lasti : {0x4D000001, INT32_MAX, INT32_MIN, -1000}) {
    FakeStack stack = py_.Stack({{inner_, lasti}});
    auto memory = py_.Memory();
    Walker walker(py_);
    std::vector<WalkedFrame> frames;
    absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
    if (GetParam().AtLeast(3, 10) || lasti < 0) {
      EXPECT_TRUE(IsInconsistent(status)) << lasti << ": " << status;
    } else {
      // <= 3.9: a large byte offset is past the lnotab: the final line.
      ASSERT_THAT(status, IsOk());
      EXPECT_EQ(frames[0].line, 13) << lasti;
    }
  }
}

TEST_P(FrameWalkerTest, InstructionPointerOutsideCodeIsInconsistent) {
  if (!GetParam().AtLeast(3, 11)) GTEST_SKIP() << "3.11+ only";
  // middle has 6 code units; unit 40 lies far past its bytecode.
  FakeStack stack = py_.Stack({{inner_, s_.inner_lasti}, {middle_, 40}});
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
  EXPECT_TRUE(IsInconsistent(status)) << status;
}

TEST_P(FrameWalkerTest, GarbageInstructionPointerAndCodeSize) {
  if (!GetParam().AtLeast(3, 11)) GTEST_SKIP() << "3.11+ only";
  // Values a torn frame or a reused code object can hold: each must end in
  // an error, without signed overflow on the way (UBSan checks this).
  struct Case {
    uint64_t instr;
    int64_t units;
  };
  const uint64_t start =
      static_cast<uint64_t>(py_.FieldOffset(Field::kCodeCodeAdaptive));
  for (const Case& c : std::vector<Case>{
           {0x8000000000000000, 9},
           {0x7fffffffffffffff, 9},
           {0, 9},
           {inner_ + start + 2, -1},
           {inner_ + start + (uint64_t{1} << 33), INT64_MAX},
           {inner_ + start + (uint64_t{1} << 62), INT64_MAX / 2 + 1},
       }) {
    FakeStack stack = py_.Stack({{inner_, s_.inner_lasti}});
    py_.WriteField<uint64_t>(stack.frames[0], Field::kIframeInstr, c.instr);
    py_.WriteField<int64_t>(inner_, Field::kVarObSize, c.units);
    auto memory = py_.Memory();
    Walker walker(py_);
    std::vector<WalkedFrame> frames;
    absl::Status status = walker.Walk(*memory, stack.tstate, &frames);
    EXPECT_TRUE(IsInconsistent(status))
        << std::hex << c.instr << " " << c.units << ": " << status;
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, FrameWalkerTest,
                         ::testing::ValuesIn(FakeVersions()), VersionName);

// 3.11+ only: frame owners and incomplete frames.
class InterpreterFrameTest : public FrameWalkerTest {};

TEST_P(InterpreterFrameTest, IncompleteFramesAreSkipped) {
  FakeCode prologue = s_.inner;
  prologue.name = prologue.qualname = "starting";
  prologue.first_traceable = 2;
  uint64_t starting = py_.Code(prologue);
  FakeStack stack = py_.Stack({
      {starting, 1},  // still before _co_firsttraceable: skipped
      {inner_, s_.inner_lasti},
      {starting, 2},               // at _co_firsttraceable: complete
      {starting, 0, /*owner=*/1},  // a generator's frame is never incomplete
      {module_, s_.module_lasti},
  });
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  // "starting" at unit 2 is in [0, 3) -> 10; at unit 0 -> 10.
  EXPECT_THAT(frames, ElementsAre(Expect(s_.inner, s_.inner_line),
                                  Expect(prologue, 10), Expect(prologue, 10),
                                  Expect(s_.module, s_.module_line)));
}

TEST_P(InterpreterFrameTest, CStackFramesAreSkipped) {
  if (!GetParam().AtLeast(3, 12)) GTEST_SKIP() << "owner 3 exists from 3.12";
  // Entry frames of the C stack: their code pointer is not even mapped.
  FakeStack stack = py_.Stack({
      {0xdead0000, 0, /*owner=*/3},
      {inner_, s_.inner_lasti},
      {middle_, s_.middle_lasti},
      {0xdead0000, 0, /*owner=*/3},
      {module_, s_.module_lasti},
      {0xdead0000, 0, /*owner=*/3},
  });
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

// --native pairs each group of Python frames run by one C call of the eval
// function with that call's native frame: the outermost frame of a group
// (the one below which an entry frame lies) is marked, and only it.
TEST_P(InterpreterFrameTest, OutermostFrameOfEachEvalCallIsMarked) {
  if (!GetParam().AtLeast(3, 12)) GTEST_SKIP() << "owner 3 exists from 3.12";
  FakeStack stack = py_.Stack({
      {inner_, s_.inner_lasti},
      {0xdead0000, 0, /*owner=*/3},
      {middle_, s_.middle_lasti},
      {module_, s_.module_lasti},
      {0xdead0000, 0, /*owner=*/3},
      {0xdead0000, 0, /*owner=*/3},  // closes nothing more
  });
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  ASSERT_EQ(walker.frames().size(), 3u);
  EXPECT_TRUE(walker.frames()[0].entry);   // inner: its own C call
  EXPECT_FALSE(walker.frames()[1].entry);  // middle: called from module
  EXPECT_TRUE(walker.frames()[2].entry);
  // The same vector walked again after the chain changed: no stale marks.
  FakeStack flat = py_.Stack({{inner_, s_.inner_lasti},
                              {middle_, s_.middle_lasti},
                              {module_, s_.module_lasti},
                              {0xdead0000, 0, /*owner=*/3}});
  auto memory2 = py_.Memory();
  ASSERT_THAT(walker.Walk(*memory2, flat.tstate, &frames), IsOk());
  ASSERT_EQ(walker.frames().size(), 3u);
  EXPECT_FALSE(walker.frames()[0].entry);
  EXPECT_FALSE(walker.frames()[1].entry);
  EXPECT_TRUE(walker.frames()[2].entry);
}

TEST_P(InterpreterFrameTest, UnknownOwnerIsInconsistent) {
  FakeStack stack = py_.Stack({{inner_, s_.inner_lasti, /*owner=*/7}});
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, stack.tstate, &frames)));
}

TEST_P(InterpreterFrameTest, NonCodeExecutableIsSkippedOn313) {
  if (!GetParam().AtLeast(3, 13)) GTEST_SKIP() << "3.13+ only";
  uint64_t none = py_.NoneObject();
  FakeStack stack = py_.Stack({
      {inner_, s_.inner_lasti},
      {none, 0},
      {middle_, s_.middle_lasti},
      {module_, s_.module_lasti},
  });
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

TEST_P(InterpreterFrameTest, NoCframeMeansNoFrames) {
  if (!GetParam().AtLeast(3, 11) || GetParam().AtLeast(3, 13)) {
    GTEST_SKIP() << "3.11/3.12 only";
  }
  FakeStack stack = py_.Stack(NormalFrames());
  py_.WriteField<uint64_t>(stack.tstate, Field::kTstateCframe, 0);
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  ASSERT_THAT(walker.Walk(*memory, stack.tstate, &frames), IsOk());
  EXPECT_THAT(frames, IsEmpty());
}

// A thread's chain ends where its outermost eval call began: at an entry
// frame on 3.12/3.13 (owner 3, the C stack's), at a frame flagged is_entry
// on 3.11. A chain whose `previous` runs out at any other frame was cut
// while read (a frame pushed or popped meanwhile: a suspended coroutine's
// frame keeps NULL in `previous`) and must not pass as a shorter stack.
TEST_P(InterpreterFrameTest, ChainCutAtAPythonFrameIsTorn) {
  FakeStack cut = py_.Stack(NormalFrames(), ChainEnd::kCut);
  FakeStack whole = py_.Stack(NormalFrames());
  auto memory = py_.Memory();
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  absl::Status status = walker.Walk(*memory, cut.tstate, &frames);
  EXPECT_TRUE(IsInconsistent(status)) << status;
  EXPECT_THAT(frames, IsEmpty());
  ASSERT_THAT(walker.Walk(*memory, whole.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

// What 3.12-3.14 showed as `[burn]` alone (docs/asyncio.md): the running
// coroutine's frame, read while its `previous` still held the NULL it keeps
// while suspended. An entry frame between Python frames does not end a
// chain either. 3.11 has no entry frames; there a generator's frame never
// ends a chain.
TEST_P(InterpreterFrameTest, LoneCoroutineFrameIsTorn) {
  auto memory_of = [&] { return py_.Memory(); };
  Walker walker(py_);
  std::vector<WalkedFrame> frames;
  if (!GetParam().AtLeast(3, 12)) {
    // 3.11: the generator's frame is flagged is_entry (its last
    // resumption's), as CPython leaves it: still not a thread's start.
    FakeStack lone = py_.Stack({{inner_, s_.inner_lasti, /*owner=*/1}});
    FakeStack resumed = py_.Stack({{inner_, s_.inner_lasti, 1},
                                   {middle_, s_.middle_lasti},
                                   {module_, s_.module_lasti}});
    auto memory = memory_of();
    EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, lone.tstate, &frames)));
    ASSERT_THAT(walker.Walk(*memory, resumed.tstate, &frames), IsOk());
    EXPECT_EQ(frames, ExpectedStack());
    return;
  }
  FakeStack lone =
      py_.Stack({{inner_, s_.inner_lasti, /*owner=*/1}}, ChainEnd::kCut);
  FakeStack entry_inside = py_.Stack({{inner_, s_.inner_lasti, 1},
                                      {0xdead0000, 0, /*owner=*/3},
                                      {middle_, s_.middle_lasti}},
                                     ChainEnd::kCut);
  FakeStack resumed = py_.Stack({{inner_, s_.inner_lasti, 1},
                                 {0xdead0000, 0, /*owner=*/3},
                                 {middle_, s_.middle_lasti},
                                 {module_, s_.module_lasti}});
  auto memory = memory_of();
  EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, lone.tstate, &frames)));
  EXPECT_TRUE(
      IsInconsistent(walker.Walk(*memory, entry_inside.tstate, &frames)));
  ASSERT_THAT(walker.Walk(*memory, resumed.tstate, &frames), IsOk());
  EXPECT_EQ(frames, ExpectedStack());
}

INSTANTIATE_TEST_SUITE_P(Versions, InterpreterFrameTest,
                         ::testing::Values(PythonVersion{3, 11, 7, false},
                                           PythonVersion{3, 12, 1, false},
                                           PythonVersion{3, 13, 0, false}),
                         VersionName);

// The hand encoders and the transcribed lookup agree with the literal
// expectations above, so the randomized tests can trust them.
TEST(FakeLineTables, EncodersMatchHandWrittenBytes) {
  const PythonVersion v38{3, 8, 18, false}, v310{3, 10, 13, false},
      v311{3, 11, 7, false};
  EXPECT_EQ(EncodeLnotab({{6, 1}, {8, 2}}), std::string("\x06\x01\x08\x02", 4));
  EXPECT_EQ(EncodeLinetable310({{2, 0}, {4, 0, true}, {6, 3}}),
            std::string("\x02\x00\x04\x80\x06\x03", 6));
  EXPECT_EQ(EncodeLocations311({{1, 0}, {2, 100}, {1, -50}}),
            std::string("\xe8\x00\xe9\x48\x03\xe8\x65\x01", 8));
  EXPECT_EQ(ExpectedLine(v38, {{2, 5}, {4, -2}}, 20, 12), 23);
  EXPECT_EQ(ExpectedLine(v310, {{2, 0}, {4, 0, true}, {6, 3}}, 20, 10), 23);
  EXPECT_EQ(ExpectedLine(v310, {{2, 0}, {4, 0, true}, {6, 3}}, 20, 3), -1);
  EXPECT_EQ(ExpectedLine(v311, {{1, 0}, {2, 100}, {1, -50}}, 1, 6), 51);
  EXPECT_EQ(ExpectedLine(v311, {{1, 0}}, 1, 2), -1);
}

// 3.14 and 3.15 (Debian forky's headers, through the table): f_executable is
// a _PyStackRef whose low bits are tags, owners are renumbered
// (INTERPRETER 3 in both, CSTACK 4 only in 3.14), and 3.15's chain must end
// at the thread state's base_frame.
class NewFrameModelTest : public ::testing::TestWithParam<PythonVersion> {};

TEST_P(NewFrameModelTest, TaggedExecutablesAndRenumberedOwners) {
  const PythonVersion v = GetParam();
  FakePython py(v);
  const std::string table = EncodeLocations311({{4, 0}, {4, 1}});
  uint64_t inner = py.Code({.name = "inner",
                            .qualname = "",
                            .filename = "/app/a.py",
                            .first_line = 10,
                            .line_table = table});
  uint64_t outer = py.Code({.name = "outer",
                            .qualname = "",
                            .filename = "/app/a.py",
                            .first_line = 20,
                            .line_table = table});
  // inner, an interpreter-owned entry frame (skipped), outer.
  FakeStack stack = py.Stack({{inner, 5, 0}, {outer, 1, 3}, {outer, 1, 0}});
  const int32_t exec = py.FieldOffset(Field::kIframeCode);
  // Py_TAG_REFCNT on a deferred reference: the walker must clear it.
  py.Write<uint64_t>(stack.frames[0] + exec, inner | 1);
  py.Write<uint64_t>(stack.frames[2] + exec, outer | 1);
  if (v.AtLeast(3, 15)) {
    py.WriteField<uint64_t>(stack.tstate, Field::kTstateBaseFrame,
                            stack.frames[2]);
  }
  Walker walker(py);
  std::vector<WalkedFrame> got;
  {
    std::unique_ptr<FakeMemory> memory = py.Memory();
    ASSERT_THAT(walker.Walk(*memory, stack.tstate, &got), IsOk());
  }
  EXPECT_THAT(got, ElementsAre(WalkedFrame{"inner", "inner", "/app/a.py", 11},
                               WalkedFrame{"outer", "outer", "/app/a.py", 20}));

  // 3.14's C-stack owner (4) is skipped too; 3.15 has no owner 4.
  py.WriteField<uint8_t>(stack.frames[1], Field::kIframeOwner, 4);
  {
    std::unique_ptr<FakeMemory> memory = py.Memory();
    absl::Status status = walker.Walk(*memory, stack.tstate, &got);
    if (v.AtLeast(3, 15)) {
      EXPECT_TRUE(IsInconsistent(status)) << status;
    } else {
      EXPECT_THAT(status, IsOk());
      EXPECT_EQ(got.size(), 2u);
    }
  }
  py.WriteField<uint8_t>(stack.frames[1], Field::kIframeOwner, 5);
  {
    std::unique_ptr<FakeMemory> memory = py.Memory();
    EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, stack.tstate, &got)));
  }
}

// 3.14: the entry frame below each eval call is owned by the interpreter
// (3); the C-stack owner (4) is assigned nowhere but ends a chain as well.
// A chain that runs out at a Python frame was cut while read.
TEST(NewFrameModelTest, Py314ChainMustEndAtAnEntryFrame) {
  FakePython py(PythonVersion{3, 14, 8, false});
  uint64_t code = py.Code({.name = "burn",
                           .qualname = "",
                           .filename = "/burn.py",
                           .first_line = 1,
                           .line_table = EncodeLocations311({{8, 0}})});
  FakeStack lone = py.Stack({{code, 1, /*owner=*/1}}, ChainEnd::kCut);
  FakeStack entry_inside = py.Stack(
      {{code, 1, 1}, {0, 0, /*owner=*/3}, {code, 1, 0}}, ChainEnd::kCut);
  FakeStack interpreter =
      py.Stack({{code, 1, 1}, {code, 1, 0}, {0, 0, /*owner=*/3}});
  FakeStack cstack =
      py.Stack({{code, 1, 1}, {code, 1, 0}, {0, 0, /*owner=*/4}});
  std::unique_ptr<FakeMemory> memory = py.Memory();
  Walker walker(py);
  std::vector<WalkedFrame> got;
  absl::Status status = walker.Walk(*memory, lone.tstate, &got);
  EXPECT_TRUE(IsInconsistent(status)) << status;
  EXPECT_THAT(got, IsEmpty());
  EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, entry_inside.tstate, &got)));
  ASSERT_THAT(walker.Walk(*memory, interpreter.tstate, &got), IsOk());
  EXPECT_EQ(got.size(), 2u);
  ASSERT_THAT(walker.Walk(*memory, cstack.tstate, &got), IsOk());
  EXPECT_EQ(got.size(), 2u);
}

TEST(NewFrameModelTest, ChainNotEndingAtTheBaseFrameIsTorn) {
  FakePython py(PythonVersion{3, 15, 0, false});
  uint64_t code = py.Code({.name = "f",
                           .qualname = "",
                           .filename = "/f.py",
                           .first_line = 1,
                           .line_table = EncodeLocations311({{8, 0}})});
  FakeStack stack = py.Stack({{code, 1, 0}, {code, 1, 0}});
  Walker walker(py);
  std::vector<WalkedFrame> got;
  // The base frame is somewhere else: the chain was cut short.
  py.WriteField<uint64_t>(stack.tstate, Field::kTstateBaseFrame, py.Alloc(128));
  {
    std::unique_ptr<FakeMemory> memory = py.Memory();
    EXPECT_TRUE(IsInconsistent(walker.Walk(*memory, stack.tstate, &got)));
    EXPECT_THAT(got, IsEmpty());
  }
  py.WriteField<uint64_t>(stack.tstate, Field::kTstateBaseFrame,
                          stack.frames[1]);
  {
    std::unique_ptr<FakeMemory> memory = py.Memory();
    EXPECT_THAT(walker.Walk(*memory, stack.tstate, &got), IsOk());
    EXPECT_EQ(got.size(), 2u);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, NewFrameModelTest,
                         ::testing::Values(PythonVersion{3, 14, 8, false},
                                           PythonVersion{3, 15, 0, false}),
                         [](const ::testing::TestParamInfo<PythonVersion>& p) {
                           return "Py3" + std::to_string(p.param.minor);
                         });

}  // namespace
}  // namespace pystrobe::testing
