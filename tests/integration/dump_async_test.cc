// `pystrobe dump --async --json` against live interpreters, checked task for
// task and frame for frame against the truth the target writes about its own
// tasks (tests/workloads/async_tree.py: asyncio.all_tasks(), the cr_await
// chain of each task's coroutine, the running task's own frames, and on
// 3.14+ each task's awaiters as asyncio.capture_call_graph reads them;
// before 3.14, as the tree's own structure says: TaskGroup parents, tasks
// whose _fut_waiter is the task or a gather over it, the task that shielded
// it, a task whose asyncio.wait() / wait_for() coroutine holds it).
//
// The tree awaits through asyncio.shield, asyncio.wait and asyncio.wait_for
// too (on 3.11 wait_for wraps a coroutine in a task of its own); 3.11-3.13
// find those awaiters through the futures' done-callbacks
// (src/python/async_tasks_weakset.cc). asyncio.as_completed is not in the
// tree: before 3.14 nothing it registers leads to the awaiting task
// (docs/asyncio.md).
//
// Every interpreter from 3.11 on (3.11, 3.12, 3.13, 3.13t, 3.14, 3.15) must
// match exactly, task for task, frame for frame, awaiter for awaiter.
#include <sys/syscall.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dump_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(120);

std::vector<Interpreter> AsyncInterpreters() {
  std::vector<Interpreter> out;
  for (const Interpreter& py : FindInterpreters()) {
    if (py.major == 3 && py.minor >= 11) out.push_back(py);
  }
  return out;
}

class DumpAsyncTest : public ::testing::TestWithParam<Interpreter> {
 protected:
  static void SetUpTestSuite() {
    std::cout << "pystrobe integration: interpreters tested: "
              << DescribeInterpreters(AsyncInterpreters()) << std::endl;
  }

  // Starts the workload and waits until its event loop is frozen (the
  // truth written and the loop's thread asleep in STOP.wait()).
  void Start(const Interpreter& py, bool pure_python = false) {
    dir_ = std::make_unique<ScopedTempDir>(py.TempParent());
    ASSERT_FALSE(dir_->path().empty());
    truth_path_ = dir_->path() + "/truth.json";
    const std::string workload =
        StageWorkload(py, dir_->path(), "async_tree.py");
    ASSERT_FALSE(workload.empty());
    std::vector<std::string> args = {"-S", "-E", workload,
                                     py.TargetPath(truth_path_)};
    if (pure_python) args.push_back("--pure-python");
    absl::StatusOr<ChildProcess> target =
        ChildProcess::Start(py.Command(args), {{"LC_ALL", "C.UTF-8"}},
                            dir_->path() + "/target.log");
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::make_unique<ChildProcess>(*std::move(target));
    ASSERT_TRUE(
        WaitFor([&] { return FileExists(truth_path_) || target_->HasExited(); },
                kStartTimeout))
        << "no truth file; target log:\n"
        << target_->Log();
    ASSERT_FALSE(target_->HasExited()) << "target died:\n" << target_->Log();
    absl::StatusOr<std::string> json = ReadFileToString(truth_path_);
    ASSERT_TRUE(json.ok()) << json.status();
    absl::StatusOr<AsyncTruth> truth = ParseAsyncTruth(*json);
    ASSERT_TRUE(truth.ok()) << truth.status() << "\n" << *json;
    truth_ = *std::move(truth);
    ASSERT_EQ(truth_.pid, target_->pid());
    // The loop runs on the main thread, whose TID is the PID.
    const pid_t pid = target_->pid();
    ASSERT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<std::vector<uint64_t>> call = ThreadSyscall(pid, pid);
          return call.ok() && !call->empty() && (*call)[0] == SYS_futex;
        },
        kStartTimeout))
        << "the event loop's thread never blocked in STOP.wait()";
  }

  std::unique_ptr<ScopedTempDir> dir_;
  std::unique_ptr<ChildProcess> target_;
  std::string truth_path_;
  AsyncTruth truth_;
};

const TaskDump* Named(const std::vector<TaskDump>& tasks,
                      const std::string& name) {
  for (const TaskDump& t : tasks) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// The truth itself holds the tree's edges through asyncio's helpers (so
// that a dump showing no awaiter there cannot pass against a truth that
// shows none either): `awaited` is awaited by `awaiter`.
void ExpectTruthEdge(const AsyncTruth& truth, const std::string& awaited,
                     const std::string& awaiter) {
  const TaskDump* a = Named(truth.tasks, awaited);
  const TaskDump* b = Named(truth.tasks, awaiter);
  ASSERT_TRUE(a != nullptr && b != nullptr) << awaited << ", " << awaiter;
  ASSERT_TRUE(a->awaited_by.has_value());
  EXPECT_THAT(*a->awaited_by, ::testing::Contains(b->id))
      << "the truth lacks " << awaiter << " awaiting " << awaited;
}

void CheckTruthEdges(const AsyncTruth& truth) {
  ExpectTruthEdge(truth, "shielded", "shield-caller");
  ExpectTruthEdge(truth, "wait-a", "wait-caller");
  ExpectTruthEdge(truth, "wait-b", "wait-caller");
  ExpectTruthEdge(truth, "wait-for-target", "wait-for-caller");
  ExpectTruthEdge(truth, "shield-caller", "server");
  // wait_for(coroutine): 3.11 runs it in an unnamed task awaited by the
  // caller; 3.12+ run it inline in the caller's task (no task of its own).
  const TaskDump* caller = Named(truth.tasks, "wait-for-coro");
  ASSERT_TRUE(caller != nullptr);
  int wrapped = 0;
  for (const TaskDump& t : truth.tasks) {
    if (t.awaited_by.has_value() &&
        std::count(t.awaited_by->begin(), t.awaited_by->end(), caller->id)) {
      ++wrapped;
    }
  }
  EXPECT_EQ(wrapped, absl::StartsWith(truth.python_version, "3.11.") ? 1 : 0)
      << "tasks awaited by wait-for-coro on " << truth.python_version;
}

void CheckTasks(const AsyncDump& dump, const AsyncTruth& truth) {
  CheckTruthEdges(truth);
  EXPECT_EQ(dump.error, "");
  EXPECT_EQ(dump.errors, 0) << "tasks or lists that could not be read";
  std::map<uint64_t, const TaskDump*> got;
  for (const TaskDump& t : dump.tasks) {
    EXPECT_TRUE(got.emplace(t.id, &t).second) << "task dumped twice: " << t.id;
  }
  std::set<uint64_t> want_ids;
  for (const TaskDump& t : truth.tasks) want_ids.insert(t.id);
  for (const TaskDump& t : dump.tasks) {
    EXPECT_TRUE(want_ids.count(t.id))
        << "dumped a task asyncio.all_tasks() does not have: " << t.name;
  }
  for (const TaskDump& want : truth.tasks) {
    SCOPED_TRACE("task " + want.name);
    auto it = got.find(want.id);
    if (it == got.end()) {
      ADD_FAILURE() << "task " << want.name << " missing from the dump";
      continue;
    }
    const TaskDump& t = *it->second;
    EXPECT_EQ(t.error, "");
    EXPECT_EQ(t.name, want.name);
    EXPECT_EQ(t.state, want.state);
    // Every truth names the awaiters (3.14+: the target's own record;
    // before: the tree's structure), in no particular order.
    ASSERT_TRUE(want.awaited_by.has_value());
    std::vector<uint64_t> by = t.awaited_by.value_or(std::vector<uint64_t>());
    std::sort(by.begin(), by.end());
    EXPECT_EQ(by, *want.awaited_by) << "awaiters differ";
    if (want.state != "running") {
      std::string diff = DiffFrames(want.frames, t.frames, true);
      EXPECT_TRUE(diff.empty()) << diff;
      continue;
    }
    // The running task is blocked inside threading's Event.wait(), called
    // on the line the truth gives for hold_still: the truth's frames are
    // the dump's outermost ones, and every frame inside them is
    // threading's.
    ASSERT_GE(t.frames.size(), want.frames.size());
    const size_t extra = t.frames.size() - want.frames.size();
    std::vector<Frame> outer(t.frames.begin() + extra, t.frames.end());
    std::string diff = DiffFrames(want.frames, outer, true);
    EXPECT_TRUE(diff.empty()) << diff;
    for (size_t i = 0; i < extra; ++i) {
      EXPECT_TRUE(absl::EndsWith(t.frames[i].file, "/threading.py"))
          << FormatFrames(t.frames);
    }
  }
  // cycle-a and cycle-b await each other: one cycle, those two.
  const TaskDump* a = Named(truth.tasks, "cycle-a");
  const TaskDump* b = Named(truth.tasks, "cycle-b");
  ASSERT_TRUE(a != nullptr && b != nullptr);
  std::vector<uint64_t> ring = {a->id, b->id};
  std::sort(ring.begin(), ring.end());
  EXPECT_THAT(dump.cycles, ::testing::ElementsAre(ring));
}

TEST_P(DumpAsyncTest, MatchesTasksTheTargetReports) {
  const Interpreter& py = GetParam();
  std::cout << "interpreter: " << py.name << " " << py.root << py.path
            << std::endl;
  ASSERT_NO_FATAL_FAILURE(Start(py));
  const std::string pid = std::to_string(target_->pid());
  for (const bool nonblocking : {false, true}) {
    std::vector<std::string> argv = {PystrobeBinary(), "dump",   "--pid", pid,
                                     "--json",         "--async"};
    if (nonblocking) argv.push_back("--nonblocking");
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult result = RunCommand(argv);
    ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
    absl::StatusOr<ProcessDump> threads = ParseDump(result.out);
    ASSERT_TRUE(threads.ok()) << threads.status() << "\n" << result.out;
    absl::StatusOr<AsyncDump> dump = ParseAsyncDump(result.out);
    ASSERT_TRUE(dump.ok()) << dump.status() << "\n" << result.out;
    CheckTasks(*dump, truth_);
    // The thread stacks stand too: the loop's thread is inside
    // hold_still.
    bool seen = false;
    for (const ThreadDump& t : threads->threads) {
      for (const Frame& f : t.frames) seen |= f.function == "hold_still";
    }
    EXPECT_TRUE(seen) << result.out;
    if (::testing::Test::HasFailure()) {
      std::cout << "pystrobe: " << result.Describe() << std::endl;
      break;
    }
  }
}

// The text form: the tree under its root tasks, and the cycle warning.
TEST_P(DumpAsyncTest, TextDumpDrawsTheTaskTree) {
  const Interpreter& py = GetParam();
  ASSERT_NO_FATAL_FAILURE(Start(py));
  CommandResult result =
      RunCommand({PystrobeBinary(), "dump", "--pid",
                  std::to_string(target_->pid()), "--async"});
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
  for (const TaskDump& t : truth_.tasks) {
    EXPECT_THAT(result.out,
                ::testing::HasSubstr("(T) " + t.name + " [" + t.state + "]"));
  }
  EXPECT_THAT(result.out,
              ::testing::HasSubstr("warning: tasks await each other in a "
                                   "cycle"));
  // request-0 hangs under server's TaskGroup, deeper than server.
  const size_t server = result.out.find("(T) server [");
  const size_t request = result.out.find("(T) request-0 [");
  ASSERT_NE(server, std::string::npos);
  ASSERT_NE(request, std::string::npos);
  auto column = [&](size_t at) {
    const size_t line = result.out.rfind('\n', at);
    return at - (line == std::string::npos ? 0 : line + 1);
  };
  EXPECT_GT(column(request), column(server)) << result.out;
}

// Without the C module _asyncio the tasks are asyncio.tasks._PyTask and
// the futures futures._PyFuture, Python objects: read through their
// instance attributes (on 3.14+ too, where they are in none of the C
// module's lists, and their awaiters in Future.__asyncio_awaited_by), they
// must match the truth the same way.
TEST_P(DumpAsyncTest, PurePythonTasksMatchToo) {
  const Interpreter& py = GetParam();
  ASSERT_NO_FATAL_FAILURE(Start(py, /*pure_python=*/true));
  CommandResult result =
      RunCommand({PystrobeBinary(), "dump", "--pid",
                  std::to_string(target_->pid()), "--json", "--async"});
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
  absl::StatusOr<AsyncDump> dump = ParseAsyncDump(result.out);
  ASSERT_TRUE(dump.ok()) << dump.status() << "\n" << result.out;
  CheckTasks(*dump, truth_);
  if (::testing::Test::HasFailure()) {
    std::cout << "pystrobe: " << result.Describe() << std::endl;
  }
}

std::string ParamName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, DumpAsyncTest,
                         ::testing::ValuesIn(AsyncInterpreters()), ParamName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DumpAsyncTest);

// Before 3.11 the tasks are not read: `dump --async` says so in one line
// naming the version, and the thread stacks stand alone (a service on 3.10
// still gets its loop's stack).
TEST(DumpAsyncOlderVersions, SayInOneLineThatTasksAreNotRead) {
  int tried = 0;
  for (const Interpreter& py : FindInterpreters()) {
    if (py.major != 3 || py.minor < 7 || py.minor > 10) continue;
    SCOPED_TRACE(py.name);
    ++tried;
    ScopedTempDir dir(py.TempParent());
    ASSERT_FALSE(dir.path().empty());
    const std::string ready = dir.path() + "/ready";
    const std::string code = absl::StrCat(
        "import asyncio\n"
        "async def waiting_for_a_reply():\n"
        "    await asyncio.sleep(60)\n"
        "async def main():\n"
        "    t = asyncio.ensure_future(waiting_for_a_reply())\n"
        "    await asyncio.sleep(0)\n"
        "    open('",
        py.TargetPath(ready),
        "', 'w').close()\n"
        "    await t\n"
        "asyncio.run(main())\n");
    absl::StatusOr<ChildProcess> target = ChildProcess::Start(
        py.Command({"-S", "-E", "-c", code}), {{"LC_ALL", "C.UTF-8"}},
        dir.path() + "/target.log");
    ASSERT_TRUE(target.ok()) << target.status();
    ASSERT_TRUE(
        WaitFor([&] { return FileExists(ready) || target->HasExited(); },
                kStartTimeout))
        << target->Log();
    ASSERT_FALSE(target->HasExited()) << target->Log();
    const CommandResult result =
        RunCommand({PystrobeBinary(), "dump", "--pid",
                    std::to_string(target->pid()), "--async"});
    ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
    int lines = 0;
    for (absl::string_view line : absl::StrSplit(result.out, '\n')) {
      if (absl::StartsWith(line, "asyncio tasks: CPython 3.")) {
        ++lines;
        EXPECT_THAT(std::string(line),
                    ::testing::HasSubstr("from 3.11 on; showing thread "
                                         "stacks only"));
        EXPECT_THAT(std::string(line),
                    ::testing::HasSubstr(absl::StrCat("3.", py.minor, ".")));
      }
    }
    EXPECT_EQ(lines, 1) << result.out;
    EXPECT_THAT(result.out, ::testing::HasSubstr("run_until_complete"));
    EXPECT_THAT(result.out, ::testing::Not(::testing::HasSubstr("(T) ")));
  }
  // pyenv's 3.7.16, 3.8.18, 3.9.18, 3.10.13 (3.6 has no asyncio.run).
  EXPECT_GE(tried, 4);
}

// The interpreters this feature is promised on must all be here: a missing
// one fails, never skips silently.
TEST(DumpAsyncInterpreters, EveryPromisedInterpreterIsPresent) {
  const std::vector<Interpreter> all = AsyncInterpreters();
  auto has = [&](const std::string& needle, int minor) {
    for (const Interpreter& py : all) {
      if (py.minor == minor &&
          absl::StrContains(py.root + py.path + py.name, needle)) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has("3.11.7", 11)) << "pyenv 3.11.7";
  EXPECT_TRUE(has("3.12.1", 12)) << "pyenv 3.12.1";
  EXPECT_TRUE(has("3.13.0", 13)) << "pyenv 3.13.0";
  EXPECT_TRUE(has("/usr/bin/python3.11", 11)) << "Debian's 3.11";
  EXPECT_TRUE(has("forky-root/usr/bin/python3.14", 14)) << "forky 3.14";
  EXPECT_TRUE(has("forky-root/usr/bin/python3.15", 15)) << "forky 3.15";
  EXPECT_TRUE(has("3.13t", 13)) << "free-threaded 3.13t";
  EXPECT_TRUE(has("forky-root/usr/bin/python3.13", 13)) << "forky 3.13";
  std::cout << DescribeInterpreters(all) << std::endl;
}

}  // namespace
}  // namespace pystrobe::integration
