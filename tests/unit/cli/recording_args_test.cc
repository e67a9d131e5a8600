// The options record and top share: several --pid (repeated and
// comma-separated), --subprocesses, and the sampler options with each
// command's rate range; bad values give their one-line errors, and
// anything else is left to the command.
#include "recording_args.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;

constexpr RateRange kTopRates{1, true, 10000};

// Parses `args` as a command's loop does; the first argument no shared
// parser takes, or the error.
struct Parsed {
  RecordingOptions r;
  std::string error;
  std::string left;  // the first argument not taken
};

Parsed Parse(const std::vector<std::string>& args,
             const RateRange& rates = kRecordRates) {
  Parsed p;
  for (size_t i = 0; i < args.size(); ++i) {
    if (ParseTargetOption(args, &i, &p.r, &p.error) ||
        ParseSamplerOption(args, &i, rates, &p.r.sampler, &p.error)) {
      if (!p.error.empty()) return p;
    } else {
      p.left = args[i];
      return p;
    }
  }
  return p;
}

TEST(RecordingArgsTest, SeveralPidsRepeatedOrCommaSeparated) {
  Parsed p = Parse({"--pid", "10", "-p", "11,12", "--subprocesses"});
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.r.pid, 10);
  EXPECT_THAT(p.r.pids, ElementsAre(11, 12));
  EXPECT_TRUE(p.r.subprocesses);
  p = Parse({"--pid", "7"});
  EXPECT_EQ(p.r.pid, 7);
  EXPECT_TRUE(p.r.pids.empty());
  EXPECT_FALSE(p.r.subprocesses);
}

TEST(RecordingArgsTest, BadPidsSayWhich) {
  EXPECT_EQ(Parse({"--pid", "10,x"}).error,
            "--pid wants a process ID, not 'x'");
  EXPECT_EQ(Parse({"--pid", "10,,11"}).error,
            "--pid wants a process ID, not ''");
  EXPECT_EQ(Parse({"-p", "0"}).error, "--pid wants a process ID, not '0'");
  EXPECT_EQ(Parse({"--pid"}).error, "--pid needs a value");
  EXPECT_EQ(Parse({"-p"}).error, "-p needs a value");
}

TEST(RecordingArgsTest, SamplerOptions) {
  Parsed p = Parse({"-r", "250", "--mode", "cpu", "--gil", "--idle"});
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.r.sampler.rate_hz, 250);
  EXPECT_EQ(p.r.sampler.mode, WeightMode::kCpu);
  EXPECT_TRUE(p.r.sampler.gil_only);
  EXPECT_TRUE(p.r.sampler.include_idle);
  EXPECT_EQ(Parse({"--mode", "wall"}).r.sampler.mode, WeightMode::kWall);
  // --native for both record and top (top then stops the target too).
  Parsed n = Parse({"--native"});
  EXPECT_TRUE(n.r.sampler.native);
  EXPECT_FALSE(n.r.sampler.native_all);
  EXPECT_TRUE(Parse({"--native-all"}).r.sampler.native_all);
  EXPECT_EQ(Parse({"--mode", "both"}).error,
            "--mode is wall or cpu, not 'both'");
  EXPECT_EQ(Parse({"--rate"}).error, "--rate needs a value");
}

TEST(RecordingArgsTest, EachCommandsRateRange) {
  // record: (0, 100000].
  EXPECT_EQ(Parse({"--rate", "0.5"}).error, "");
  EXPECT_EQ(Parse({"--rate", "100000"}).error, "");
  EXPECT_EQ(Parse({"--rate", "0"}).error,
            "--rate wants a number of Hz in (0, 100000], not '0'");
  EXPECT_EQ(Parse({"-r", "fast"}).error,
            "--rate wants a number of Hz in (0, 100000], not 'fast'");
  // top: [1, 10000].
  EXPECT_EQ(Parse({"--rate", "1"}, kTopRates).error, "");
  EXPECT_EQ(Parse({"--rate", "0.5"}, kTopRates).error,
            "--rate wants a number of Hz in [1, 10000], not '0.5'");
  EXPECT_EQ(Parse({"--rate", "20000"}, kTopRates).error,
            "--rate wants a number of Hz in [1, 10000], not '20000'");
  EXPECT_EQ(Parse({"--rate", "nan"}, kTopRates).error,
            "--rate wants a number of Hz in [1, 10000], not 'nan'");
}

TEST(RecordingArgsTest, OtherOptionsAreTheCommands) {
  EXPECT_EQ(Parse({"--pid", "3", "--blocking", "--idle"}).left, "--blocking");
  EXPECT_EQ(Parse({"--recent", "5"}).left, "--recent");
  EXPECT_EQ(Parse({"--pids", "5"}).left, "--pids");
}

}  // namespace
}  // namespace pystrobe
