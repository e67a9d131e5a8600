// MergeNativeStack against synthetic native and Python stacks.
#include "pystrobe/native/merge.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kLibpython[] = "/opt/py/lib/libpython3.12.so.1.0";
constexpr char kExt[] = "/srv/ext.cpython-312-x86_64-linux-gnu.so";

PythonVersion Version(int major, int minor) {
  PythonVersion v;
  v.major = major;
  v.minor = minor;
  return v;
}

NativeFrame Native(const std::string& function,
                   const std::string& module = kLibpython, uint64_t sp = 0) {
  auto sym = std::make_shared<NativeSymbol>();
  sym->function = function;
  sym->module = module;
  auto code = std::make_shared<CodeInfo>();
  code->name = function.empty() ? "anon" : function;
  code->filename = module;
  code->native_module = module;
  sym->code = code;
  return NativeFrame{0x1000, sp, sym};
}

Frame Py(const std::string& name, bool entry, uint64_t entry_frame = 0) {
  auto code = std::make_shared<CodeInfo>();
  code->name = name;
  code->filename = "app.py";
  return Frame{code, 1, entry, entry_frame};
}

std::vector<std::string> Names(const std::vector<Frame>& frames) {
  std::vector<std::string> names;
  for (const Frame& f : frames) {
    names.push_back((f.code->is_native() ? "C:" : "py:") + f.code->name);
  }
  return names;
}

// Python -> burn_c -> callback -> spin_c, as 3.12 runs it: one eval call
// for <module> and main (main called from Python: no new C call), one for
// callback (called from C).
TEST(MergeTest, InterleavesOnePythonGroupPerEvalFrame) {
  const InterpreterFrames interp(Version(3, 12), kLibpython);
  std::vector<NativeFrame> native = {
      Native("spin_c", kExt),
      Native("cfunction_call"),
      Native("_PyEval_EvalFrameDefault"),
      Native("_PyFunction_Vectorcall"),
      Native("PyObject_CallObject"),
      Native("burn_c", kExt),
      Native("cfunction_vectorcall_VARARGS"),
      Native("_PyEval_EvalFrameDefault"),
      Native("PyEval_EvalCode"),
      Native("pymain_run_python.constprop.0"),
      Native("Py_BytesMain"),
      Native("main", "/opt/py/bin/python3.12"),
      Native("__libc_start_main", "/usr/lib/libc.so.6"),
  };
  std::vector<Frame> python = {Py("callback", true), Py("main", false),
                               Py("<module>", true)};
  std::vector<Frame> out;
  ASSERT_TRUE(MergeNativeStack(python, native, interp, {}, &out));
  EXPECT_THAT(Names(out), ElementsAre("C:spin_c", "py:callback", "C:burn_c",
                                      "py:main", "py:<module>"));

  ASSERT_TRUE(
      MergeNativeStack(python, native, interp, {.keep_all = true}, &out));
  EXPECT_THAT(
      Names(out),
      ElementsAre("C:spin_c", "C:cfunction_call", "C:_PyEval_EvalFrameDefault",
                  "py:callback", "C:_PyFunction_Vectorcall",
                  "C:PyObject_CallObject", "C:burn_c",
                  "C:cfunction_vectorcall_VARARGS",
                  "C:_PyEval_EvalFrameDefault", "py:main", "py:<module>",
                  "C:PyEval_EvalCode", "C:pymain_run_python.constprop.0",
                  "C:Py_BytesMain", "C:main", "C:__libc_start_main"));
}

TEST(MergeTest, RefusesWhenEvalFramesAndGroupsDisagree) {
  const InterpreterFrames interp(Version(3, 10), kLibpython);
  // <= 3.10: every Python frame is its own eval call. A native unwind cut
  // short after one eval frame cannot place the second Python frame.
  std::vector<NativeFrame> native = {Native("spin_c", kExt),
                                     Native("_PyEval_EvalFrameDefault")};
  std::vector<Frame> python = {Py("f", true), Py("<module>", true)};
  std::vector<Frame> out = {Py("stale", true)};
  EXPECT_FALSE(MergeNativeStack(python, native, interp, {}, &out));
  EXPECT_THAT(out, IsEmpty());
  // More eval frames than Python groups (a frame being pushed).
  native.push_back(Native("_PyEval_EvalFrameDefault.cold"));
  native.push_back(Native("_PyEval_EvalFrameDefault"));
  EXPECT_FALSE(MergeNativeStack(python, native, interp, {}, &out));
}

TEST(MergeTest, RefusesPythonFramesOutsideAnyEvalCall) {
  const InterpreterFrames interp(Version(3, 12), kLibpython);
  std::vector<NativeFrame> native = {Native("_PyEval_EvalFrameDefault")};
  // The outermost frame is not the end of a group: torn entry marks.
  std::vector<Frame> python = {Py("f", true), Py("<module>", false)};
  std::vector<Frame> out;
  EXPECT_FALSE(MergeNativeStack(python, native, interp, {}, &out));
}

TEST(MergeTest, EvalFramesOfOtherModulesAndVersionsAreNotCounted) {
  // 2.7's eval function is PyEval_EvalFrameEx; on 3.x that name is a
  // wrapper (machinery), and an extension's function of the eval loop's
  // name is not the interpreter's.
  const InterpreterFrames py27(Version(2, 7), "/usr/lib/libpython2.7.so.1.0");
  std::vector<NativeFrame> native = {
      Native("work", kExt), Native("_PyEval_EvalFrameDefault", kExt),
      Native("PyEval_EvalFrameEx", "/usr/lib/libpython2.7.so.1.0"),
      Native("PyEval_EvalCodeEx", "/usr/lib/libpython2.7.so.1.0")};
  std::vector<Frame> python = {Py("<module>", true)};
  std::vector<Frame> out;
  ASSERT_TRUE(MergeNativeStack(python, native, py27, {}, &out));
  EXPECT_THAT(Names(out), ElementsAre("C:work", "C:_PyEval_EvalFrameDefault",
                                      "py:<module>"));

  const InterpreterFrames py39(Version(3, 9), kLibpython);
  native = {Native("PyEval_EvalFrameEx"), Native("_PyEval_EvalFrameDefault")};
  ASSERT_TRUE(MergeNativeStack(python, native, py39, {}, &out));
  EXPECT_THAT(Names(out), ElementsAre("py:<module>"));
}

TEST(MergeTest, ThreadWithoutPythonFramesKeepsItsNativeStack) {
  const InterpreterFrames interp(Version(3, 12), kLibpython);
  std::vector<NativeFrame> native = {
      Native("epoll_wait", "/usr/lib/libc.so.6"), Native("worker_loop", kExt),
      Native("start_thread", "/usr/lib/libc.so.6")};
  std::vector<Frame> out;
  ASSERT_TRUE(MergeNativeStack({}, native, interp, {}, &out));
  EXPECT_THAT(Names(out),
              ElementsAre("C:epoll_wait", "C:worker_loop", "C:start_thread"));
  // Python frames but no eval frame at all: refused, not glued on.
  EXPECT_FALSE(
      MergeNativeStack({Py("<module>", true)}, native, interp, {}, &out));
}

TEST(MergeTest, UnnamedInterpreterCodeIsFoldedButNotOthers) {
  // A stripped interpreter's static functions have no symbol.
  const InterpreterFrames interp(Version(3, 11), "/usr/bin/python3.11");
  std::vector<NativeFrame> native = {
      Native("", kExt), Native("", "/usr/bin/python3.11"),
      Native("_PyEval_EvalFrameDefault", "/usr/bin/python3.11")};
  std::vector<Frame> out;
  ASSERT_TRUE(
      MergeNativeStack({Py("<module>", true)}, native, interp, {}, &out));
  EXPECT_THAT(Names(out), ElementsAre("C:anon", "py:<module>"));
}

// A stripped interpreter that does not name its eval loop (Debian's static
// 3.14/3.15): on 3.12+ each group's entry frame lives in its eval call's C
// stack frame, which finds that frame by stack address.
TEST(MergeTest, UnnamedEvalFramesAreFoundByTheirEntryFrameAddress) {
  const InterpreterFrames interp(Version(3, 14), "/usr/bin/python3.14");
  const std::string exe = "/usr/bin/python3.14";
  // Stacks grow down: inner frames have lower stack pointers.
  std::vector<NativeFrame> native = {
      Native("hold_spin", kExt, 0x1000), Native("", exe, 0x1100),
      Native("", exe, 0x1200),  // callback's eval call: holds 0x1250
      Native("burn_c", kExt, 0x1400),    Native("", exe, 0x1500),
      Native("", exe, 0x1600),  // <module>'s eval call: holds 0x1680
      Native("Py_RunMain", exe, 0x1800)};
  std::vector<Frame> python = {Py("callback", true, 0x1250), Py("main", false),
                               Py("<module>", true, 0x1680)};
  std::vector<Frame> out;
  ASSERT_TRUE(MergeNativeStack(python, native, interp, {}, &out));
  EXPECT_THAT(Names(out), ElementsAre("C:hold_spin", "py:callback", "C:burn_c",
                                      "py:main", "py:<module>"));
  // An entry frame in no native frame's range (an unwind cut short), or a
  // group without its address: refused.
  python[2].entry_frame = 0x9000;
  std::vector<NativeFrame> cut(native.begin(), native.begin() + 4);
  EXPECT_FALSE(MergeNativeStack(python, cut, interp, {}, &out));
  python[2].entry_frame = 0;
  EXPECT_FALSE(MergeNativeStack(python, native, interp, {}, &out));
  // Out of order (the outer group's address inner to the other's): refused.
  python[0].entry_frame = 0x1680;
  python[2].entry_frame = 0x1250;
  EXPECT_FALSE(MergeNativeStack(python, native, interp, {}, &out));
}

}  // namespace
}  // namespace pystrobe
