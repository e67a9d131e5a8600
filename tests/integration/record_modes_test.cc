// `pystrobe record --pid` sampling modes against the target's own truth:
// wall vs cpu weights on a half-sleeping workload, --gil on a workload whose
// threads fight over the GIL, and --blocking leaving the target running,
// also when pystrobe is SIGKILLed in the middle of a suspension.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);

// The CPU time of the target's thread at Unix time `t`, from the
// (time.time(), time.thread_time()) points it recorded at every phase
// boundary: its CPU clock stands still while it sleeps and advances about
// linearly while it spins, so linear interpolation between boundaries is
// close.
double CpuAt(const google::protobuf::ListValue& points, double t) {
  double prev_t = 0, prev_cpu = 0;
  for (int i = 0; i < points.values_size(); ++i) {
    const auto& p = points.values(i).list_value();
    const double pt = p.values(0).number_value();
    const double cpu = p.values(1).number_value();
    if (pt >= t) {
      if (i == 0 || pt == prev_t) return cpu;
      return prev_cpu + (cpu - prev_cpu) * (t - prev_t) / (pt - prev_t);
    }
    prev_t = pt;
    prev_cpu = cpu;
  }
  return prev_cpu;
}

// Seconds of [begin, end] that the target spent in nap, from the intervals
// it recorded.
double NapWithin(const google::protobuf::ListValue& naps, double begin,
                 double end) {
  double sum = 0;
  for (const auto& v : naps.values()) {
    const auto& nap = v.list_value();
    const double a = std::max(begin, nap.values(0).number_value());
    const double b = std::min(end, nap.values(1).number_value());
    if (b > a) sum += b - a;
  }
  return sum;
}

// The counter the workload's main thread writes every ~10 ms (-1: none).
int64_t Counter(const std::string& dir) {
  absl::StatusOr<std::string> text = ReadFileToString(dir + "/counter");
  int64_t n = -1;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &n)) {
    return -1;
  }
  return n;
}

// "" when no thread of `pid` is stopped, else which ones are.
std::string StoppedThreads(pid_t pid) {
  absl::StatusOr<std::map<int64_t, char>> states = ThreadStates(pid);
  if (!states.ok()) return states.status().ToString();
  std::string stopped;
  for (const auto& [tid, state] : *states) {
    if (state == 't' || state == 'T') {
      absl::StrAppend(&stopped, "thread ", tid, " in state ",
                      std::string(1, state), "; ");
    }
  }
  return stopped;
}

// TracerPid of the target's main thread (0: none or unreadable).
int64_t TracerPid(pid_t pid) {
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return 0;
  size_t at = status->find("\nTracerPid:");
  if (at == std::string::npos) return 0;
  size_t end = status->find('\n', at + 1);
  int64_t tracer = 0;
  if (!absl::SimpleAtoi(
          absl::StripAsciiWhitespace(status->substr(
              at + 11,
              end == std::string::npos ? std::string::npos : end - at - 11)),
          &tracer)) {
    return 0;
  }
  return tracer;
}

class RecordModesTest : public DefaultInterpreterTest {
 protected:
  // Starts `workload` and waits for its ready file.
  void StartTarget(const std::string& workload,
                   std::vector<std::string> args = {}) {
    args.insert(args.begin(), dir_.path());
    absl::StatusOr<ChildProcess> target =
        StartWorkload(py_, workload, args, dir_.path());
    ASSERT_TRUE(target.ok()) << target.status();
    target_.emplace(*std::move(target));
    ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *target_, kTimeout))
        << "workload not ready:\n"
        << target_->Log();
  }

  // Records with `args` (after --pid PID -o OUT) to completion.
  absl::StatusOr<Profile> Record(const std::string& out,
                                 std::vector<std::string> args) {
    std::vector<std::string> all = {"record", "--pid",
                                    std::to_string(target_->pid()), "-o", out};
    all.insert(all.end(), args.begin(), args.end());
    absl::StatusOr<std::unique_ptr<Recorder>> rec =
        Recorder::Start(all, dir_.path());
    if (!rec.ok()) return rec.status();
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    if (!done || !done->exited || done->exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("pystrobe ", done ? done->Describe() : "timed out", "\n",
                       (*rec)->Output()));
    }
    return ReadProfile(out);
  }

  // Stops the workload's measurement and reads its truth.
  absl::StatusOr<google::protobuf::Struct> StopAndReadTruth() {
    if (!TouchFile(dir_.path() + "/stop")) {
      return absl::InternalError("cannot create the stop file");
    }
    if (!WaitForFileOrExit(dir_.path() + "/truth.json", *target_, kTimeout)) {
      return absl::InternalError("no truth.json:\n" + target_->Log());
    }
    return ReadJsonObject(dir_.path() + "/truth.json");
  }

  std::optional<ChildProcess> target_;
};

// wall --idle sees the sleep; cpu mode does not, and its CPU seconds are
// the target's own.
TEST_F(RecordModesTest, WallShowsTheSleepCpuCountsOnlyCpuTime) {
  StartTarget("record_sleepy.py");
  ASSERT_TRUE(TouchFile(dir_.path() + "/start"));
  const std::string wall_out = dir_.path() + "/wall.pb.gz";
  const std::string cpu_out = dir_.path() + "/cpu.pb.gz";
  absl::StatusOr<Profile> wall =
      Record(wall_out, {"--mode", "wall", "--idle", "-d", "4", "-r", "200"});
  ASSERT_TRUE(wall.ok()) << wall.status();
  absl::StatusOr<Profile> cpu =
      Record(cpu_out, {"--mode", "cpu", "-d", "4", "-r", "1000"});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  absl::StatusOr<google::protobuf::Struct> truth = StopAndReadTruth();
  ASSERT_TRUE(truth.ok()) << truth.status();

  // The share of the wall recording's window the target spent asleep. (Not
  // exactly half: on a loaded machine its spins take longer than their CPU
  // time.)
  const double wall_begin = static_cast<double>(wall->time_nanos) / 1e9;
  const double wall_end =
      wall_begin + static_cast<double>(wall->duration_nanos) / 1e9;
  const double sleep_share =
      100.0 *
      NapWithin(truth->fields().at("naps").list_value(), wall_begin, wall_end) /
      (wall_end - wall_begin);
  ASSERT_TRUE(sleep_share > 15 && sleep_share < 85)
      << "the workload did not sleep about half the time: " << sleep_share;

  // wall --idle: nap (time.sleep's caller) weighs about the sleep fraction.
  const int wall_index = wall->SampleTypeIndex("wall");
  ASSERT_EQ(wall_index, 1) << DescribeProfile(*wall);
  int64_t wall_total = 0;
  std::map<std::string, int64_t> wall_self =
      SelfValues(*wall, wall_index, &wall_total);
  ASSERT_GT(wall_total, 0) << DescribeProfile(*wall);
  const double wall_nap = 100.0 * static_cast<double>(wall_self["nap"]) /
                          static_cast<double>(wall_total);
  int64_t idle_samples = 0;
  for (const Sample& s : wall->samples) {
    if (StringLabel(s, "idle") == "true") idle_samples += s.values[0];
  }
  std::cout << absl::StreamFormat(
                   "wall --idle: nap %.1f%% of wall time (target slept %.1f%% "
                   "of its window); %d samples labelled idle",
                   wall_nap, sleep_share, idle_samples)
            << std::endl;
  EXPECT_NEAR(wall_nap, sleep_share, 10.0) << DescribeProfile(*wall);
  EXPECT_GT(idle_samples, 0) << "a sleeping thread is idle";
  CommandResult top = GoPprof({"-top", wall_out}, dir_.path());
  ASSERT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
  EXPECT_THAT(top.out, ::testing::HasSubstr("nap"));
  EXPECT_THAT(top.out, ::testing::HasSubstr("spin_busy"));

  // cpu: nap gets (almost) nothing; the CPU seconds are the target's.
  const int cpu_index = cpu->SampleTypeIndex("cpu");
  ASSERT_EQ(cpu_index, 1) << DescribeProfile(*cpu);
  int64_t cpu_total = 0;
  std::map<std::string, int64_t> cpu_self =
      SelfValues(*cpu, cpu_index, &cpu_total);
  ASSERT_GT(cpu_total, 0) << DescribeProfile(*cpu);
  const double cpu_nap = 100.0 * static_cast<double>(cpu_self["nap"]) /
                         static_cast<double>(cpu_total);
  const auto& points = truth->fields().at("points").list_value();
  const double begin_s = static_cast<double>(cpu->time_nanos) / 1e9;
  const double end_s = begin_s + static_cast<double>(cpu->duration_nanos) / 1e9;
  const double truth_cpu = CpuAt(points, end_s) - CpuAt(points, begin_s);
  const double profile_cpu = static_cast<double>(cpu_total) / 1e9;
  std::cout << absl::StreamFormat(
                   "cpu: nap %.2f%% of CPU time; %.3f CPU s in the profile, "
                   "%.3f s by the target's thread_time() over the profile's "
                   "window (%.2f s)",
                   cpu_nap, profile_cpu, truth_cpu, end_s - begin_s)
            << std::endl;
  // A sleeping thread's samples stand for no CPU, and the sleep call's own
  // CPU goes to the spins (docs/sampling.md): nap gets next to nothing.
  EXPECT_LT(cpu_nap, 5.0) << DescribeProfile(*cpu);
  EXPECT_GT(begin_s, NumberField(*truth, "window_start_unix_s"))
      << "the profile starts before the target started measuring";
  ASSERT_GT(truth_cpu, 0.1);
  EXPECT_NEAR(profile_cpu, truth_cpu, 0.10 * truth_cpu);
  top = GoPprof({"-top", cpu_out}, dir_.path());
  ASSERT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
  EXPECT_THAT(top.out, ::testing::HasSubstr("spin_busy"));
}

// --gil keeps only the GIL holder; the GIL passes between the workers in
// proportion to the CPU each used. Without it, the others show too.
TEST_F(RecordModesTest, GilSamplesOnlyTheHolder) {
  StartTarget("record_threads.py", {"3"});
  ASSERT_TRUE(TouchFile(dir_.path() + "/start"));
  const std::string gil_out = dir_.path() + "/gil.pb.gz";
  // With --idle too: threads waiting for the GIL sleep on it, so without
  // --idle they would be dropped as idle anyway and --gil could do nothing
  // unnoticed. With --idle only the GIL can keep them out.
  absl::StatusOr<Profile> gil =
      Record(gil_out, {"--gil", "--idle", "-d", "3", "-r", "500"});
  ASSERT_TRUE(gil.ok()) << gil.status();
  absl::StatusOr<Profile> all =
      Record(dir_.path() + "/all.pb.gz", {"--idle", "-d", "2", "-r", "200"});
  ASSERT_TRUE(all.ok()) << all.status();
  absl::StatusOr<google::protobuf::Struct> truth = StopAndReadTruth();
  ASSERT_TRUE(truth.ok()) << truth.status();

  // The workers' own CPU split.
  std::map<int64_t, double> worker_cpu;
  double cpu_sum = 0;
  for (const auto& w : truth->fields().at("workers").list_value().values()) {
    const double cpu = NumberField(w.struct_value(), "cpu_s");
    worker_cpu[static_cast<int64_t>(
        NumberField(w.struct_value(), "native_id"))] = cpu;
    cpu_sum += cpu;
  }
  ASSERT_EQ(worker_cpu.size(), 3u);
  ASSERT_GT(cpu_sum, 0.1);

  int64_t total = 0, without_gil = 0;
  std::map<int64_t, int64_t> per_thread;
  for (const Sample& s : gil->samples) {
    total += s.values[0];
    if (StringLabel(s, "gil") != "true") without_gil += s.values[0];
    std::optional<int64_t> tid = NumberLabel(s, "thread_id");
    ASSERT_TRUE(tid.has_value()) << DescribeProfile(*gil);
    per_thread[*tid] += s.values[0];
  }
  ASSERT_GT(total, 100) << DescribeProfile(*gil);
  EXPECT_EQ(without_gil, 0) << "--gil recorded threads not holding the GIL\n"
                            << DescribeProfile(*gil);
  int64_t worker_total = 0;
  for (const auto& [tid, cpu] : worker_cpu) worker_total += per_thread[tid];
  EXPECT_GT(worker_total, total * 9 / 10)
      << "the workers hold the GIL nearly all the time";
  for (const auto& [tid, cpu] : worker_cpu) {
    const double share = 100.0 * static_cast<double>(per_thread[tid]) /
                         static_cast<double>(worker_total);
    const double want = 100.0 * cpu / cpu_sum;
    std::cout << absl::StreamFormat(
                     "--gil: worker %d holds %.1f%% of the workers' GIL "
                     "samples, used %.1f%% of their CPU",
                     tid, share, want)
              << std::endl;
    EXPECT_NEAR(share, want, 10.0) << "worker " << tid;
  }
  CommandResult raw = GoPprof({"-raw", gil_out}, dir_.path());
  ASSERT_TRUE(raw.exited && raw.exit_code == 0) << raw.Describe();
  EXPECT_THAT(raw.out, ::testing::HasSubstr("spin_worker"));

  // Without --gil (and with --idle, since threads waiting for the GIL sleep
  // on it), every thread is sampled and at most one holds the GIL.
  int64_t all_total = 0, all_gil = 0;
  for (const Sample& s : all->samples) {
    all_total += s.values[0];
    if (StringLabel(s, "gil") == "true") all_gil += s.values[0];
  }
  std::cout << absl::StreamFormat("no --gil: %d of %d samples carry gil=true",
                                  all_gil, all_total)
            << std::endl;
  ASSERT_GT(all_total, 0);
  EXPECT_GT(all_total - all_gil, 0) << "no sample of a non-holder";
  // 4 threads per tick, one holder at most.
  EXPECT_LE(all_gil * 100, all_total * 35) << DescribeProfile(*all);
}

// Under --gil a thread without the GIL is not wanted: pystrobe reads
// neither its procfs state nor its stack. Counted with strace: before, each
// of the 3 waiting threads cost a `pread` of its stat per tick (~600 in 200
// ticks); now only start-up reads remain.
TEST_F(RecordModesTest, GilReadsNothingOfTheThreadsWithoutIt) {
  if (access("/usr/bin/strace", X_OK) != 0) {
    GTEST_SKIP() << "strace not installed (scripts/install-deps.sh)";
  }
  StartTarget("record_threads.py", {"3"});
  ASSERT_TRUE(TouchFile(dir_.path() + "/start"));
  const std::string trace = dir_.path() + "/gil.strace";
  for (const char* idle : {"", "--idle"}) {
    std::vector<std::string> argv = {"/usr/bin/strace",
                                     "-f",
                                     "-qq",
                                     "-e",
                                     "trace=pread64",
                                     "-o",
                                     trace,
                                     PystrobeBinary(),
                                     "record",
                                     "--pid",
                                     std::to_string(target_->pid()),
                                     "--gil",
                                     "-r",
                                     "200",
                                     "-d",
                                     "1",
                                     "-o",
                                     dir_.path() + "/gil-strace.pb.gz",
                                     "--checkpoint",
                                     "0"};
    if (*idle != '\0') argv.push_back(idle);
    CommandResult r = RunCommand(argv);
    ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
    ASSERT_THAT(r.err, ::testing::HasSubstr(" samples in "));
    std::ifstream in(trace);
    std::string line;
    int preads = 0;
    while (std::getline(in, line)) {
      preads += line.find("pread64(") != std::string::npos;
    }
    std::cout << "--gil " << idle << ": " << preads
              << " preads in a 1 s recording at 200 Hz" << std::endl;
    EXPECT_LT(preads, 40) << idle << "\n" << r.err;
  }
}

// --blocking stops the target only while it reads it: the target keeps
// counting during the recording and no thread is left stopped after it.
TEST_F(RecordModesTest, BlockingLeavesTheTargetRunning) {
  StartTarget("record_threads.py", {"3"});
  const pid_t pid = target_->pid();
  const std::string out = dir_.path() + "/blocking.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(pid), "--blocking",
                       "-r", "200", "-d", "60", "-o", out},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(1, kTimeout)) << (*rec)->Output();
  const int64_t c0 = Counter(dir_.path());
  EXPECT_TRUE(
      WaitFor([&] { return Counter(dir_.path()) >= c0 + 10; }, kTimeout))
      << "the target made no progress while recorded with --blocking";
  EXPECT_TRUE((*rec)->running()) << "the recording ended early";
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  EXPECT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  std::string stopped = StoppedThreads(pid);
  EXPECT_EQ(stopped, "") << "after --blocking";
  const int64_t c1 = Counter(dir_.path());
  EXPECT_TRUE(WaitFor([&] { return Counter(dir_.path()) >= c1 + 5; },
                      absl::Seconds(30)))
      << "the target stopped counting after --blocking";
  absl::StatusOr<Profile> profile = ReadProfile(out);
  ASSERT_TRUE(profile.ok()) << profile.status();
  int64_t total = 0;
  std::map<std::string, int64_t> self = SelfValues(*profile, 0, &total);
  EXPECT_GT(self["spin_worker"], 0) << DescribeProfile(*profile);
}

// SIGKILL cannot be caught: pystrobe's guard never runs. The kernel must
// then release the threads it had stopped (PTRACE_INTERRUPT stops are not
// group-stops), and the target must run on. Killed in the middle of a
// suspension (seen from the target's TracerPid), a few times over.
TEST_F(RecordModesTest, BlockingKilledMidSuspensionLeavesTheTargetRunning) {
  StartTarget("record_threads.py", {"3"});
  const pid_t pid = target_->pid();
  int caught_suspended = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
        {"record", "--pid", std::to_string(pid), "--blocking", "-r", "1000",
         "-d", "60", "-o", dir_.path() + "/killed.pb.gz"},
        dir_.path());
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_TRUE((*rec)->WaitForSamples(20, kTimeout)) << (*rec)->Output();
    // Kill it while it holds the target, if we can catch it at that.
    const pid_t tracer = (*rec)->pid();
    if (WaitFor([&] { return TracerPid(pid) == tracer; }, absl::Seconds(10))) {
      ++caught_suspended;
    }
    (*rec)->Signal(SIGKILL);
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->term_signal, SIGKILL) << done->Describe();

    std::string stopped;
    EXPECT_TRUE(WaitFor([&] { return (stopped = StoppedThreads(pid)).empty(); },
                        absl::Seconds(5)))
        << "after SIGKILL of a --blocking pystrobe: " << stopped;
    ASSERT_FALSE(target_->HasExited()) << target_->Log();
    const int64_t c = Counter(dir_.path());
    EXPECT_TRUE(WaitFor([&] { return Counter(dir_.path()) >= c + 5; },
                        absl::Seconds(30)))
        << "the target stopped counting after pystrobe was killed; states: "
        << StoppedThreads(pid);
    if (HasFailure()) break;
  }
  std::cout << "killed pystrobe mid-suspension in " << caught_suspended
            << " of 3 rounds" << std::endl;
  EXPECT_GT(caught_suspended, 0)
      << "never caught pystrobe holding the target: the test did not test";
}

}  // namespace
}  // namespace pystrobe::integration
