// What record's summary says about the targets' wait for a CPU: nothing up
// to a quarter of their runnable time; above it, a loaded machine for long
// waits and the process's own threads taking turns for short ones, by the
// rule pystrobe-diff's gate uses (process/cpu_wait.h).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/process/cpu_wait.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;

RecordingResult Waited(double ran_s, double wait_s, double waits,
                       bool attached) {
  RecordingResult r;
  r.attached = attached;
  RunSummary run;
  run.ran_s = ran_s;
  run.wait_s = wait_s;
  run.waits = waits;
  r.runs.push_back(run);
  return r;
}

TEST(DescribeCpuWaitTest, NothingUpToAQuarter) {
  EXPECT_EQ(DescribeCpuWait(Waited(3, 1, 100, true)), "");  // 25%
  EXPECT_EQ(DescribeCpuWait(Waited(0, 0, 0, false)), "");
}

TEST(DescribeCpuWaitTest, ManyShortWaitsAreTheProcessOwnThreads) {
  // The attached pool: ran 3.25 s, waited 1.87 s in 5125 waits.
  for (bool attached : {true, false}) {
    const std::string line =
        DescribeCpuWait(Waited(3.25, 1.87, 5125, attached));
    EXPECT_THAT(line, HasSubstr("note: the target's threads waited for a CPU "
                                "37% of the time they could run, 0.36 ms per "
                                "wait on average (many short waits"));
    EXPECT_THAT(line, HasSubstr("pystrobe-diff judges this recording"));
    EXPECT_FALSE(Overloaded(3.25, 1.87, 5125));
  }
}

TEST(DescribeCpuWaitTest, LongWaitsAreALoadedMachine) {
  for (bool attached : {true, false}) {
    const std::string line = DescribeCpuWait(Waited(2, 2.6, 580, attached));
    EXPECT_THAT(line, HasSubstr("warning: the machine was overloaded: the "
                                "target's threads waited for a CPU 57% of the "
                                "time they could run, 4.48 ms per wait"));
    EXPECT_THAT(line, HasSubstr("pystrobe-diff will not judge"));
    EXPECT_TRUE(Overloaded(2, 2.6, 580));
  }
}

TEST(DescribeCpuWaitTest, UnknownWaitCountsCountAsLong) {
  EXPECT_THAT(DescribeCpuWait(Waited(1, 1, 0, true)),
              HasSubstr("overloaded: the target's threads waited for a CPU 50% "
                        "of the time they could run (long waits"));
}

}  // namespace
}  // namespace pystrobe
