// `pystrobe dump --json` against live interpreters, checked against the
// stacks the target's threads report about themselves.
//
// tests/workloads/stacks.py starts threads that each record their stack
// (traceback.extract_stack()), thread ids and OS name, then block on that
// same line in read(2) on a private pipe, plus one thread spinning in pure
// Python. The test waits until /proc shows every blocked thread inside
// read() on its own fd (so none is between its report and its blocking call)
// and the spinner has closed its fd (so it is inside its loop), then dumps
// and compares frame by frame.
#include <sys/stat.h>

#include <algorithm>

#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "dump_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(120);

// The stacks workload running on `py` with its files in `dir` (a folder the
// target can reach: under the root for a chrooted interpreter).
absl::StatusOr<ChildProcess> StartStacks(const Interpreter& py,
                                         const ScopedTempDir& dir,
                                         std::string* truth_path) {
  *truth_path = dir.path() + "/truth.json";
  const std::string modules = dir.path() + "/modules";
  if (mkdir(modules.c_str(), 0755) != 0) {
    return absl::InternalError("cannot create " + modules);
  }
  const std::string workload = StageWorkload(py, dir.path(), "stacks.py");
  if (workload.empty()) return absl::InternalError("cannot stage stacks.py");
  // C.UTF-8: Python 3.6 in the C locale cannot name the non-ASCII files.
  return ChildProcess::Start(
      py.Command({"-S", "-E", workload, py.TargetPath(*truth_path),
                  py.TargetPath(modules)}),
      {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
}

// Why the target is not yet where the test needs it, or "" once it is.
std::string NotYetBlocked(pid_t pid, const StacksTruth& truth) {
  for (const ThreadTruth& t : truth.threads) {
    if (t.kind == "spinner") {
      if (FileExists(absl::StrCat("/proc/", pid, "/fd/", t.fd))) {
        return "the spinner has not entered its loop (fd " +
               std::to_string(t.fd) + " still open)";
      }
      continue;
    }
    absl::StatusOr<std::vector<uint64_t>> call =
        ThreadSyscall(pid, t.native_id);
    if (!call.ok()) return call.status().ToString();
    if (call->size() < 2 || (*call)[0] != ReadSyscallNumber() ||
        (*call)[1] != static_cast<uint64_t>(t.fd)) {
      return absl::StrCat("thread ", t.kind, " (tid ", t.native_id,
                          ") is not in read(", t.fd, ")");
    }
  }
  return "";
}

std::vector<Frame> Reversed(std::vector<Frame> frames) {
  std::reverse(frames.begin(), frames.end());
  return frames;
}

class DumpStacksTest : public ::testing::TestWithParam<Interpreter> {
 protected:
  static void SetUpTestSuite() {
    std::cout << "pystrobe integration: interpreters tested: "
              << DescribeInterpreters(FindInterpreters()) << std::endl;
  }
};

// Checks one dump against the truth. Only blocked threads are required to
// match exactly when the target ran during the dump (`nonblocking`).
void CheckDump(const ProcessDump& dump, const StacksTruth& truth,
               bool nonblocking) {
  EXPECT_EQ(dump.pid, truth.pid);
  EXPECT_EQ(dump.python_version, truth.python_version);
  EXPECT_EQ(dump.free_threaded, truth.free_threaded);
  EXPECT_EQ(dump.gil_enabled, truth.gil_enabled);
  const bool py3 = truth.python_version[0] == '3';

  std::map<uint64_t, const ThreadDump*> by_id;
  for (const ThreadDump& t : dump.threads) {
    EXPECT_TRUE(by_id.emplace(t.thread_id, &t).second)
        << "thread_id " << t.thread_id << " dumped twice";
  }
  std::set<uint64_t> truth_ids;
  for (const ThreadTruth& t : truth.threads) truth_ids.insert(t.thread_id);
  for (const ThreadDump& t : dump.threads) {
    EXPECT_TRUE(truth_ids.count(t.thread_id))
        << "dumped a thread the target does not have: thread_id " << t.thread_id
        << " native_id " << t.native_id << " name " << t.name;
  }

  int gil_holders = 0;
  for (const ThreadDump& t : dump.threads) gil_holders += t.gil;
  EXPECT_LE(gil_holders, 1) << "more than one thread holds the GIL";

  for (const ThreadTruth& want : truth.threads) {
    SCOPED_TRACE("thread " + want.kind);
    auto it = by_id.find(want.thread_id);
    if (it == by_id.end()) {
      ADD_FAILURE() << "thread " << want.kind << " (thread_id "
                    << want.thread_id << ", tid " << want.native_id
                    << ") missing from the dump";
      continue;
    }
    const ThreadDump& got = *it->second;
    EXPECT_EQ(got.native_id, want.native_id);
    EXPECT_EQ(got.name, want.name);
    for (const Frame& f : got.frames) {
      EXPECT_EQ(f.qualname.has_value(), truth.has_qualname)
          << "\"qualname\" must be present exactly on 3.11+: " << f.function;
    }
    if (want.kind == "spinner") {
      EXPECT_TRUE(got.active) << "a thread spinning in Python is running";
      if (!truth.gil_enabled) {
        EXPECT_TRUE(got.gil_null) << "no GIL: \"gil\" is null, not false";
      } else if (py3) {
        EXPECT_TRUE(got.gil) << "the only running thread holds the GIL";
      }
      if (nonblocking) continue;  // its stack may legitimately be torn
      ASSERT_FALSE(got.frames.empty());
      const Frame& top = got.frames[0];
      EXPECT_EQ(top.function, truth.spin.function);
      EXPECT_EQ(top.file, truth.spin.file);
      EXPECT_GE(top.line, truth.spin.line);
      EXPECT_LE(top.line, truth.spin_last_line);
      std::vector<Frame> outer(got.frames.begin() + 1, got.frames.end());
      std::string diff =
          DiffFrames(Reversed(want.frames), outer, truth.has_qualname);
      EXPECT_TRUE(diff.empty()) << "outer frames of the spinner: " << diff;
      continue;
    }
    EXPECT_FALSE(got.active) << "a thread blocked in read() is idle";
    EXPECT_FALSE(got.gil) << "a thread blocked in read() released the GIL";
    std::string diff =
        DiffFrames(Reversed(want.frames), got.frames, truth.has_qualname);
    EXPECT_TRUE(diff.empty()) << diff;
  }
}

TEST_P(DumpStacksTest, MatchesStacksTheTargetReports) {
  const Interpreter& py = GetParam();
  std::cout << "interpreter: " << py.name << " " << py.root << py.path
            << std::endl;
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  std::string truth_path;
  absl::StatusOr<ChildProcess> target = StartStacks(py, dir, &truth_path);
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(
      WaitFor([&] { return FileExists(truth_path) || target->HasExited(); },
              kStartTimeout))
      << "no truth file; target log:\n"
      << target->Log();
  ASSERT_FALSE(target->HasExited()) << "target died:\n" << target->Log();
  absl::StatusOr<std::string> truth_json = ReadFileToString(truth_path);
  ASSERT_TRUE(truth_json.ok()) << truth_json.status();
  absl::StatusOr<StacksTruth> truth = ParseStacksTruth(*truth_json);
  ASSERT_TRUE(truth.ok()) << truth.status() << "\n" << *truth_json;
  ASSERT_EQ(truth->pid, target->pid());

  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] { return (why = NotYetBlocked(target->pid(), *truth)).empty(); },
      kStartTimeout))
      << why;

  const std::string pid = std::to_string(target->pid());
  const std::vector<std::vector<std::string>> runs = {
      {PystrobeBinary(), "dump", "--pid", pid, "--json"},
      {PystrobeBinary(), "dump", "--pid", pid, "--json"},
      {PystrobeBinary(), "dump", "--pid", pid, "--json", "--nonblocking"},
      {PystrobeBinary(), "dump", "--pid", pid, "--json"},
  };
  for (const std::vector<std::string>& argv : runs) {
    const bool nonblocking = argv.back() == "--nonblocking";
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult result = RunCommand(argv);
    ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
    absl::StatusOr<ProcessDump> dump = ParseDump(result.out);
    ASSERT_TRUE(dump.ok()) << dump.status() << "\n" << result.Describe();
    CheckDump(*dump, *truth, nonblocking);

    // The target must run on, never left in a ptrace stop.
    ASSERT_FALSE(target->HasExited()) << "target died:\n" << target->Log();
    absl::StatusOr<std::map<int64_t, char>> states =
        ThreadStates(target->pid());
    ASSERT_TRUE(states.ok()) << states.status();
    EXPECT_EQ(states->size(), truth->threads.size());
    for (const auto& [tid, state] : *states) {
      EXPECT_NE(state, 't') << "thread " << tid << " left in a ptrace stop";
      EXPECT_NE(state, 'T') << "thread " << tid << " left stopped";
    }
    // Back where they were: a thread interrupted by ptrace restarts its
    // read() once resumed, which takes a moment, so wait for it.
    EXPECT_TRUE(WaitFor(
        [&] { return (why = NotYetBlocked(target->pid(), *truth)).empty(); },
        kStartTimeout))
        << "after the dump: " << why;
    if (::testing::Test::HasFailure()) {
      std::cout << "pystrobe: " << result.Describe() << std::endl;
      break;  // one failing dump says it all; three would bury it
    }
  }
}

// The text form is for people; check only that it names what the JSON does.
TEST_P(DumpStacksTest, TextDumpNamesEveryThreadAndFunction) {
  const Interpreter& py = GetParam();
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  std::string truth_path;
  absl::StatusOr<ChildProcess> target = StartStacks(py, dir, &truth_path);
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(
      WaitFor([&] { return FileExists(truth_path) || target->HasExited(); },
              kStartTimeout))
      << target->Log();
  absl::StatusOr<std::string> truth_json = ReadFileToString(truth_path);
  ASSERT_TRUE(truth_json.ok()) << truth_json.status() << target->Log();
  absl::StatusOr<StacksTruth> truth = ParseStacksTruth(*truth_json);
  ASSERT_TRUE(truth.ok()) << truth.status();
  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] { return (why = NotYetBlocked(target->pid(), *truth)).empty(); },
      kStartTimeout))
      << why;
  CommandResult r = RunCommand(
      {PystrobeBinary(), "dump", "--pid", std::to_string(target->pid())});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  for (const ThreadTruth& t : truth->threads) {
    EXPECT_THAT(r.out, ::testing::HasSubstr(std::to_string(t.native_id)));
    EXPECT_THAT(r.out, ::testing::HasSubstr(t.name));
    EXPECT_THAT(r.out, ::testing::HasSubstr(t.frames.back().function));
    EXPECT_THAT(r.out, ::testing::HasSubstr(t.frames.back().file));
  }
  if (truth->free_threaded) {
    EXPECT_THAT(r.out, ::testing::HasSubstr(truth->gil_enabled
                                                ? "free-threaded, GIL enabled"
                                                : "free-threaded, no GIL"));
    if (!truth->gil_enabled) {
      EXPECT_THAT(r.out, ::testing::Not(::testing::HasSubstr("holds the GIL")));
    }
  }
}

// `pystrobe record` of the same workload: every blocked thread's stack is in
// the recording, line for line, as the target reported it.
TEST_P(DumpStacksTest, RecordHasEveryBlockedStack) {
  const Interpreter& py = GetParam();
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  std::string truth_path;
  absl::StatusOr<ChildProcess> target = StartStacks(py, dir, &truth_path);
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(
      WaitFor([&] { return FileExists(truth_path) || target->HasExited(); },
              kStartTimeout))
      << target->Log();
  absl::StatusOr<std::string> truth_json = ReadFileToString(truth_path);
  ASSERT_TRUE(truth_json.ok()) << truth_json.status() << target->Log();
  absl::StatusOr<StacksTruth> truth = ParseStacksTruth(*truth_json);
  ASSERT_TRUE(truth.ok()) << truth.status();
  std::string why;
  ASSERT_TRUE(WaitFor(
      [&] { return (why = NotYetBlocked(target->pid(), *truth)).empty(); },
      kStartTimeout))
      << why;
  const std::string out = dir.path() + "/stacks.txt";
  CommandResult r = RunCommand({PystrobeBinary(), "record", "--pid",
                                std::to_string(target->pid()), "--idle", "-d",
                                "1", "-r", "50", "-f", "collapsed", "-o", out});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  absl::StatusOr<std::string> collapsed = ReadFileToString(out);
  ASSERT_TRUE(collapsed.ok()) << collapsed.status();
  for (const ThreadTruth& t : truth->threads) {
    if (t.kind == "spinner") continue;  // it moves on
    // file:function:line, outermost first, as RenderCollapsed writes them.
    std::string stack;
    for (const Frame& f : t.frames) {
      absl::StrAppend(&stack, stack.empty() ? "" : ";", f.file, ":",
                      f.qualname.value_or(f.function), ":", f.line);
    }
    EXPECT_THAT(*collapsed, ::testing::HasSubstr(stack + " "))
        << "thread " << t.kind << " missing from the recording:\n"
        << collapsed->substr(0, 4000);
  }
}

std::string ParamName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, DumpStacksTest,
                         ::testing::ValuesIn(FindInterpreters()), ParamName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DumpStacksTest);

// The comparison must be able to fail: a dump that differs from the truth in
// any one field, or lacks a key of the contract, is caught.
TEST(DumpStacksSetup, ComparisonCatchesDifferences) {
  const std::vector<Frame> want = {{"f", "F.f", "/a.py", 3},
                                   {"g", "g", "/a.py", 7}};
  EXPECT_EQ(DiffFrames(want, want, true), "");
  for (int field = 0; field < 5; ++field) {
    std::vector<Frame> got = want;
    switch (field) {
      case 0:
        got[1].line = 8;
        break;
      case 1:
        got[0].function = "h";
        break;
      case 2:
        got[1].file = "/b.py";
        break;
      case 3:
        got[0].qualname = "f";
        break;
      case 4:
        got.pop_back();
        break;
    }
    EXPECT_NE(DiffFrames(want, got, true), "") << "field " << field;
  }
  const std::string good =
      R"({"pid": 1, "python_version": "3.12.1", "free_threaded": false,
          "gil_enabled": true, "threads": [{"thread_id": 2,
          "native_id": 3, "name": "x", "active": true, "gil": false,
          "frames": [{"function": "f", "file": "/a.py", "line": 4}]}]})";
  absl::StatusOr<ProcessDump> dump = ParseDump(good);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(dump->threads.at(0).frames.at(0).line, 4);
  EXPECT_FALSE(dump->threads.at(0).frames.at(0).qualname.has_value());
  // Without a GIL "gil" must be null, and only a free-threaded build may say
  // it has none.
  const std::string no_gil = absl::StrReplaceAll(
      good, {{"\"free_threaded\": false", "\"free_threaded\": true"},
             {"\"gil_enabled\": true", "\"gil_enabled\": false"},
             {"\"gil\": false", "\"gil\": null"}});
  absl::StatusOr<ProcessDump> free = ParseDump(no_gil);
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_TRUE(free->threads.at(0).gil_null);
  EXPECT_FALSE(ParseDump(absl::StrReplaceAll(
                             no_gil, {{"\"gil\": null", "\"gil\": false"}}))
                   .ok())
      << "a false gil flag without a GIL must be an error";
  EXPECT_FALSE(
      ParseDump(absl::StrReplaceAll(no_gil, {{"\"free_threaded\": true",
                                              "\"free_threaded\": false"}}))
          .ok());
  EXPECT_FALSE(ParseDump("").ok());
  EXPECT_FALSE(ParseDump(absl::StrCat(good.substr(0, good.find("\"gil\"")),
                                      R"("frames": []}]})"))
                   .ok())
      << "missing \"gil\" must be an error";
}

// The interpreters scripts/install-deps.sh sets up under ~/.cache/pystrobe:
// skipped, saying how to get them, when they are not there; when they are,
// every one of them must be found (else it would silently go untested).
TEST(DumpStacksSetup, FindsForkyInterpreters) {
  if (!ForkyRootReady()) {
    GTEST_SKIP() << "no Debian forky root at " << ForkyRoot()
                 << ": CPython 3.14/3.15 untested; run scripts/install-deps.sh "
                    "(or set PYSTROBE_FORKY_ROOT)";
  }
  std::set<std::string> names;
  for (const Interpreter& py : FindInterpreters()) names.insert(py.name);
  for (const char* want : {"Forky3_13", "Forky3_14", "Forky3_14d",
                           "Forky3_14_pie", "Forky3_15", "Forky3_15d"}) {
    EXPECT_TRUE(names.count(want)) << want << " not found in " << ForkyRoot();
  }
}

TEST(DumpStacksSetup, FindsFreeThreaded313) {
  if (!Py313tReady()) {
    GTEST_SKIP() << "no free-threaded 3.13t at " << Py313tPrefix()
                 << ": untested; run scripts/install-deps.sh (or set "
                    "PYSTROBE_PY313T)";
  }
  std::set<std::string> names;
  for (const Interpreter& py : FindInterpreters()) names.insert(py.name);
  EXPECT_TRUE(names.count("FreeThreaded3_13t"));
}

TEST(DumpStacksSetup, FindsInterpreters) {
  std::vector<Interpreter> all = FindInterpreters();
  std::cout << "pystrobe integration: interpreters tested: "
            << DescribeInterpreters(all) << std::endl;
  EXPECT_FALSE(all.empty())
      << "no CPython found under ~/.pyenv/versions or /usr/bin; set "
         "PYSTROBE_PYTHONS=/path/to/python3.X:...";
}

}  // namespace
}  // namespace pystrobe::integration
