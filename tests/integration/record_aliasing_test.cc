// `pystrobe record` does not alias with periodic work in the target.
//
// tests/workloads/record_periodic.py runs a cycle locked to the monotonic
// clock: ahead() spins for the first 30% of each cycle, behind() sleeps the
// rest, and it measures the wall time it spends in each. Cycles equal to
// the sampling period, half of it, twice it and 1.05 times it, at 100, 250
// and 1000 Hz: the wall share of each function in the profile must be
// within 3 points of the workload's own measurement. A sampler on a fixed
// grid (even with the +-10% jitter pystrobe had) sees the same phase of
// such a cycle at every tick: at 100 Hz a 10 ms cycle gave ahead 0% or
// 100% depending on the start. The four cycles of a rate run at once, each
// its own process with its own recorder (--idle: behind() sleeps).
//
// Statistics: for a cycle equal to the period, one tick per period at a
// uniform phase makes each sample an independent draw, so the share's
// standard deviation is sqrt(0.21 / n): 3 points is 4 standard deviations
// at n = 3000 samples, hence 30 s at 100 Hz (12 s at 250 Hz, 4 s at 1 kHz).
#include <signal.h>

#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(180);
constexpr double kSharePoints = 3.0;

struct Rate {
  double hz;
  double seconds;
};

class RecordAliasingTest : public ::testing::TestWithParam<Rate> {};

struct Target {
  double cycle_periods;  // the cycle in sampling periods
  std::unique_ptr<ScopedTempDir> dir;
  std::optional<ChildProcess> process;
  std::unique_ptr<Recorder> recorder;
  std::string out;
};

TEST_P(RecordAliasingTest, PeriodicWorkIsSampledAtEveryPhase) {
  std::optional<Interpreter> py = DefaultInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
  const Rate rate = GetParam();
  std::cout << "interpreter: " << py->name << " " << py->path << "; " << rate.hz
            << " Hz for " << rate.seconds << " s" << std::endl;
  const double period_us = 1e6 / rate.hz;
  std::vector<Target> targets;
  for (double cycle : {1.0, 0.5, 2.0, 1.05}) {
    Target t;
    t.cycle_periods = cycle;
    t.dir = std::make_unique<ScopedTempDir>();
    ASSERT_FALSE(t.dir->path().empty());
    absl::StatusOr<ChildProcess> p = StartWorkload(
        *py, "record_periodic.py",
        {t.dir->path(), absl::StrFormat("%.3f", cycle * period_us), "0.3"},
        t.dir->path());
    ASSERT_TRUE(p.ok()) << p.status();
    t.process.emplace(*std::move(p));
    targets.push_back(std::move(t));
  }
  for (Target& t : targets) {
    ASSERT_TRUE(
        WaitForFileOrExit(t.dir->path() + "/ready", *t.process, kTimeout))
        << t.process->Log();
  }
  for (Target& t : targets) {
    ASSERT_TRUE(TouchFile(t.dir->path() + "/start"));
    t.out = t.dir->path() + "/periodic.pb.gz";
    absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
        {"record", "--pid", std::to_string(t.process->pid()), "--idle", "-r",
         absl::StrCat(rate.hz), "-d", absl::StrCat(rate.seconds), "-o", t.out},
        t.dir->path());
    ASSERT_TRUE(rec.ok()) << rec.status();
    t.recorder = *std::move(rec);
  }
  for (Target& t : targets) {
    std::optional<RecorderExit> done = t.recorder->Wait(kTimeout);
    ASSERT_TRUE(TouchFile(t.dir->path() + "/stop"));
    ASSERT_TRUE(done.has_value()) << t.recorder->Output();
    ASSERT_TRUE(done->exited && done->exit_code == 0)
        << done->Describe() << "\n"
        << t.recorder->Output();
  }
  for (Target& t : targets) {
    SCOPED_TRACE(absl::StrFormat("cycle %.2f periods at %g Hz", t.cycle_periods,
                                 rate.hz));
    ASSERT_TRUE(
        WaitForFileOrExit(t.dir->path() + "/truth.json", *t.process, kTimeout))
        << t.process->Log();
    absl::StatusOr<google::protobuf::Struct> truth =
        ReadJsonObject(t.dir->path() + "/truth.json");
    ASSERT_TRUE(truth.ok()) << truth.status();
    const double ahead_s = NumberField(*truth, "ahead_s");
    const double behind_s = NumberField(*truth, "behind_s");
    ASSERT_GT(ahead_s + behind_s, 0.5 * rate.seconds) << t.process->Log();
    absl::StatusOr<Profile> p = ReadProfile(t.out);
    ASSERT_TRUE(p.ok()) << p.status();
    const int wall = p->SampleTypeIndex("wall");
    ASSERT_EQ(wall, 1) << DescribeProfile(*p);
    int64_t total = 0, samples = 0;
    std::map<std::string, int64_t> self = SelfValues(*p, wall, &total);
    std::map<std::string, int64_t> counts = SelfValues(*p, 0, &samples);
    const double both = static_cast<double>(self["ahead"] + self["behind"]);
    const double both_count =
        static_cast<double>(counts["ahead"] + counts["behind"]);
    // The samples a rate gives need wake-ups the machine delivers: when
    // pystrobe's ticks were late because it did not get a CPU (its
    // summary tells that from ticks that took too long), the test's
    // premise is gone. Seen on this VM: a bare 1 kHz clock_nanosleep loop
    // (bench/cost_floor.c) woke only 79% of the time.
    if (both_count <= 0.8 * rate.hz * rate.seconds &&
        t.recorder->Output().find("did not get the CPU it needed") !=
            std::string::npos) {
      GTEST_SKIP() << "the machine delayed pystrobe's wake-ups:\n"
                   << t.recorder->Output();
    }
    ASSERT_GT(both_count, 0.8 * rate.hz * rate.seconds)
        << "too few samples in ahead/behind\n"
        << t.recorder->Output();
    const double want = 100.0 * ahead_s / (ahead_s + behind_s);
    const double got = 100.0 * static_cast<double>(self["ahead"]) / both;
    const double by_count =
        100.0 * static_cast<double>(counts["ahead"]) / both_count;
    std::cout << absl::StreamFormat(
                     "  cycle %.2f periods (%.0f us): ahead truth %5.2f%%, "
                     "pystrobe %5.2f%% (by count %5.2f%%) of %d samples",
                     t.cycle_periods, t.cycle_periods * period_us, want, got,
                     by_count, static_cast<int64_t>(both_count))
              << std::endl;
    EXPECT_NEAR(got, want, kSharePoints);
    EXPECT_NEAR(by_count, want, kSharePoints);
  }
}

std::string RateName(const ::testing::TestParamInfo<Rate>& param) {
  return absl::StrCat("Hz", param.param.hz);
}

INSTANTIATE_TEST_SUITE_P(Rates, RecordAliasingTest,
                         ::testing::Values(Rate{100, 30}, Rate{250, 12},
                                           Rate{1000, 4}),
                         RateName);

}  // namespace
}  // namespace pystrobe::integration
