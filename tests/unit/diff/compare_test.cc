// Verdicts of Compare on simulated recordings (simulated_runs.h): launched
// runs of fixed work with run-to-run machine-speed noise (the replicates),
// attached recordings cut into time batches, and the shapes users' programs
// have: a helper shared by many callers, a dominant function, a test suite's
// sequential phases, different rates and lengths. The rates printed here are
// evidence quoted in docs/statistics.md.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/diff/compare.h"
#include "simulated_runs.h"
#include "statistics.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::ServiceWorkload;
using ::pystrobe::testing::Simulate;
using ::pystrobe::testing::SimulateRuns;
using ::pystrobe::testing::StatusIs;
using ::pystrobe::testing::Workload;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

FunctionTable Table(const Profile& p, const TableOptions& options = {}) {
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, options);
  EXPECT_THAT(t, IsOk());
  return t.ok() ? *std::move(t) : FunctionTable{};
}

Comparison CompareOrDie(const std::vector<FunctionTable>& base,
                        const FunctionTable& now,
                        const CompareOptions& options = {}) {
  absl::StatusOr<Comparison> c = Compare(base, now, options);
  EXPECT_THAT(c, IsOk());
  return c.ok() ? *std::move(c) : Comparison{};
}

std::vector<std::string> Named(const Comparison& c, Verdict v) {
  std::vector<std::string> names;
  for (const FunctionDiff& row : c.rows) {
    if (row.verdict == v) names.push_back(row.key.name);
  }
  return names;
}

const FunctionDiff& RowOf(const Comparison& c, const std::string& name) {
  for (const FunctionDiff& row : c.rows) {
    if (row.key.name == name) return row;
  }
  ADD_FAILURE() << "no row " << name;
  static const FunctionDiff kNone;
  return kNone;
}

// Debugging aid: the comparison's rows, when PYSTROBE_TEST_DUMP is set.
void Dump(const char* what, const Comparison& c) {
  if (std::getenv("PYSTROBE_TEST_DUMP") == nullptr) return;
  std::printf("%s: %s | %s | conclusive %d covered %.2f | %s\n", what,
              c.method.c_str(), c.replicates.c_str(), c.conclusive,
              c.covered_share, c.remedy.c_str());
  for (const FunctionDiff& d : c.rows) {
    std::printf(
        "  %-14s %-11s self %.4g->%.4g total %.4g->%.4g d %+.1f%% "
        "p %.3g detect %.1f%% %s\n",
        d.key.name.c_str(), VerdictName(d.verdict), d.base_self, d.new_self,
        d.base_total, d.new_total, d.delta_pct, d.p_value, d.detectable_pct,
        MetricName(d.decided_by));
  }
}

// A run of fixed work: 20,000 samples (20 s at 1 kHz) for the service
// workload.
Workload Runs() {
  Workload w = ServiceWorkload();
  w.samples = 20000;
  w.batches = 5;
  return w;
}

// Fixed work where the stacks ending in `leaf` take `factor` times as long:
// the run is longer by the extra time (not renormalized).
Workload Slower(Workload w, const std::string& leaf, double factor) {
  double before = 0, after = 0;
  for (size_t i = 0; i < w.stacks.size(); ++i) {
    before += w.weights[i];
    if (w.stacks[i].back() == leaf) w.weights[i] *= factor;
    after += w.weights[i];
  }
  w.samples = static_cast<int>(std::lround(w.samples * after / before));
  return w;
}

// Five callers doing all their work through one helper, spin: 20,000
// samples a run.
Workload FiveCallersOfSpin() {
  Workload w;
  w.samples = 20000;
  w.batches = 5;
  w.stacks = {{"main", "render_page", "spin"},
              {"main", "parse_request", "spin"},
              {"main", "load_user", "spin"},
              {"main", "format_reply", "spin"},
              {"main", "log_access", "spin"}};
  w.weights = {0.2, 0.2, 0.2, 0.2, 0.2};
  return w;
}

// Fixed work where the calls of `caller` to `leaf` take `factor` times as
// long: the run is longer by the extra time.
Workload SlowerCalls(Workload w, const std::string& caller,
                     const std::string& leaf, double factor) {
  double before = 0, after = 0;
  for (size_t i = 0; i < w.stacks.size(); ++i) {
    before += w.weights[i];
    const std::vector<std::string>& st = w.stacks[i];
    if (st.back() == leaf && st.size() >= 2 && st[st.size() - 2] == caller) {
      w.weights[i] *= factor;
    }
    after += w.weights[i];
  }
  w.samples = static_cast<int>(std::lround(w.samples * after / before));
  return w;
}

TEST(CompareTest, AaWithRunsFailsAtMostAtTheNominalRate) {
  const Workload w = Runs();
  int failed = 0, inconclusive = 0;
  constexpr int kPairs = 100;
  for (int i = 0; i < kPairs; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 2 * i + 1, 0.08))},
                                Table(SimulateRuns(w, 5, 2 * i + 2, 0.08)));
    failed += c.failed ? 1 : 0;
    if (c.failed) Dump("aa-fail", c);
    inconclusive += c.conclusive ? 0 : 1;
    EXPECT_TRUE(c.fixed_work);
    EXPECT_EQ(c.runs_base, 5);
    EXPECT_EQ(c.runs_new, 5);
  }
  std::printf(
      "A/A, 5 vs 5 runs, 8%% speed spread: %d of %d FAIL, %d "
      "INCONCLUSIVE\n",
      failed, kPairs, inconclusive);
  EXPECT_LE(failed, 5);
}

TEST(CompareTest, TwentyAaPairsNeverFail) {
  const Workload w = Runs();
  for (int i = 0; i < 20; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 500 + i))},
                                Table(SimulateRuns(w, 5, 600 + i)));
    EXPECT_FALSE(c.failed) << "pair " << i;
  }
}

TEST(CompareTest, ThirtyPercentSlowerIsNamedAndTheOthersAreUnchanged) {
  const Workload w = Runs();
  const Workload slower = Slower(w, "parse", 1.3);
  int named = 0;
  for (int i = 0; i < 20; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 700 + i))},
                                Table(SimulateRuns(slower, 5, 800 + i)));
    const std::vector<std::string> regressions = Named(c, Verdict::kRegression);
    // parse (self), and its callers' totals (serve, main) may be named too:
    // their time grew by parse's growth.
    bool only_parse_path = true;
    for (const std::string& n : regressions) {
      only_parse_path &= n == "parse" || n == "serve" || n == "main";
    }
    EXPECT_TRUE(only_parse_path) << i;
    if (!c.failed) continue;
    ++named;
    EXPECT_EQ(RowOf(c, "parse").decided_by, Metric::kSelf);
    EXPECT_EQ(RowOf(c, "parse").cause, "self time grew in parse");
    // Time per run, not shares: nobody else looks faster.
    EXPECT_THAT(Named(c, Verdict::kImprovement), IsEmpty()) << i;
    EXPECT_NEAR(RowOf(c, "parse").self_delta_pct, 30, 15);
    EXPECT_NEAR(RowOf(c, "render").self_delta_pct, 0, 12);
  }
  std::printf(
      "A/B, parse +30%% (20%% of the run), 5 vs 5 runs: named %d of "
      "20\n",
      named);
  // 15, not 18 (stop 18): each run's speed is now taken out within and
  // between the sides alike, and the uncertainty of the sides' shift is
  // carried by every test; this workload's sampler is sticky (0.9: ~1,000
  // independent samples a run), so that costs power here, and A/A went
  // from 4 FAILs in 100 to 1.
  EXPECT_GE(named, 15);
}

// Five callers do all their work through one helper; render_page's calls
// grow by half. Self time is all in spin, so only the call edge tells.
TEST(CompareTest, GrowthInASharedHelperIsChargedToTheCaller) {
  const Workload w = FiveCallersOfSpin();
  const Workload slower = SlowerCalls(w, "render_page", "spin", 1.5);
  for (int i = 0; i < 5; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 900 + i, 0.02))},
                                Table(SimulateRuns(slower, 5, 950 + i, 0.02)));
    Dump("helper", c);
    ASSERT_TRUE(c.failed) << i;
    const FunctionDiff& rp = RowOf(c, "render_page");
    EXPECT_EQ(rp.verdict, Verdict::kRegression);
    EXPECT_EQ(rp.decided_by, Metric::kTotal);
    EXPECT_EQ(rp.cause, "time grew in spin called from render_page");
    EXPECT_NEAR(rp.total_delta_pct, 50, 15);
    for (const char* sibling :
         {"parse_request", "load_user", "format_reply", "log_access"}) {
      EXPECT_EQ(RowOf(c, sibling).verdict, Verdict::kUnchanged)
          << sibling << " " << RowOf(c, sibling).total_delta_pct;
    }
  }
}

// The shared helper's own self time grows too when one caller calls it
// twice as much (+20% here): that is the caller's change, one regression
// headed by render_page, spin listed as affected (a gate run named spin as
// the regression, counted as a false alarm: spin's code did not change).
TEST(CompareTest, AHelperCalledMoreByOneCallerIsThatCallersRegression) {
  const Workload w = FiveCallersOfSpin();
  const Workload slower = SlowerCalls(w, "render_page", "spin", 2);
  for (int i = 0; i < 3; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 700 + i, 0.02))},
                                Table(SimulateRuns(slower, 5, 750 + i, 0.02)));
    Dump("through-one-caller", c);
    ASSERT_TRUE(c.failed) << i;
    EXPECT_EQ(c.regressions, 1) << i;
    const FunctionDiff& rp = RowOf(c, "render_page");
    EXPECT_EQ(rp.verdict, Verdict::kRegression);
    EXPECT_FALSE(rp.affected);
    // spin's self time grew ~20%: a regression, but counted with its
    // caller (unconditional, so the test fails if either half breaks).
    const FunctionDiff& spin = RowOf(c, "spin");
    EXPECT_EQ(spin.verdict, Verdict::kRegression) << i;
    EXPECT_TRUE(spin.affected) << i;
    EXPECT_EQ(spin.explained_by, "render_page");
  }
}

TEST(CompareTest, ADominantFunctionThatGrowsFailsWithTimePerRun) {
  Workload w;
  w.samples = 5000;
  w.batches = 5;
  w.stacks = {{"main", "crunch"},
              {"main", "read"},
              {"main", "write"},
              {"main", "check"}};
  w.weights = {0.7, 0.1, 0.1, 0.1};
  w.samples = 20000;
  const Workload slower = Slower(w, "crunch", 1.3);
  Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 11, 0.03))},
                              Table(SimulateRuns(slower, 5, 12, 0.03)));
  EXPECT_THAT(Named(c, Verdict::kRegression),
              ::testing::Contains(std::string("crunch")));
  EXPECT_THAT(Named(c, Verdict::kImprovement), IsEmpty());
  EXPECT_EQ(RowOf(c, "read").verdict, Verdict::kUnchanged);
}

// Three functions that all grew, unevenly (+5%, +15%, +25%): the speed
// shift they point to is too uncertain to scale by, so each function is
// judged with and without it, and only what both evaluations call a
// change is one. No improvement can appear, and every verdict carries a
// significant p-value (a stale verdict of the other evaluation once did,
// at p = 1).
TEST(CompareTest, AnUncertainSpeedShiftNeedsBothEvaluationsToAgree) {
  Workload w;
  w.samples = 20000;
  w.batches = 5;
  w.stacks = {{"main", "read"}, {"main", "parse"}, {"main", "write"}};
  w.weights = {0.3, 0.4, 0.3};
  const Workload grown =
      Slower(Slower(Slower(w, "read", 1.05), "parse", 1.15), "write", 1.25);
  int uncertain = 0;
  for (int i = 0; i < 20; ++i) {
    Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 500 + i, 0.04))},
                                Table(SimulateRuns(grown, 5, 600 + i, 0.04)));
    for (const FunctionDiff& d : c.rows) {
      if (d.verdict == Verdict::kRegression ||
          d.verdict == Verdict::kImprovement) {
        EXPECT_LT(d.p_value, 0.05) << d.key.name << " " << i;
      }
    }
    // (A shift certain enough to scale by makes read's +5% a relative
    // improvement, rightly: that is what scaled shares mean.)
    if (c.whole.speed_scale != 1) continue;
    ++uncertain;
    EXPECT_THAT(Named(c, Verdict::kImprovement), IsEmpty()) << i;
  }
  EXPECT_GT(uncertain, 0) << "no pair took the uncertain-shift path";
}

// Runs whose threads waited for a CPU most of the time they could run
// (the pystrobe.run comments' ran_s/wait_s) are not judged: a +30%
// function is reported, the comparison is INCONCLUSIVE, never a FAIL.
TEST(CompareTest, ARecordingFromAnOverloadedMachineIsNotJudged) {
  const Workload w = Runs();
  Profile base = SimulateRuns(w, 5, 31, 0.03);
  Profile now = SimulateRuns(Slower(w, "parse", 1.3), 5, 32, 0.03);
  auto with_wait = [](Profile p, double wait_s) {
    for (int r = 0; r < 5; ++r) {
      p.comments.push_back(absl::StrFormat(
          "pystrobe.run.%d=wall_s=2 cpu_s=1 exit=0 ran_s=1 wait_s=%g", r,
          wait_s));
    }
    return p;
  };
  Comparison quiet =
      CompareOrDie({Table(with_wait(base, 0.02))}, Table(with_wait(now, 0.05)));
  EXPECT_TRUE(quiet.failed);
  EXPECT_FALSE(quiet.overloaded);
  EXPECT_NEAR(quiet.whole.new_wait_share, 0.05 / 1.05, 1e-6);
  Comparison loaded =
      CompareOrDie({Table(with_wait(base, 0.02))}, Table(with_wait(now, 1.0)));
  EXPECT_FALSE(loaded.failed);
  EXPECT_FALSE(loaded.conclusive);
  EXPECT_TRUE(loaded.overloaded);
  EXPECT_THAT(loaded.inconclusive_reason,
              HasSubstr("NEW was recorded on an overloaded machine"));
  EXPECT_THAT(loaded.inconclusive_reason, HasSubstr("50%"));
  // Recordings that do not say (an older pystrobe) are judged as before.
  Comparison unknown = CompareOrDie({Table(base)}, Table(now));
  EXPECT_TRUE(unknown.failed);
  EXPECT_LT(unknown.whole.new_wait_share, 0);
}

// The same for attached recordings, whose replicates are time batches:
// their one run comment carries the wait (record warns that pystrobe-diff
// will not judge them, and it must not).
TEST(CompareTest, AnAttachedRecordingFromAnOverloadedMachineIsNotJudged) {
  const Workload w = ServiceWorkload();
  auto with_wait = [](Profile p, double wait_s) {
    p.comments.push_back(absl::StrFormat(
        "pystrobe.run.0=wall_s=10 cpu_s=-1 exit=-1 ran_s=10 wait_s=%g",
        wait_s));
    return p;
  };
  const Profile base = with_wait(Simulate(w, 41), 0.1);
  Comparison quiet = CompareOrDie(
      {Table(base)}, Table(with_wait(Simulate(Scaled(w, "parse", 2), 42), 1)));
  EXPECT_TRUE(quiet.failed);
  EXPECT_FALSE(quiet.overloaded);
  EXPECT_NEAR(quiet.whole.new_wait_share, 1.0 / 11, 1e-6);
  Comparison loaded = CompareOrDie(
      {Table(base)}, Table(with_wait(Simulate(Scaled(w, "parse", 2), 42), 8)));
  EXPECT_FALSE(loaded.failed);
  EXPECT_TRUE(loaded.overloaded);
  EXPECT_NEAR(loaded.whole.new_wait_share, 8.0 / 18, 1e-6);
  // The same share in many short waits (a server's workers woken for each
  // request, CPUs to spare): judged.
  Profile woken = Simulate(Scaled(w, "parse", 2), 42);
  woken.comments.push_back(
      "pystrobe.run.0=wall_s=10 cpu_s=-1 exit=-1 ran_s=10 wait_s=8 "
      "waits=60000");
  Comparison wakeups = CompareOrDie({Table(base)}, Table(woken));
  EXPECT_TRUE(wakeups.failed);
  EXPECT_FALSE(wakeups.overloaded);
  EXPECT_NEAR(wakeups.whole.new_mean_wait_s, 8.0 / 60000, 1e-9);
  // Long waits (time slices): not judged.
  woken.comments.back() =
      "pystrobe.run.0=wall_s=10 cpu_s=-1 exit=-1 ran_s=10 wait_s=8 "
      "waits=2000";
  EXPECT_TRUE(CompareOrDie({Table(base)}, Table(woken)).overloaded);
}

TEST(CompareTest, AUniformlySlowerMachineDoesNotFail) {
  const Workload w = Runs();
  for (int i = 0; i < 10; ++i) {
    Comparison c =
        CompareOrDie({Table(SimulateRuns(w, 5, 1000 + i, 0.03))},
                     Table(SimulateRuns(w, 5, 1100 + i, 0.03, /*speed=*/1.9)));
    EXPECT_FALSE(c.failed) << i;
    EXPECT_THAT(Named(c, Verdict::kImprovement), IsEmpty());
    // The whole run says what happened.
    EXPECT_NEAR(c.whole.delta_pct, 90, 10);
    EXPECT_NEAR(c.whole.speed_scale, 1.9, 0.15);
  }
}

// Launched runs with given counts: counts[run][i] samples of stacks[i]
// (root first) at 1 kHz. As a jittered grid samples fixed work, a count is
// the time over the period give or take a quantization per stretch of the
// function (a sample or two), far below Poisson's sqrt(count).
Profile CountedRuns(const std::vector<std::vector<std::string>>& stacks,
                    const std::vector<std::vector<int>>& counts) {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.default_sample_type = "wall";
  p.period_type = {"wall", "nanoseconds"};
  p.period = 1'000'000;
  std::vector<std::vector<uint64_t>> ids;
  for (const std::vector<std::string>& stack : stacks) {
    std::vector<uint64_t> leaf_first;
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
      leaf_first.push_back(
          p.AddLocation({p.AddFunction({*it, *it, "/srv/app.py", 1}), 0}));
    }
    ids.push_back(std::move(leaf_first));
  }
  for (size_t r = 0; r < counts.size(); ++r) {
    for (size_t i = 0; i < stacks.size(); ++i) {
      Sample s;
      s.location_ids = ids[i];
      s.values = {counts[r][i], int64_t{counts[r][i]} * p.period};
      s.labels = {Label{"thread_name", "MainThread", 0, ""},
                  Label{"run", "", static_cast<int64_t>(r), ""}};
      p.duration_nanos += s.values.back();
      p.samples.push_back(std::move(s));
    }
  }
  p.comments = {"pystrobe.target=launched",
                absl::StrCat("pystrobe.runs=", counts.size())};
  return p;
}

Profile GridRuns(const std::vector<std::vector<int>>& counts) {
  return CountedRuns({{"main", "work"}, {"main", "rest"}}, counts);
}

TEST(CompareTest, ALargeFunctionIsJudgedByItsSpreadNotByPoisson) {
  // 400 samples a run within two: Poisson's floor (sd 20 samples, 5%)
  // would leave +12% in doubt in 5 runs a side; the spread is 0.4%.
  const Profile base =
      GridRuns({{400, 600}, {401, 599}, {399, 602}, {402, 598}, {398, 601}});
  const Profile same =
      GridRuns({{401, 600}, {399, 601}, {400, 599}, {398, 602}, {402, 598}});
  const Profile slower =
      GridRuns({{448, 600}, {449, 601}, {447, 599}, {450, 600}, {446, 602}});
  Comparison aa = CompareOrDie({Table(base)}, Table(same));
  Dump("grid a/a", aa);
  EXPECT_LT(RowOf(aa, "work").detectable_pct, 6);
  EXPECT_TRUE(aa.conclusive);
  EXPECT_THAT(Named(aa, Verdict::kRegression), IsEmpty());
  Comparison grew = CompareOrDie({Table(base)}, Table(slower));
  Dump("grid +12%", grew);
  EXPECT_THAT(Named(grew, Verdict::kRegression), ElementsAre("work"));
}

TEST(CompareTest, AnApparentGrowthTheDataCannotConfirmIsNotOk) {
  // Two callers of spin; spin's time is steady (its self time bounded
  // within 1%), how it splits between them is not: a's +25% (as cpu mode
  // beside a busy neighbour splits it) is noise-sized, neither FAIL nor OK.
  const std::vector<std::vector<std::string>> stacks = {{"main", "a", "spin"},
                                                        {"main", "b", "spin"}};
  const Profile base = CountedRuns(
      stacks, {{200, 200}, {260, 141}, {150, 249}, {230, 172}, {160, 238}});
  const Profile now = CountedRuns(
      stacks, {{280, 120}, {200, 201}, {300, 99}, {220, 178}, {250, 152}});
  Comparison c = CompareOrDie({Table(base)}, Table(now));
  Dump("apparent", c);
  EXPECT_THAT(Named(c, Verdict::kRegression), IsEmpty());
  EXPECT_FALSE(c.conclusive);
  EXPECT_THAT(c.inconclusive_reason,
              HasSubstr("a grew +25% (total), more than the 10% threshold"));
}

TEST(CompareTest, OneRunAgainstOneRunIsInconclusive) {
  Workload w = Runs();
  w.batches = 2;  // too few time batches to stand for replicates
  Comparison c =
      CompareOrDie({Table(SimulateRuns(w, 1, 1))},
                   Table(SimulateRuns(Slower(w, "parse", 1.3), 1, 2)));
  EXPECT_FALSE(c.conclusive);
  EXPECT_FALSE(c.failed);
  EXPECT_THAT(c.inconclusive_reason, HasSubstr("single recording"));
  EXPECT_GE(c.suggested_runs, 5);
  for (const FunctionDiff& row : c.rows) {
    EXPECT_TRUE(std::isinf(row.detectable_pct)) << row.key.name;
  }
}

// The shape of issue 17: five handlers do all their work through one shared
// helper (94% of the self time in spin), 2,000 samples a run (the gate's
// sample budget), and a machine whose speed differs by 20% from run to run
// (this VM: 0.52-0.85 s for the same work). Self time by function gives no
// reference for the speed (spin holds too much of it); self time by leaf
// call does (spin under each handler), so A/A passes as OK and +30% of
// render_page is found, every time.
Workload SharedHelper(double render_factor) {
  Workload w;
  w.samples = 2000;
  w.batches = 1;
  w.stickiness = 0;  // binomial: more noise than a fixed-work loop shows
  for (const char* handler : {"render_page", "parse_request", "load_user",
                              "format_reply", "log_access"}) {
    const double f = std::string(handler) == "render_page" ? render_factor : 1;
    w.stacks.push_back({"<module>", "helper", handler, "spin"});
    w.weights.push_back(0.188 * f);
    w.stacks.push_back({"<module>", "helper", handler});
    w.weights.push_back(0.012 * f);
  }
  double total = 0;
  for (double x : w.weights) total += x;
  w.samples = static_cast<int>(std::lround(2000 * total));
  return w;
}

TEST(CompareTest, ASharedHelperOnAMachineOfVaryingSpeedIsJudged) {
  int aa_failed = 0, aa_ok = 0, found = 0, false_alarms = 0;
  constexpr int kTrials = 20;
  for (int i = 0; i < kTrials; ++i) {
    const FunctionTable base =
        Table(SimulateRuns(SharedHelper(1), 5, 3000 + i, 0.2));
    const Comparison aa = CompareOrDie(
        {base}, Table(SimulateRuns(SharedHelper(1), 5, 3100 + i, 0.2)));
    aa_failed += aa.failed ? 1 : 0;
    aa_ok += !aa.failed && aa.conclusive ? 1 : 0;
    if (!aa.conclusive) Dump("aa", aa);
    const Comparison ab = CompareOrDie(
        {base}, Table(SimulateRuns(SharedHelper(1.3), 5, 3200 + i, 0.2)));
    std::vector<std::string> regressed = Named(ab, Verdict::kRegression);
    found += RowOf(ab, "render_page").verdict == Verdict::kRegression ? 1 : 0;
    for (const std::string& name : regressed) {
      if (name != "render_page" && name != "helper" && name != "<module>" &&
          name != "spin") {
        ++false_alarms;
      }
    }
  }
  std::printf(
      "shared helper, 20%% run-to-run speed spread, 5 vs 5 runs of 2000 "
      "samples: A/A %d FAIL, %d OK of %d; render_page +30%% found %d of %d, "
      "%d false alarms\n",
      aa_failed, aa_ok, kTrials, found, kTrials, false_alarms);
  EXPECT_EQ(aa_failed, 0);
  EXPECT_GE(aa_ok, 18);
  EXPECT_GE(found, 19);
  EXPECT_EQ(false_alarms, 0);
}

// Interleaved runs (record --base-command) are judged paired and unpaired,
// and a change must stand in both (an intersection-union test). Pairing
// assumes the arms differ by the same amount in every pair; a difference
// that holds for one whole session of one arm (seen: start-up imports 10 ms
// slower in all five pairs of an A/A recording beside a neighbour) passes
// that test at any significance. Here db_query varies by pair, in both arms
// alike, gc too (more), and the new arm's gc is +30% in every pair of the
// session: paired alone would call gc a regression; unpaired, the pairs' spread
// shows it could be the session. Its cost: a change only pairing could find
// (+30% of db_query, hidden by the same spread) is not claimed either.
TEST(CompareTest, InterleavedRunsMustShowAChangePairedAndUnpaired) {
  int gc_failed = 0, db_found = 0, db_found_unpaired = 0, aa_failed = 0;
  constexpr int kTrials = 10;
  for (int i = 0; i < kTrials; ++i) {
    std::mt19937_64 rng(4000 + i);
    std::normal_distribution<double> drift(0, 0.25);
    std::vector<Workload> base_runs, arm_effect_runs, db_runs, same_runs;
    std::vector<double> speed;
    for (int pair = 0; pair < 5; ++pair) {
      const double neighbour = std::exp(drift(rng));
      Workload w =
          Slower(Slower(Runs(), "db_query", neighbour), "gc", neighbour);
      w.stickiness = 0.5;  // the drift, not sampling noise, is the point
      base_runs.push_back(w);
      same_runs.push_back(w);
      arm_effect_runs.push_back(Slower(w, "gc", 1.3));
      db_runs.push_back(Slower(w, "db_query", 1.3));
      speed.push_back(std::exp(drift(rng) / 2));
    }
    auto arm = [&](const std::vector<Workload>& runs, uint64_t seed,
                   bool interleaved) {
      Profile p = testing::SimulateRunsOf(runs, speed, seed);
      if (interleaved) p.comments.push_back("pystrobe.interleaved=abc");
      return Table(p);
    };
    const FunctionTable base = arm(base_runs, 10 * i + 1, true);
    const Comparison arm_effect =
        CompareOrDie({base}, arm(arm_effect_runs, 10 * i + 2, true));
    EXPECT_TRUE(arm_effect.paired);
    EXPECT_THAT(arm_effect.replicates, HasSubstr("interleaved pairs"));
    gc_failed += RowOf(arm_effect, "gc").verdict == Verdict::kRegression;
    db_found +=
        RowOf(CompareOrDie({base}, arm(db_runs, 10 * i + 4, true)), "db_query")
            .verdict == Verdict::kRegression;
    db_found_unpaired += RowOf(CompareOrDie({arm(base_runs, 10 * i + 1, false)},
                                            arm(db_runs, 10 * i + 4, false)),
                               "db_query")
                             .verdict == Verdict::kRegression;
    aa_failed += CompareOrDie({base}, arm(same_runs, 10 * i + 3, true)).failed;
  }
  std::printf(
      "under a neighbour varying by pair: gc +30%% in one session's new arm "
      "failed %d of %d; db_query +30%% found %d (unpaired %d); A/A %d FAIL\n",
      gc_failed, kTrials, db_found, db_found_unpaired, aa_failed);
  EXPECT_EQ(gc_failed, 0);
  EXPECT_LE(db_found, db_found_unpaired);
  EXPECT_EQ(aa_failed, 0);
}

// What drifts between pairs for the whole machine (its speed, by up to 2x
// here) is taken out of each run by the speed normalization, paired or not:
// interleaved runs find db_query's +30% as steady runs would.
TEST(CompareTest, InterleavedRunsFindAChangeAcrossTheMachinesDrift) {
  int found = 0, aa_failed = 0;
  constexpr int kTrials = 10;
  for (int i = 0; i < kTrials; ++i) {
    std::mt19937_64 rng(4500 + i);
    std::normal_distribution<double> drift(0, 0.15);
    std::vector<Workload> base_runs, new_runs;
    std::vector<double> speed;
    for (int pair = 0; pair < 5; ++pair) {
      Workload w = Runs();
      w.stickiness = 0.5;
      base_runs.push_back(w);
      new_runs.push_back(Slower(w, "db_query", 1.3));
      speed.push_back(std::exp(drift(rng)));
    }
    auto arm = [&](const std::vector<Workload>& runs, uint64_t seed) {
      Profile p = testing::SimulateRunsOf(runs, speed, seed);
      p.comments.push_back("pystrobe.interleaved=abc");
      return Table(p);
    };
    const FunctionTable base = arm(base_runs, 10 * i + 1);
    const Comparison ab = CompareOrDie({base}, arm(new_runs, 10 * i + 2));
    EXPECT_TRUE(ab.paired);
    found += RowOf(ab, "db_query").verdict == Verdict::kRegression;
    aa_failed += CompareOrDie({base}, arm(base_runs, 10 * i + 3)).failed;
  }
  std::printf("db_query +30%% across the machine's drift: found %d of %d\n",
              found, kTrials);
  EXPECT_GE(found, 9);
  EXPECT_EQ(aa_failed, 0);
}

// One launched run of a steady workload against one: its time batches are
// the replicates, as an attached server's are (oracletrace's users compare
// one run with one).
TEST(CompareTest, OneSteadyLaunchedRunIsJudgedByItsBatches) {
  Workload w = Runs();
  w.batches = 8;
  for (int i = 0; i < 5; ++i) {
    const FunctionTable base = Table(SimulateRuns(w, 1, 5000 + i, 0));
    const Comparison aa =
        CompareOrDie({base}, Table(SimulateRuns(w, 1, 5100 + i, 0)));
    EXPECT_FALSE(aa.failed) << i;
    EXPECT_THAT(aa.replicates, HasSubstr("time batches"));
    const Comparison ab = CompareOrDie(
        {base}, Table(SimulateRuns(Slower(w, "parse", 1.5), 1, 5200 + i, 0)));
    EXPECT_THAT(Named(ab, Verdict::kRegression),
                ::testing::Contains(std::string("parse")))
        << i;
  }
}

TEST(CompareTest, AManyRunBaselineLendsItsSpreadToASingleNewRun) {
  const Workload w = Runs();
  Comparison c = CompareOrDie(
      {Table(SimulateRuns(w, 10, 21, 0.02))},
      Table(SimulateRuns(Slower(w, "db_query", 1.5), 1, 22, 0.02)));
  Dump("lend", c);
  EXPECT_EQ(c.runs_base, 10);
  EXPECT_EQ(c.runs_new, 1);
  EXPECT_THAT(Named(c, Verdict::kRegression),
              ::testing::Contains(std::string("db_query")));
  EXPECT_TRUE(std::isfinite(RowOf(c, "db_query").detectable_pct));
}

// A steady attached recording: its time batches are exchangeable, so they
// are the replicates; A/A passes, a 40% slower function fails.
TEST(CompareTest, SteadyAttachedRecordingsUseTheirBatches) {
  Workload w = ServiceWorkload();
  w.samples = 60000;
  w.batches = 30;
  Comparison aa =
      CompareOrDie({Table(Simulate(w, 31))}, Table(Simulate(w, 32)));
  EXPECT_FALSE(aa.failed);
  EXPECT_FALSE(aa.fixed_work);
  EXPECT_EQ(aa.runs_base, 30);
  EXPECT_THAT(aa.replicates, HasSubstr("time batches"));
  Workload slower = testing::Scaled(w, "db_query", 1.4);
  Comparison ab =
      CompareOrDie({Table(Simulate(w, 33))}, Table(Simulate(slower, 34)));
  EXPECT_THAT(Named(ab, Verdict::kRegression),
              ::testing::Contains(std::string("db_query")));
  // Robust shares: the functions that did not change are not "faster".
  EXPECT_THAT(Named(ab, Verdict::kImprovement), IsEmpty());
}

// A test suite's phases recorded in one go: the batches differ because the
// phases do, not by noise. They are not replicates; the verdict says so.
TEST(CompareTest, SequentialPhasesAreNotReplicates) {
  auto suite = [](uint64_t seed) {
    Profile all;
    const std::vector<std::string> phases = {"test_a", "test_b", "test_c",
                                             "test_d", "test_e"};
    // Each phase is a run of its own stacks; glue them as batches 0..29.
    for (size_t ph = 0; ph < phases.size(); ++ph) {
      Workload w;
      w.stacks = {{"main", phases[ph], "setup"},
                  {"main", phases[ph], "compute_" + phases[ph]}};
      w.weights = {0.3, 0.7};
      w.samples = 3000;
      w.batches = 6;
      Profile p = Simulate(w, seed * 10 + ph);
      if (ph == 0) {
        all.sample_types = p.sample_types;
        all.default_sample_type = p.default_sample_type;
      }
      for (Sample s : p.samples) {
        for (uint64_t& id : s.location_ids) {
          const Location& l = p.LocationAt(id);
          id = all.AddLocation({all.AddFunction(p.FunctionOf(l)), l.line});
        }
        for (Label& l : s.labels) {
          if (l.key == "batch") l.num += static_cast<int64_t>(ph) * 6;
        }
        all.samples.push_back(std::move(s));
      }
    }
    return all;
  };
  Comparison c = CompareOrDie({Table(suite(1))}, Table(suite(2)));
  EXPECT_FALSE(c.conclusive);
  EXPECT_FALSE(c.failed);
  EXPECT_EQ(c.runs_base, 1);
  EXPECT_THAT(c.replicates, HasSubstr("not exchangeable"));
}

TEST(CompareTest, DifferentRatesAndLengthsChangeNothing) {
  const Workload w = Runs();
  Workload fast = w;
  fast.period_ns = 4'000'000;  // 250 Hz: 2.5x the samples of 4 ms
  fast.samples = w.samples * 5 / 2;
  Comparison rates = CompareOrDie({Table(SimulateRuns(w, 5, 41, 0.02))},
                                  Table(SimulateRuns(fast, 5, 42, 0.02)));
  EXPECT_THAT(Named(rates, Verdict::kRegression), IsEmpty());
  EXPECT_THAT(Named(rates, Verdict::kImprovement), IsEmpty());
  // Attached: 5 s against 20 s of the same service.
  Workload short_run = ServiceWorkload();
  short_run.samples = 20000;
  short_run.batches = 8;
  Workload long_run = ServiceWorkload();
  long_run.samples = 80000;
  long_run.batches = 32;
  Comparison lengths = CompareOrDie({Table(Simulate(short_run, 43))},
                                    Table(Simulate(long_run, 44)));
  EXPECT_THAT(Named(lengths, Verdict::kRegression), IsEmpty());
  EXPECT_THAT(Named(lengths, Verdict::kImprovement), IsEmpty());
}

TEST(CompareTest, UnderTheNoiseFloorDoublingDoesNotFail) {
  const Workload w = Runs();
  Comparison c = CompareOrDie({Table(SimulateRuns(w, 5, 51))},
                              Table(SimulateRuns(Slower(w, "tiny", 2), 5, 52)));
  const FunctionDiff& tiny = RowOf(c, "tiny");
  EXPECT_FALSE(tiny.above_floor);
  EXPECT_EQ(tiny.verdict, Verdict::kUnchanged);
}

TEST(CompareTest, ImprovementsAreSymmetric) {
  const Workload w = Runs();
  Comparison c = CompareOrDie(
      {Table(SimulateRuns(w, 5, 61, 0.02))},
      Table(SimulateRuns(Slower(w, "db_query", 0.5), 5, 62, 0.02)));
  EXPECT_FALSE(c.failed);
  EXPECT_THAT(Named(c, Verdict::kImprovement),
              ::testing::Contains(std::string("db_query")));
}

TEST(CompareTest, NewAndGoneFunctions) {
  Workload w = Runs();
  Workload with_new = w;
  with_new.stacks.push_back({"main", "serve", "cache_miss"});
  with_new.weights.push_back(0.1);
  Comparison c = CompareOrDie({Table(SimulateRuns(w, 3, 71))},
                              Table(SimulateRuns(with_new, 3, 72)));
  EXPECT_EQ(RowOf(c, "cache_miss").verdict, Verdict::kNew);
  EXPECT_EQ(c.new_functions, 1);
  EXPECT_FALSE(c.failed);
  CompareOptions fail_on_new;
  fail_on_new.fail_on_new = true;
  EXPECT_TRUE(CompareOrDie({Table(SimulateRuns(w, 3, 71))},
                           Table(SimulateRuns(with_new, 3, 72)), fail_on_new)
                  .failed);
  Comparison gone = CompareOrDie({Table(SimulateRuns(with_new, 3, 73))},
                                 Table(SimulateRuns(w, 3, 74)));
  EXPECT_EQ(RowOf(gone, "cache_miss").verdict, Verdict::kGone);
  EXPECT_EQ(gone.gone_functions, 1);
}

TEST(CompareTest, MetricSelfOrTotalAlone) {
  Workload w;
  w.samples = 5000;
  w.batches = 5;
  w.stacks = {{"main", "a", "spin"},
              {"main", "b", "spin"},
              {"main", "c", "spin"},
              {"main", "d", "work"}};
  w.weights = {0.25, 0.25, 0.25, 0.25};
  Workload slower = w;
  slower.weights[0] *= 1.6;
  slower.samples = 5750;
  CompareOptions self_only;
  self_only.metric = Metric::kSelf;
  Comparison s =
      CompareOrDie({Table(SimulateRuns(w, 5, 81, 0.02))},
                   Table(SimulateRuns(slower, 5, 82, 0.02)), self_only);
  // spin's self grew by 20%: it is the only self-time regression.
  EXPECT_THAT(Named(s, Verdict::kRegression), ElementsAre("spin"));
  CompareOptions total_only;
  total_only.metric = Metric::kTotal;
  Comparison t =
      CompareOrDie({Table(SimulateRuns(w, 5, 81, 0.02))},
                   Table(SimulateRuns(slower, 5, 82, 0.02)), total_only);
  EXPECT_THAT(Named(t, Verdict::kRegression), ::testing::Contains("a"));
  EXPECT_EQ(RowOf(t, "b").verdict, Verdict::kUnchanged);
}

TEST(CompareTest, ByLine) {
  Workload w;
  w.samples = 4000;
  w.batches = 4;
  w.stacks = {{"main", "parse:10"},
              {"main", "parse:20"},
              {"main", "emit"},
              {"main", "read"}};
  w.weights = {0.3, 0.3, 0.2, 0.2};
  Workload slower = w;
  slower.weights[1] *= 1.6;
  slower.samples = 4720;
  TableOptions by_line;
  by_line.by = Granularity::kLine;
  Comparison c =
      CompareOrDie({Table(SimulateRuns(w, 5, 91, 0.02), by_line)},
                   Table(SimulateRuns(slower, 5, 92, 0.02), by_line));
  bool line20 = false;
  for (const FunctionDiff& row : c.rows) {
    if (row.verdict == Verdict::kRegression && row.key.name == "parse") {
      EXPECT_EQ(row.key.line, 20);
      line20 = true;
    }
  }
  EXPECT_TRUE(line20);
}

TEST(CompareTest, BadInput) {
  const Workload w = Runs();
  FunctionTable wall = Table(SimulateRuns(w, 2, 1));
  Workload cpu = w;
  cpu.weight_type = "cpu";
  FunctionTable cpu_table = Table(SimulateRuns(cpu, 2, 2));
  EXPECT_THAT(Compare({wall}, cpu_table, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Compare({}, wall, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Compare({FunctionTable{}}, wall, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CompareTest, MergedBaselineEntriesAreReplicates) {
  const Workload w = Runs();
  std::vector<FunctionTable> entries;
  for (int k = 0; k < 3; ++k)
    entries.push_back(Table(SimulateRuns(w, 2, 100 + k)));
  Comparison c = CompareOrDie(entries, Table(SimulateRuns(w, 5, 110)));
  EXPECT_EQ(c.base_entries, 3);
  EXPECT_EQ(c.runs_base, 6);
  EXPECT_FALSE(c.failed);
}

}  // namespace
}  // namespace pystrobe
