// Recordings made for the gate, with real commands: the interleaved base
// and new runs of `record --base-command` (their order as the workloads log
// it, the two profiles and their pairing comments, the verdict line),
// `--repeat auto` stopping by itself and saying why, and the sample budget
// choosing each run's rate for about 2000 samples. Verdicts on real timing
// are the diff gate's tests' business, not this file's.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

std::string Python() { return GateTestPython(); }

std::string Workload(const std::string& name) {
  return absl::StrCat(PYSTROBE_SOURCE_DIR, "/tests/workloads/", name);
}

// The value of comment `key=` of `p`, or nullopt.
std::optional<std::string> Comment(const Profile& p, const std::string& key) {
  for (const std::string& c : p.comments) {
    if (absl::StartsWith(c, key + "=")) return c.substr(key.size() + 1);
  }
  return std::nullopt;
}

// The field `name=` of a "pystrobe.run.I=..." comment.
std::optional<double> RunField(const Profile& p, int run,
                               const std::string& name) {
  std::optional<std::string> c = Comment(p, absl::StrCat("pystrobe.run.", run));
  if (!c) return std::nullopt;
  for (absl::string_view field : absl::StrSplit(*c, ' ')) {
    if (!absl::ConsumePrefix(&field, name + "=")) continue;
    double v = 0;
    if (absl::SimpleAtod(field, &v)) return v;
  }
  return std::nullopt;
}

// Samples per value of the `run` label (the samples/count value).
std::map<int64_t, int64_t> SamplesPerRun(const Profile& p) {
  std::map<int64_t, int64_t> per_run;
  for (const Sample& s : p.samples) {
    std::optional<int64_t> run = NumberLabel(s, "run");
    if (run && !s.values.empty()) per_run[*run] += s.values[0];
  }
  return per_run;
}

bool HasVerdictLine(const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "OK:") || absl::StartsWith(line, "FAIL:") ||
        absl::StartsWith(line, "INCONCLUSIVE:")) {
      return true;
    }
  }
  return false;
}

TEST(RecordGateRunsTest, BaseAndNewRunsInterleaveAbbaIntoTwoPairedProfiles) {
  const std::string py = Python();
  if (py.empty()) GTEST_SKIP() << "no Python interpreter found";
  ScopedTempDir dir;
  const std::string log = dir.path() + "/arms.log";
  const std::string out = dir.path() + "/out.pb.gz";
  const std::string workload = Workload("gate_arms.py");
  const CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "--repeat", "4", "-o", out, "--base-command",
       absl::StrCat(py, " '", workload, "' --arm base --log ", log), "--", py,
       workload, "--arm", "new", "--log", log},
      absl::Seconds(180));
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();

  absl::StatusOr<std::string> text = ReadFileToString(log);
  ASSERT_TRUE(text.ok()) << text.status();
  std::vector<std::string> order;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.empty()) continue;
    order.push_back(line.substr(0, line.find(' ')) == "base" ? "B" : "N");
  }
  EXPECT_EQ(absl::StrJoin(order, " "), "B N N B B N N B") << *text;

  absl::StatusOr<Profile> now = ReadProfile(out);
  ASSERT_TRUE(now.ok()) << now.status();
  absl::StatusOr<Profile> base = ReadProfile(dir.path() + "/out.base.pb.gz");
  ASSERT_TRUE(base.ok()) << base.status();
  const std::optional<std::string> id = Comment(*now, "pystrobe.interleaved");
  ASSERT_TRUE(id.has_value()) << DescribeProfile(*now);
  EXPECT_THAT(*id, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(Comment(*base, "pystrobe.interleaved"), id);
  EXPECT_EQ(Comment(*now, "pystrobe.arm"), "new");
  EXPECT_EQ(Comment(*base, "pystrobe.arm"), "base");
  for (const Profile* p : {&*now, &*base}) {
    EXPECT_EQ(Comment(*p, "pystrobe.runs"), "4");
    std::vector<int64_t> runs;
    for (const auto& [run, samples] : SamplesPerRun(*p)) runs.push_back(run);
    EXPECT_THAT(runs, ::testing::ElementsAre(0, 1, 2, 3));
  }
  EXPECT_THAT(Comment(*base, "pystrobe.command").value_or(""),
              HasSubstr("--arm base"));
  EXPECT_TRUE(HasVerdictLine(r.out)) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("base (interleaved: "));
  EXPECT_THAT(r.err, HasSubstr("pair 4 base:"));
  EXPECT_THAT(r.err, ::testing::ContainsRegex(
                         "4 runs of the new command above, 4 of the base "
                         "\\([0-9]+ of the samples\\) written to "
                         ".*/out.base.pb.gz"));
}

TEST(RecordGateRunsTest, AFailingBaseRunStopsTheRecordingWithoutAVerdict) {
  const std::string py = Python();
  if (py.empty()) GTEST_SKIP() << "no Python interpreter found";
  ScopedTempDir dir;
  const std::string log = dir.path() + "/arms.log";
  const std::string workload = Workload("gate_arms.py");
  const CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "--repeat", "3", "-o",
       dir.path() + "/out.pb.gz", "--base-command",
       absl::StrCat(py, " ", workload, " --arm base --exit 4 --log ", log),
       "--", py, workload, "--arm", "new", "--work", "30", "--log", log},
      absl::Seconds(120));
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("the base command"));
  EXPECT_THAT(r.err, HasSubstr("exited with status 4 in pair 1"));
  EXPECT_FALSE(HasVerdictLine(r.out)) << r.Describe();
  // It stopped at the first failure.
  absl::StatusOr<std::string> text = ReadFileToString(log);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, text->substr(0, text->find('\n') + 1)) << *text;
}

TEST(RecordGateRunsTest, BaseOptionsRefuseWhatTheyDoNotCombineWith) {
  const std::string py = Python();
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{
           {"--base-command", "true", "--compare", "x.pb.gz"},
           {"--base-dir", "/tmp", "--every", "5"},
           {"--repeat", "auto"},
           {"--budget", "30", "--base-dir", "/tmp"},
           {"--base-command", "a | b"},
           {"--samples", "500", "-r", "200"}}) {
    std::vector<std::string> argv = {PystrobeBinary(), "record"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"--", py.empty() ? "python3" : py, "-c", "0"});
    const CommandResult r = RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "--pid", "1", "--base-dir", "/tmp"});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
}

TEST(RecordGateRunsTest, RepeatAutoStopsByItselfAndSaysWhy) {
  const std::string py = Python();
  if (py.empty()) GTEST_SKIP() << "no Python interpreter found";
  ScopedTempDir dir;
  ScopedTempDir base_dir;
  const std::string out = dir.path() + "/aa.pb.gz";
  // A/A: the base arm is the same command, run from another folder.
  const CommandResult r =
      RunCommand({PystrobeBinary(), "record", "--repeat", "auto", "--budget",
                  "60", "-o", out, "--base-dir", base_dir.path(), "--", py,
                  // Pairs of >= 1 s: 60 s end before the 100-pair limit.
                  Workload("gate_shapes.py"), "helper", "--scale", "2"},
                 absl::Seconds(240));
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  EXPECT_THAT(r.err, ::testing::ContainsRegex(
                         "--repeat auto: (conclusive after [0-9]+ pairs|"
                         "budget of 60 s spent after [0-9]+ pairs|"
                         "stopped after [0-9]+ pairs: the machine is "
                         "overloaded)"));
  absl::StatusOr<Profile> now = ReadProfile(out);
  ASSERT_TRUE(now.ok()) << now.status();
  int runs = 0;
  ASSERT_TRUE(
      absl::SimpleAtoi(Comment(*now, "pystrobe.runs").value_or(""), &runs));
  EXPECT_GE(runs, 1);
  EXPECT_LT(runs, 100);
  EXPECT_THAT(Comment(*now, "pystrobe.repeat").value_or(""),
              ::testing::MatchesRegex(
                  "auto budget_s=60 stop=(conclusive|budget|overloaded)"));
  EXPECT_THAT(Comment(*now, "pystrobe.working_dir"), std::nullopt);
  absl::StatusOr<Profile> base = ReadProfile(dir.path() + "/aa.base.pb.gz");
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(Comment(*base, "pystrobe.working_dir"), base_dir.path());
  EXPECT_EQ(Comment(*base, "pystrobe.runs"), Comment(*now, "pystrobe.runs"));
  EXPECT_TRUE(HasVerdictLine(r.out)) << r.Describe();
}

TEST(RecordGateRunsTest, WithoutARateEachRunGetsAbout2000Samples) {
  const std::string py = Python();
  if (py.empty()) GTEST_SKIP() << "no Python interpreter found";
  ScopedTempDir dir;
  const std::string out = dir.path() + "/budget.pb.gz";
  const CommandResult r =
      // ~1 s a run: the rate for 2000 samples is within 100-4000 Hz.
      RunCommand({PystrobeBinary(), "record", "--repeat", "4", "-o", out, "--",
                  py, Workload("gate_shapes.py"), "helper", "--scale", "3"},
                 absl::Seconds(180));
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  SKIP_IF_OVERLOADED(r);
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::map<int64_t, int64_t> samples = SamplesPerRun(*p);
  ASSERT_EQ(samples.size(), 4u) << DescribeProfile(*p);
  EXPECT_EQ(RunField(*p, 0, "rate_hz"), 1000);
  for (int run = 1; run < 4; ++run) {
    const std::optional<double> rate = RunField(*p, run, "rate_hz");
    ASSERT_TRUE(rate.has_value()) << absl::StrJoin(p->comments, "\n");
    EXPECT_NE(*rate, 100) << "run " << run;
    EXPECT_GE(*rate, 100);
    EXPECT_LE(*rate, 4000);
    const int64_t n = samples.at(run);
    if (*rate >= 4000 || *rate <= 100) continue;  // clamped: not 2000
    // One sample a tick (one busy thread): fewer than 70% of the ticks
    // asked for over the run is the machine's wake-ups, not pystrobe's rate.
    const double wall = RunField(*p, run, "wall_s").value_or(0);
    if (n < 0.7 * *rate * wall) {
      GTEST_SKIP() << "run " << run << " took " << n << " samples in " << wall
                   << " s at " << *rate
                   << " Hz: the sampler's wake-ups fell short\n"
                   << r.err;
    }
    // The rate comes from the previous run's length, so a run whose length
    // differs from the last (this VM's speed moves between runs: 0.78 s
    // then 1.29 s for the same work) gets 2000 samples scaled by the ratio
    // of the two, measured in the same recording.
    const double prev_wall = RunField(*p, run - 1, "wall_s").value_or(0);
    ASSERT_GT(prev_wall, 0);
    EXPECT_NEAR(*rate, 2000 / prev_wall, 0.25 * 2000 / prev_wall)
        << "run " << run << "\n"
        << r.err;
    const double expected = 2000 * wall / prev_wall;
    EXPECT_NEAR(static_cast<double>(n), expected, 0.35 * expected)
        << "run " << run << " at " << *rate << " Hz\n"
        << r.err;
  }
  EXPECT_THAT(r.err,
              ::testing::ContainsRegex("run 2: .* samples at [0-9]+ Hz"));
}

}  // namespace
}  // namespace pystrobe::integration
