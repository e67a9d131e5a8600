// `pystrobe record --async` against the target's own accounting.
//
// tests/workloads/async_record.py runs a `request` task (in a TaskGroup of
// a `server` task, itself awaited by the main task) that loops over
// handle() -> burn() (CPU) and handle() -> nap() (asyncio.sleep), and
// measures burn()'s CPU time against its thread's over the recorded window.
// With --async every sample taken while `request` runs must sit on the
// task's logical stack — burn under handle, under server's TaskGroup, under
// main, under the event loop — carry task=request, and burn's share of the
// CPU must be within 3 points of the workload's own figure. With
// --async all in wall mode, the request task's samples (running: thread
// samples; waiting: task samples) must split between burn and nap as its
// wall time does. Both checks run on C tasks on every interpreter, and on
// pure-Python tasks (async_record.py --pure-python) on pyenv's 3.12.1 and
// forky's 3.14 and 3.15.
//
// Every interpreter from 3.11 on (TaskGroup is 3.11+): 3.11-3.13 and 3.13t
// read through asyncio.tasks' containers, 3.14+ through their debug
// offsets (docs/asyncio.md).
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);
constexpr double kTolerancePoints = 3.0;
// burn's CPU share in cpu mode, within the 3 points. Until cpu mode
// read the thread's state before its stack and narrowed its wake-up rule
// (docs/sampling.md, "State and stack"), burn read 1.4 to 3.4 points high
// here: the event loop's work around each sleep went missing.
constexpr double kCpuTolerancePoints = 3.0;
constexpr int64_t kSamples = 3000;

std::vector<Interpreter> AsyncRecordInterpreters() {
  std::vector<Interpreter> out;
  for (const Interpreter& py : FindInterpreters()) {
    if (py.major == 3 && py.minor >= 11) out.push_back(py);
  }
  return out;
}

class RecordAsyncTest : public ::testing::TestWithParam<Interpreter> {};

// Each check runs on the C tasks (the default) or pure-Python ones
// (asyncio.tasks._PyTask, no _asyncio).
using AsyncCheck = void (*)(const Interpreter& py, bool pure_python);
// The CPU-share check (cpu mode, --async).
void CheckBurnFollowsItsTask(const Interpreter& py, bool pure_python);
// The wall split of the request task between burn and nap (wall mode,
// --async all: waiting tasks sampled too).
void CheckWaitingTasksShowWhereRequestsWait(const Interpreter& py,
                                            bool pure_python);

TEST_P(RecordAsyncTest, BurnFollowsItsTaskAtTheTargetsCpuShare) {
  CheckBurnFollowsItsTask(GetParam(), false);
}

TEST_P(RecordAsyncTest, WaitingTasksShowWhereRequestsWait) {
  CheckWaitingTasksShowWhereRequestsWait(GetParam(), false);
}

// One interpreter of each reader is enough for the pure-Python tasks' path
// in record: it shares every read with dump, which dump_async_test checks
// on all of them. 3.12 (awaiters from done-callbacks), 3.14 and 3.15
// (awaiters from Future.__asyncio_awaited_by, chains through the debug
// offsets; 3.15's frame states and awaited slot differ from 3.14's).
void CheckPythonTasksOn(const std::string& name, AsyncCheck check) {
  for (const Interpreter& py : FindInterpreters()) {
    if (py.name == name) {
      check(py, true);
      return;
    }
  }
  FAIL() << name << " not found";
}

TEST(RecordAsyncPurePythonTest, BurnFollowsItsPythonTaskOn312) {
  CheckPythonTasksOn("Py3_12_1", CheckBurnFollowsItsTask);
}

TEST(RecordAsyncPurePythonTest, BurnFollowsItsPythonTaskOn314) {
  CheckPythonTasksOn("Forky3_14", CheckBurnFollowsItsTask);
}

TEST(RecordAsyncPurePythonTest, BurnFollowsItsPythonTaskOn315) {
  CheckPythonTasksOn("Forky3_15", CheckBurnFollowsItsTask);
}

TEST(RecordAsyncPurePythonTest, WaitingPythonTasksShowWhereRequestsWaitOn312) {
  CheckPythonTasksOn("Py3_12_1", CheckWaitingTasksShowWhereRequestsWait);
}

TEST(RecordAsyncPurePythonTest, WaitingPythonTasksShowWhereRequestsWaitOn314) {
  CheckPythonTasksOn("Forky3_14", CheckWaitingTasksShowWhereRequestsWait);
}

TEST(RecordAsyncPurePythonTest, WaitingPythonTasksShowWhereRequestsWaitOn315) {
  CheckPythonTasksOn("Forky3_15", CheckWaitingTasksShowWhereRequestsWait);
}

void CheckBurnFollowsItsTask(const Interpreter& py, bool pure_python) {
  std::cout << "interpreter: " << py.name << " " << py.root << py.path
            << std::endl;
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  const std::string workload = StageWorkload(py, dir.path(), "async_record.py");
  ASSERT_FALSE(workload.empty());
  std::vector<std::string> args = {"-S", "-E", workload,
                                   py.TargetPath(dir.path())};
  if (pure_python) args.push_back("--pure-python");
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      py.Command(args), {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/ready", *target, kTimeout))
      << "workload not ready:\n"
      << target->Log();

  const std::string out = dir.path() + "/async.pb.gz";
  ASSERT_TRUE(TouchFile(dir.path() + "/start"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target->pid()), "--async", "-d", "100",
       "-r", "1000", "--mode", "cpu", "-o", out},
      dir.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  (*rec)->WaitForSamples(kSamples, kTimeout);
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(TouchFile(dir.path() + "/stop"));
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/truth.json", *target, kTimeout))
      << target->Log();
  absl::StatusOr<google::protobuf::Struct> truth =
      ReadJsonObject(dir.path() + "/truth.json");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const double total_cpu = NumberField(*truth, "total_cpu_s");
  const double burn_cpu = NumberField(*truth, "burn_cpu_s");
  ASSERT_GT(total_cpu, 0.5) << "the target barely ran: " << target->Log();

  absl::StatusOr<Profile> profile = ReadProfile(out);
  ASSERT_TRUE(profile.ok()) << profile.status();
  const int cpu_index = profile->SampleTypeIndex("cpu");
  ASSERT_EQ(cpu_index, 1) << DescribeProfile(*profile);
  int64_t total = 0, burn = 0, burn_samples = 0, torn_short = 0;
  int64_t no_loop = 0;  // samples whose thread part lacked Handle._run
  // Samples of burn written with the thread's own stack and no task. A
  // running task or awaiter read torn is an error now (task torn), and so
  // is a thread still holding the coroutine frame of the task it ran at
  // the last look; what may remain is the first look at a new step of the
  // task with asyncio's record torn (docs/asyncio.md).
  int64_t unattributed = 0;
  int64_t misplaced = 0;  // samples of burn not on the request's path
  std::string first_misplaced;
  for (const Sample& s : profile->samples) {
    total += s.values[cpu_index];
    const std::vector<std::string> names = FunctionNames(*profile, s);
    if (names.empty() || names[0] != "burn") continue;
    burn += s.values[cpu_index];
    burn_samples += s.values[0];
    if (names.size() == 1) {
      // [burn] alone: a chain cut while read, which the frame walker now
      // counts as an error (3.12-3.14 chains must end at an entry frame,
      // 3.15's at the base frame: docs/asyncio.md). None may remain.
      torn_short += s.values[0];
      continue;
    }
    if (StringLabel(s, "task").empty() && names.size() > 1 &&
        names[1] == "handle" &&
        std::find(names.begin(), names.end(), "server") == names.end()) {
      unattributed += s.values[0];
      continue;
    }
    // One logical stack across the three tasks: burn under handle (the
    // request task), server (its TaskGroup's owner), main (the root
    // task), then the event loop that ran it.
    auto at = [&](const std::string& name) {
      return std::find(names.begin(), names.end(), name) - names.begin();
    };
    const long end = static_cast<long>(names.size());
    if (names[1] != "handle" || at("handle") >= at("server") ||
        at("server") >= at("main") || at("main") >= end ||
        StringLabel(s, "task") != "request") {
      misplaced += s.values[0];
      if (first_misplaced.empty()) {
        first_misplaced = absl::StrCat(absl::StrJoin(names, " <- "),
                                       " task=", StringLabel(s, "task"));
      }
      continue;
    }
    // The event loop's frame under the tasks' chains: a thread stack read
    // while the loop moved on (non-blocking) now and then lacks it, once
    // in ~3,000 samples at load (3.14-pie). Counted, bounded like above.
    if (at("Handle._run") == end) {
      no_loop += s.values[0];
    } else if (at("main") >= at("Handle._run")) {
      misplaced += s.values[0];
      if (first_misplaced.empty()) {
        first_misplaced = absl::StrJoin(names, " <- ");
      }
    }
  }
  ASSERT_GT(burn_samples, kSamples / 2) << DescribeProfile(*profile);
  EXPECT_EQ(misplaced, 0) << "samples of burn off the request's logical "
                             "stack, the first: "
                          << first_misplaced;
  EXPECT_EQ(torn_short, 0) << "samples of burn as a one-frame stack";
  EXPECT_LE(no_loop * 100, burn_samples)
      << "over 1% of burn's samples lacked the event loop's Handle._run";
  EXPECT_LE(unattributed * 100, burn_samples)
      << "over 1% of burn's samples were not attributed to their task";
  std::cout << absl::StreamFormat(
                   "%s: %d of burn's samples without their task, %d task "
                   "errors, %d errors in all",
                   py.name, unattributed,
                   CommentValue(*profile, "pystrobe.errors.task"),
                   CommentValue(*profile, "pystrobe.errors"))
            << std::endl;
  const double want = 100.0 * burn_cpu / total_cpu;
  const double got =
      100.0 * static_cast<double>(burn) / static_cast<double>(total);
  std::cout << absl::StreamFormat(
                   "%s burn: truth %5.2f%% of the thread's CPU, pystrobe "
                   "--async %5.2f%% (%d samples)",
                   py.name + (pure_python ? " (pure-Python tasks)" : ""), want,
                   got, burn_samples)
            << std::endl;
  // As in record_accuracy_test, the CPU split is held to the tolerance on
  // release builds: debug interpreters (3.14d, 3.15d) measured 2.5 to 4.6
  // points low here on a loaded 2-core machine, plain --mode cpu alike.
  // And, as there, not judged where pystrobe itself says it was starved
  // of CPU or the target waited for one: both misses of the 3 points
  // seen (pure-Python 3.12.1 +4.1 at 83% of the rate, 3.13t -12 at 78%)
  // came with "did not get the CPU it needed" in the summary.
  if (SaysOverloaded((*rec)->Output())) {
    std::cout << "    (pystrobe: the machine was overloaded; the CPU share "
                 "is not checked)"
              << std::endl;
  } else if (!absl::EndsWith(py.name, "d")) {
    EXPECT_NEAR(got, want, kCpuTolerancePoints);
  }
  if (::testing::Test::HasFailure()) std::cout << (*rec)->Output() << std::endl;
}

// --async all in wall mode: at every tick the request task is either
// running (burn, a thread sample) or waiting (nap's asyncio.sleep, a task
// sample), so its samples split like its wall time.
void CheckWaitingTasksShowWhereRequestsWait(const Interpreter& py,
                                            bool pure_python) {
  std::cout << "interpreter: " << py.name << " " << py.root << py.path
            << std::endl;
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  const std::string workload = StageWorkload(py, dir.path(), "async_record.py");
  ASSERT_FALSE(workload.empty());
  std::vector<std::string> args = {"-S", "-E", workload,
                                   py.TargetPath(dir.path())};
  if (pure_python) args.push_back("--pure-python");
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      py.Command(args), {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/ready", *target, kTimeout))
      << target->Log();
  const std::string out = dir.path() + "/wait.pb.gz";
  ASSERT_TRUE(TouchFile(dir.path() + "/start"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target->pid()), "--async", "all", "-d",
       "100", "-r", "500", "--mode", "wall", "-o", out},
      dir.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  // Four tasks a tick (main, server, control, request).
  (*rec)->WaitForSamples(4 * kSamples, kTimeout);
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(TouchFile(dir.path() + "/stop"));
  ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
      << (*rec)->Output();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/truth.json", *target, kTimeout))
      << target->Log();
  absl::StatusOr<google::protobuf::Struct> truth =
      ReadJsonObject(dir.path() + "/truth.json");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const double window = NumberField(*truth, "window_s");
  ASSERT_GT(window, 0.5);
  absl::StatusOr<Profile> profile = ReadProfile(out);
  ASSERT_TRUE(profile.ok()) << profile.status();

  int64_t request = 0, nap = 0, burn = 0, unsure = 0;
  for (const Sample& s : profile->samples) {
    if (StringLabel(s, "task") != "request") continue;
    request += s.values[0];
    const std::vector<std::string> names = FunctionNames(*profile, s);
    if (!names.empty() && names[0] == "burn") burn += s.values[0];
    if (std::find(names.begin(), names.end(), "nap") == names.end()) continue;
    nap += s.values[0];
    SCOPED_TRACE(absl::StrJoin(names, " <- "));
    // Waiting in nap's sleep, on the same logical path as burn.
    auto at = [&](const std::string& name) {
      return std::find(names.begin(), names.end(), name) - names.begin();
    };
    EXPECT_LT(at("nap"), at("handle"));
    EXPECT_LT(at("handle"), at("server"));
    EXPECT_LT(at("server"), static_cast<long>(names.size()));
    // Waiting (in asyncio.sleep, or scheduled to resume): a task sample,
    // idle and without the event loop's frames; nap's and sleep's own code
    // runs on the thread.
    const bool on_thread = at("Handle._run") < static_cast<long>(names.size());
    if (StringLabel(s, "idle") != (on_thread ? "" : "true")) {
      // A thread sample whose stack was read while the loop moved on
      // (no Handle._run under the task's chain; once in ~3,000 samples at
      // load, 3.15d): counted, bounded below.
      EXPECT_EQ(StringLabel(s, "idle"), "") << "an idle sample on the thread";
      unsure += s.values[0];
    }
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_LE(unsure * 100, request)
      << "over 1% of the request task's samples were neither a thread "
         "sample under the event loop nor an idle task sample";
  ASSERT_GT(request, kSamples / 2) << DescribeProfile(*profile);
  const double want_nap = 100.0 * NumberField(*truth, "nap_wall_s") / window;
  const double want_burn = 100.0 * NumberField(*truth, "burn_wall_s") / window;
  const double got_nap = 100.0 * nap / static_cast<double>(request);
  const double got_burn = 100.0 * burn / static_cast<double>(request);
  std::cout << absl::StreamFormat(
                   "%s request's wall: nap truth %5.2f%% pystrobe %5.2f%%, "
                   "burn truth %5.2f%% pystrobe %5.2f%% (%d samples)",
                   py.name + (pure_python ? " (pure-Python tasks)" : ""),
                   want_nap, got_nap, want_burn, got_burn, request)
            << std::endl;
  EXPECT_NEAR(got_nap, want_nap, kTolerancePoints);
  EXPECT_NEAR(got_burn, want_burn, kTolerancePoints);
  if (::testing::Test::HasFailure()) std::cout << (*rec)->Output() << std::endl;
}

std::string ParamName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, RecordAsyncTest,
                         ::testing::ValuesIn(AsyncRecordInterpreters()),
                         ParamName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RecordAsyncTest);

}  // namespace
}  // namespace pystrobe::integration
