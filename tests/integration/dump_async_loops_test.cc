// `pystrobe dump --async --json` on event loops that run no task at the
// snapshot: every task must still name the thread running its loop.
//
// tests/workloads/async_idle_loops.py runs a loop on each of three threads
// (every task asleep for an hour, so each loop waits in its selector) and
// writes which thread runs each loop and each task's loop (its own
// threading.get_ident() and id(loop)). 3.13+ keep each thread's running
// loop in its thread state; 3.11 and 3.12 only in a dict or a
// threading.local, so pystrobe reads the loop from the thread's
// BaseEventLoop.run_forever frame (docs/asyncio.md). Before that a dump of
// an idle 3.11/3.12 service said "8 tasks in 0 event loops", every task
// on thread 0.
#include <sys/syscall.h>

#include <iostream>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dump_json.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(120);

struct Case {
  Interpreter py;
  bool pure_python = false;
  std::string name;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
};

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (const Interpreter& py : FindInterpreters()) {
    if (py.major != 3 || py.minor < 11) continue;
    out.push_back({py, false, py.name});
    // Pure-Python tasks: their loops are never in the thread state (only
    // C tasks' asyncio puts them there, 3.13+).
    if (py.name == "Py3_11_7" || py.name == "Py3_12_1" ||
        py.name == "Py3_13_0" || py.name == "Forky3_14" ||
        py.name == "Forky3_15") {
      out.push_back({py, true, py.name + "_PurePython"});
    }
  }
  return out;
}

class DumpAsyncLoopsTest : public ::testing::TestWithParam<Case> {};

TEST_P(DumpAsyncLoopsTest, EveryTaskNamesTheThreadRunningItsLoop) {
  const Case& c = GetParam();
  const Interpreter& py = c.py;
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  const std::string truth_path = dir.path() + "/truth.json";
  const std::string workload =
      StageWorkload(py, dir.path(), "async_idle_loops.py");
  ASSERT_FALSE(workload.empty());
  std::vector<std::string> args = {"-S", "-E", workload,
                                   py.TargetPath(truth_path)};
  if (c.pure_python) args.push_back("--pure-python");
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      py.Command(args), {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(
      WaitFor([&] { return FileExists(truth_path) || target->HasExited(); },
              kStartTimeout))
      << target->Log();
  ASSERT_FALSE(target->HasExited()) << target->Log();
  absl::StatusOr<std::string> json = ReadFileToString(truth_path);
  ASSERT_TRUE(json.ok()) << json.status();
  absl::StatusOr<AsyncTruth> truth = ParseAsyncTruth(*json);
  ASSERT_TRUE(truth.ok()) << truth.status() << "\n" << *json;
  ASSERT_EQ(truth->loop_threads.size(), 3u) << *json;
  ASSERT_EQ(truth->tasks.size(), 9u) << *json;
  // Every loop's thread waits in its selector: no loop runs a task.
  for (int64_t tid : truth->loop_native_ids) {
    ASSERT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<std::vector<uint64_t>> call =
              ThreadSyscall(target->pid(), tid);
          return call.ok() && !call->empty() &&
                 ((*call)[0] == SYS_epoll_wait ||
                  (*call)[0] == SYS_epoll_pwait);
        },
        kStartTimeout))
        << "thread " << tid << " never waited in epoll";
  }

  const CommandResult result =
      RunCommand({PystrobeBinary(), "dump", "--pid",
                  std::to_string(target->pid()), "--async", "--json"});
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.Describe();
  absl::StatusOr<AsyncDump> dump = ParseAsyncDump(result.out);
  ASSERT_TRUE(dump.ok()) << dump.status() << "\n" << result.out;
  EXPECT_EQ(dump->error, "");
  EXPECT_EQ(dump->errors, 0);
  EXPECT_EQ(dump->loop_threads, truth->loop_threads)
      << "event loops and their threads differ";
  std::map<uint64_t, const TaskDump*> got;
  for (const TaskDump& t : dump->tasks) got[t.id] = &t;
  for (const TaskDump& want : truth->tasks) {
    auto it = got.find(want.id);
    if (it == got.end()) {
      ADD_FAILURE() << want.name << " missing from the dump";
      continue;
    }
    EXPECT_EQ(it->second->thread_id, want.thread_id)
        << want.name << ": not on the thread running its loop";
  }
  // The text form groups them the same way.
  const CommandResult text =
      RunCommand({PystrobeBinary(), "dump", "--pid",
                  std::to_string(target->pid()), "--async"});
  ASSERT_TRUE(text.exited && text.exit_code == 0) << text.Describe();
  EXPECT_NE(text.out.find("9 tasks in 3 event loops"), std::string::npos)
      << text.out;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, DumpAsyncLoopsTest,
                         ::testing::ValuesIn(Cases()), CaseName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DumpAsyncLoopsTest);

}  // namespace
}  // namespace pystrobe::integration
