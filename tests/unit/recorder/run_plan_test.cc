// The plan of a recording for the gate, without a process: the sample
// budget's rate per run, the order of an interleaved recording's arms, when
// --repeat auto stops (with a fake sink that decides after k runs), the
// shell-word split of --base-command and the base arm's file name.
#include "pystrobe/recorder/run_plan.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A run that sampled `seconds` at `requested` Hz and took `achieved` Hz.
SamplerStats Sampled(double seconds, double requested, double achieved) {
  SamplerStats s;
  s.elapsed_ns = static_cast<int64_t>(seconds * 1e9);
  s.requested_rate_hz = requested;
  s.ticks = static_cast<uint64_t>(achieved * seconds);
  return s;
}

TEST(SampleBudgetTest, FirstRunSamplesAt1kHz) {
  EXPECT_EQ(SampleBudget({}).rate_hz(), 1000);
}

TEST(SampleBudgetTest, LaterRunsAimAtTheSamplesPerRun) {
  SampleBudget budget({});
  budget.Observe({Sampled(0.5, 1000, 1000)});
  EXPECT_EQ(budget.rate_hz(), 4000);  // 2000 / 0.5 s
  budget.Observe({Sampled(0.8, 4000, 4000)});
  EXPECT_EQ(budget.rate_hz(), 2500);
  budget.Observe({Sampled(4, 2500, 2500)});
  EXPECT_EQ(budget.rate_hz(), 500);
}

TEST(SampleBudgetTest, ClampedTo100To4000Hz) {
  SampleBudget budget({});
  budget.Observe({Sampled(0.1, 1000, 1000)});  // 20 kHz wanted
  EXPECT_EQ(budget.rate_hz(), 4000);
  budget.Observe({Sampled(60, 4000, 4000)});  // 33 Hz wanted
  EXPECT_EQ(budget.rate_hz(), 100);
}

TEST(SampleBudgetTest, TheSamplesTargetIsAnOption) {
  SampleBudgetOptions o;
  o.samples = 500;
  SampleBudget budget(o);
  budget.Observe({Sampled(1, 1000, 1000)});
  EXPECT_EQ(budget.rate_hz(), 500);
}

TEST(SampleBudgetTest, AShortfallLowersTheCeilingToWhatWasAchieved) {
  SampleBudget budget({});
  // Asked 1 kHz, got 700 Hz: more than 20% short.
  budget.Observe({Sampled(0.5, 1000, 700)});
  EXPECT_EQ(budget.ceiling_hz(), 700);
  EXPECT_EQ(budget.rate_hz(), 700);
  // A later run that keeps up does not raise it again.
  budget.Observe({Sampled(0.5, 700, 700)});
  EXPECT_EQ(budget.rate_hz(), 700);
  // Still at least the floor.
  budget.Observe({Sampled(0.5, 700, 30)});
  EXPECT_EQ(budget.rate_hz(), 100);
}

TEST(SampleBudgetTest, AShortfallWithin20PercentIsKept) {
  SampleBudget budget({});
  budget.Observe({Sampled(0.5, 1000, 850)});
  EXPECT_EQ(budget.ceiling_hz(), 4000);
  EXPECT_EQ(budget.rate_hz(), 4000);
}

TEST(SampleBudgetTest, APairIsJudgedByItsMeanLengthAndEitherShortfall) {
  SampleBudget budget({});
  budget.Observe({Sampled(0.5, 1000, 1000), Sampled(1.5, 1000, 1000)});
  EXPECT_EQ(budget.rate_hz(), 2000);  // 2000 / 1 s
  budget.Observe({Sampled(1, 2000, 2000), Sampled(1, 2000, 1200)});
  EXPECT_EQ(budget.rate_hz(), 1200);
}

TEST(SampleBudgetTest, ARunThatSampledNothingKeepsTheRate) {
  SampleBudget budget({});
  budget.Observe({SamplerStats{}});
  EXPECT_EQ(budget.rate_hz(), 1000);
}

TEST(InterleavedOrderTest, AbbaBaseFirstInEvenPairs) {
  std::vector<std::string> order;
  for (int pair = 0; pair < 4; ++pair) {
    for (Arm arm : InterleavedOrder(pair)) order.push_back(ArmName(arm));
  }
  EXPECT_THAT(order, ElementsAre("base", "new", "new", "base", "base", "new",
                                 "new", "base"));
}

// A sink whose runs decide the verdict after `k` runs; counts the asks.
class DecidesAfter : public ProfileSink {
 public:
  DecidesAfter(int k, Decision decision) : k_(k), decision_(decision) {}
  absl::Status Write(const Profile&, bool) override { return absl::OkStatus(); }
  Decision Decided(const Profile*, const Profile&) override {
    return ++asked_ + 2 >= k_ ? decision_ : Decision::kUndecided;
  }
  int asked() const { return asked_; }

 private:
  int k_;
  Decision decision_;
  int asked_ = 0;  // from the third run on: asked_ + 2 runs so far
};

// Runs the plan with runs of `seconds` each; returns the runs made.
int RunUntilStopped(RunPlan* plan, ProfileSink* sink, double seconds) {
  const Profile none;
  while (
      plan->Continue(seconds, [&] { return sink->Decided(nullptr, none); })) {
  }
  return plan->runs_done();
}

TEST(RunPlanTest, AFixedRepeatMakesItsRunsAndNeverAsks) {
  DecidesAfter sink(3, Decision::kConclusive);
  RunPlan plan({/*runs=*/5});
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 1), 5);
  EXPECT_EQ(sink.asked(), 0);
  EXPECT_EQ(plan.reason(), StopReason::kPlanned);
  EXPECT_EQ(plan.Describe(), "");
}

TEST(RunPlanTest, AutoStopsOnceTheSinkDecides) {
  DecidesAfter sink(7, Decision::kConclusive);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  o.interleaved = true;
  RunPlan plan(o);
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 1), 7);
  EXPECT_EQ(sink.asked(), 5);  // after runs 3..7
  EXPECT_EQ(plan.reason(), StopReason::kConclusive);
  EXPECT_EQ(plan.Describe(), "conclusive after 7 pairs");
  EXPECT_STREQ(plan.ReasonName(), "conclusive");
}

TEST(RunPlanTest, AutoNeverStopsOnADecisionBeforeTheThirdRun) {
  DecidesAfter sink(1, Decision::kConclusive);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  RunPlan plan(o);
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 1), 3);
  EXPECT_EQ(plan.Describe(), "conclusive after 3 runs");
}

TEST(RunPlanTest, AnOverloadedMachineStopsTheRuns) {
  DecidesAfter sink(4, Decision::kOverloaded);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  RunPlan plan(o);
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 1), 4);
  EXPECT_EQ(plan.reason(), StopReason::kOverloaded);
  EXPECT_THAT(plan.Describe(), HasSubstr("overloaded"));
}

TEST(RunPlanTest, AutoStopsWhenTheNextRunWouldExceedTheBudget) {
  DecidesAfter sink(1000, Decision::kConclusive);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  o.budget_s = 300;
  RunPlan plan(o);
  // 7 s a run: 42 runs take 294 s, a 43rd would end at 301 s.
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 7), 42);
  EXPECT_EQ(plan.reason(), StopReason::kBudget);
  EXPECT_EQ(plan.Describe(),
            "budget of 300 s spent after 42 runs: still inconclusive");
}

TEST(RunPlanTest, ABudgetSpentBeforeTheFirstVerdictSaysSo) {
  DecidesAfter sink(1000, Decision::kConclusive);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  o.budget_s = 10;
  RunPlan plan(o);
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 4), 2);
  EXPECT_EQ(sink.asked(), 0);
  EXPECT_EQ(plan.Describe(),
            "budget of 10 s spent after 2 runs (a verdict needs 3)");
}

TEST(RunPlanTest, AutoStopsAtItsLimit) {
  DecidesAfter sink(1000, Decision::kConclusive);
  RunPlanOptions o;
  o.runs = 100;
  o.auto_runs = true;
  o.budget_s = 1e9;
  RunPlan plan(o);
  EXPECT_EQ(RunUntilStopped(&plan, &sink, 1), 100);
  EXPECT_EQ(plan.reason(), StopReason::kLimit);
  EXPECT_THAT(plan.Describe(), HasSubstr("limit of 100 runs"));
}

TEST(BaseOutputPathTest, BaseGoesBeforeTheExtension) {
  EXPECT_EQ(BaseOutputPath("out.pb.gz"), "out.base.pb.gz");
  EXPECT_EQ(BaseOutputPath("/ci/out/bench.pb.gz"), "/ci/out/bench.base.pb.gz");
  EXPECT_EQ(BaseOutputPath("app.speedscope.json"), "app.base.speedscope.json");
  EXPECT_EQ(BaseOutputPath("a.b/app.svg"), "a.b/app.base.svg");
  EXPECT_EQ(BaseOutputPath("out"), "out.base");
}

std::vector<std::string> Words(const std::string& line) {
  absl::StatusOr<std::vector<std::string>> w = SplitShellWords(line);
  EXPECT_TRUE(w.ok()) << line << ": " << w.status();
  return w.ok() ? *w : std::vector<std::string>{};
}

TEST(SplitShellWordsTest, SplitsLikeAShellSplitsSimpleWords) {
  EXPECT_THAT(Words("python3 bench.py --n 3"),
              ElementsAre("python3", "bench.py", "--n", "3"));
  EXPECT_THAT(Words("  a \t b\n"), ElementsAre("a", "b"));
  EXPECT_THAT(Words("python3 -c 'print(1 + 2)'"),
              ElementsAre("python3", "-c", "print(1 + 2)"));
  EXPECT_THAT(Words(R"(echo "a b" 'c "d"' "e 'f'")"),
              ElementsAre("echo", "a b", "c \"d\"", "e 'f'"));
  EXPECT_THAT(Words(R"(x "a\"b\\c" a\ b)"), ElementsAre("x", "a\"b\\c", "a b"));
  EXPECT_THAT(Words(R"(x '' "" y)"), ElementsAre("x", "", "", "y"));
  EXPECT_THAT(Words("x pre'quoted'post"), ElementsAre("x", "prequotedpost"));
  EXPECT_THAT(Words("x '$HOME|;&' \"a|b\""),
              ElementsAre("x", "$HOME|;&", "a|b"));
  EXPECT_THAT(Words(R"(x \$HOME)"), ElementsAre("x", "$HOME"));
  EXPECT_THAT(Words(R"(x "a\nb")"), ElementsAre("x", "a\\nb"));
}

TEST(SplitShellWordsTest, RefusesWhatNeedsAShell) {
  for (const char* line : {"a | b", "a; b", "a && b", "a > out", "a < in",
                           "echo $HOME", "echo `date`", "(a)", "echo \"$HOME\"",
                           "'unbalanced", "\"unbalanced", "", "   "}) {
    absl::StatusOr<std::vector<std::string>> w = SplitShellWords(line);
    EXPECT_FALSE(w.ok()) << line;
    EXPECT_TRUE(absl::IsInvalidArgument(w.status())) << line;
  }
}

TEST(RecordingCommentsTest, EachRunSaysItsRateAndEachArmItsName) {
  RecordingResult r;
  RunSummary run;
  run.index = 0;
  run.wall_s = 0.5;
  run.cpu_s = 0.4;
  run.exit_code = 0;
  run.rate_hz = 1000;
  r.runs.push_back(run);
  run.rate_hz = 3846;
  run.index = 1;
  r.runs.push_back(run);
  run.arm = Arm::kBase;
  r.base_runs.push_back(run);
  EXPECT_THAT(RecordingComments(r, true),
              ElementsAre("pystrobe.target=launched", "pystrobe.runs=2",
                          HasSubstr("pystrobe.run.0=wall_s=0.500000 "),
                          HasSubstr(" waits=0 rate_hz=3846")));
  EXPECT_THAT(RecordingComments(r, true)[2],
              ::testing::EndsWith(" rate_hz=1000"));
  r.interleaved_id = "0123456789abcdef";
  r.budget_s = 60;
  r.stop_reason_name = "conclusive";
  EXPECT_THAT(
      RecordingComments(r, true, Arm::kBase),
      ElementsAre("pystrobe.target=launched", "pystrobe.runs=1",
                  HasSubstr("pystrobe.run.1="),
                  "pystrobe.interleaved=0123456789abcdef", "pystrobe.arm=base",
                  "pystrobe.repeat=auto budget_s=60 stop=conclusive"));
  EXPECT_THAT(RecordingComments(r, true, Arm::kNew),
              ::testing::Contains("pystrobe.arm=new"));
}

TEST(InterleavedIdTest, SixteenHexDigitsNewEachTime) {
  const std::string a = NewInterleavedId(), b = NewInterleavedId();
  EXPECT_THAT(a, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace pystrobe
