// Verdicts of Compare on simulated runs of an autocorrelated sampler
// (simulated_runs.h: stickiness 0.9, 100,000 samples, 32 batches). The
// rates printed here are the evidence quoted in docs/statistics.md.

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

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
using ::pystrobe::testing::StatusIs;
using ::pystrobe::testing::Workload;

FunctionTable Table(const Profile& p, const TableOptions& options = {}) {
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, options);
  EXPECT_THAT(t, IsOk());
  return t.ok() ? *std::move(t) : FunctionTable{};
}

FunctionTable SimulatedRun(const Workload& w, uint64_t seed) {
  return Table(Simulate(w, seed));
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

// The gate pystrobe-diff does NOT use: the same threshold and noise floor,
// but a two-proportion test on sample counts, as if samples were
// independent, Holm-corrected.
bool NaiveGateFails(const FunctionTable& base, const FunctionTable& now,
                    const CompareOptions& options) {
  std::vector<double> p;
  std::vector<double> delta;
  auto count = [](const FunctionTable& t, int64_t w) {
    return static_cast<double>(w) / static_cast<double>(t.grand_total) *
           static_cast<double>(t.sample_count);
  };
  for (const auto& [key, b] : base.functions) {
    auto it = now.functions.find(key);
    if (it == now.functions.end() || b.self == 0) continue;
    double xb = count(base, b.self);
    double xn = count(now, it->second.self);
    double nb = static_cast<double>(base.sample_count);
    double nn = static_cast<double>(now.sample_count);
    if (std::max(xb / nb, xn / nn) < options.min_share) continue;
    p.push_back(stats::TwoProportionP(xb, nb, xn, nn));
    delta.push_back(((xn / nn) / (xb / nb) - 1) * 100);
  }
  std::vector<double> adjusted = stats::HolmAdjust(p);
  for (size_t i = 0; i < p.size(); ++i) {
    if (adjusted[i] < options.alpha && delta[i] > options.threshold_pct) {
      return true;
    }
  }
  return false;
}

TEST(CompareTest, AaFalsePositiveRate) {
  Workload w = ServiceWorkload();
  int failed = 0;
  int naive_failed = 0;
  constexpr int kPairs = 200;
  for (int i = 0; i < kPairs; ++i) {
    FunctionTable base = SimulatedRun(w, 1000 + 2 * i);
    FunctionTable now = SimulatedRun(w, 1001 + 2 * i);
    Comparison c = CompareOrDie({base}, now);
    failed += c.failed ? 1 : 0;
    for (const FunctionDiff& row : c.rows) {
      if (row.verdict == Verdict::kRegression) {
        std::printf("  pair %d: %s %+.1f%% p=%.4f\n", i, row.key.name.c_str(),
                    row.delta_pct, row.p_value);
      }
    }
    naive_failed += NaiveGateFails(base, now, CompareOptions{}) ? 1 : 0;
  }
  std::printf("A/A: gate failed %d of %d pairs; a naive binomial gate %d\n",
              failed, kPairs, naive_failed);
  EXPECT_LE(failed, kPairs * 5 / 100);
  // The evidence for the method: the naive test is fooled by correlation.
  EXPECT_GE(naive_failed, kPairs / 4);
}

// The CI-level requirement: these 20 A/A comparisons never fail.
TEST(CompareTest, TwentyAaComparisonsNeverFail) {
  Workload w = ServiceWorkload();
  FunctionTable base = SimulatedRun(w, 1);
  for (uint64_t seed = 2; seed <= 21; ++seed) {
    Comparison c = CompareOrDie({base}, SimulatedRun(w, seed));
    EXPECT_FALSE(c.failed) << "seed " << seed;
    EXPECT_EQ(c.regressions, 0) << "seed " << seed;
    EXPECT_EQ(c.new_functions, 0);
    EXPECT_EQ(c.gone_functions, 0);
  }
}

TEST(CompareTest, AbThirtyPercentSlowerIsNamed) {
  Workload w = ServiceWorkload();
  Workload slower = testing::Scaled(w, "parse", 1.3);
  int named = 0;
  constexpr int kSeeds = 100;
  for (int i = 0; i < kSeeds; ++i) {
    Comparison c = CompareOrDie({SimulatedRun(w, 5000 + i)},
                                SimulatedRun(slower, 9000 + i));
    if (c.failed &&
        Named(c, Verdict::kRegression) == std::vector<std::string>{"parse"}) {
      ++named;
    }
  }
  std::printf("A/B +30%%: gate failed naming exactly parse in %d of %d\n",
              named, kSeeds);
  EXPECT_GE(named, kSeeds * 95 / 100);
}

TEST(CompareTest, RegressionRowValues) {
  Workload w = ServiceWorkload();
  Comparison c =
      CompareOrDie({SimulatedRun(w, 11)},
                   SimulatedRun(testing::Scaled(w, "parse", 1.3), 12));
  ASSERT_FALSE(c.rows.empty());
  const FunctionDiff& top = c.rows.front();  // sorted by impact
  EXPECT_EQ(top.key.name, "parse");
  EXPECT_EQ(top.verdict, Verdict::kRegression);
  EXPECT_NEAR(top.base_self, 0.20, 0.03);
  EXPECT_NEAR(top.new_self, 0.26 / 1.06, 0.03);
  EXPECT_NEAR(top.delta_pct, (top.new_self / top.base_self - 1) * 100, 1e-9);
  EXPECT_LT(top.p_value, 0.05);
  EXPECT_TRUE(top.above_floor);
  EXPECT_STREQ(VerdictName(top.verdict), "regression");
  EXPECT_THAT(c.method, ::testing::HasSubstr("Holm"));
  for (size_t i = 1; i < c.rows.size(); ++i) {
    EXPECT_GE(c.rows[i - 1].impact, c.rows[i].impact);
  }
}

TEST(CompareTest, UnderTheNoiseFloorDoublingDoesNotFail) {
  Workload w = ServiceWorkload();
  Workload doubled = testing::Scaled(w, "tiny", 2);
  for (int i = 0; i < 20; ++i) {
    Comparison c = CompareOrDie({SimulatedRun(w, 300 + i)},
                                SimulatedRun(doubled, 400 + i));
    EXPECT_FALSE(c.failed) << "seed " << i;
    for (const FunctionDiff& row : c.rows) {
      if (row.key.name != "tiny") continue;
      EXPECT_FALSE(row.above_floor);
      EXPECT_EQ(row.verdict, Verdict::kUnchanged);
      EXPECT_EQ(row.p_value, 1);
    }
  }
  // The same doubling of a function above the floor does fail.
  Comparison c = CompareOrDie({SimulatedRun(w, 1)},
                              SimulatedRun(testing::Scaled(w, "log", 2), 2));
  EXPECT_EQ(Named(c, Verdict::kRegression), std::vector<std::string>{"log"});
}

TEST(CompareTest, ImprovementsAreSymmetric) {
  Workload w = ServiceWorkload();
  Comparison c = CompareOrDie({SimulatedRun(w, 21)},
                              SimulatedRun(testing::Scaled(w, "log", 0.3), 22));
  EXPECT_FALSE(c.failed);
  EXPECT_EQ(c.regressions, 0);
  EXPECT_EQ(Named(c, Verdict::kImprovement), std::vector<std::string>{"log"});
}

}  // namespace
}  // namespace pystrobe
