#include "statistics.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe::stats {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;

TEST(StatisticsTest, NormalAndStudent) {
  EXPECT_NEAR(NormalTwoSidedP(1.959964), 0.05, 1e-6);
  EXPECT_NEAR(NormalTwoSidedP(-2.575829), 0.01, 1e-6);
  // Table values of Student's t.
  EXPECT_NEAR(StudentTwoSidedP(2.228139, 10), 0.05, 1e-6);
  EXPECT_NEAR(StudentTwoSidedP(4.302653, 2), 0.05, 1e-6);
  EXPECT_NEAR(StudentTwoSidedP(12.706205, 1), 0.05, 1e-6);
  EXPECT_NEAR(StudentTwoSidedP(2.039513, 31), 0.05, 1e-6);
  EXPECT_NEAR(StudentTwoSidedP(1.959964, kExactDf), 0.05, 1e-6);
  EXPECT_DOUBLE_EQ(StudentTwoSidedP(0, 5), 1);
}

TEST(StatisticsTest, Holm) {
  EXPECT_THAT(HolmAdjust({0.01, 0.04, 0.03, 0.005}),
              ElementsAre(DoubleNear(0.03, 1e-12), DoubleNear(0.06, 1e-12),
                          DoubleNear(0.06, 1e-12), DoubleNear(0.02, 1e-12)));
  EXPECT_THAT(HolmAdjust({0.5, 0.9}),
              ElementsAre(DoubleNear(1, 1e-12), DoubleNear(1, 1e-12)));
  EXPECT_TRUE(HolmAdjust({}).empty());
}

TEST(StatisticsTest, BatchMeansVariance) {
  // Equal batches: Var = var(x_b) / B. Shares 0.1, 0.3, 0.2, 0.2.
  Estimate e =
      ShareFromBatches({10, 30, 20, 20}, {100, 100, 100, 100}, 1e6, 10);
  EXPECT_DOUBLE_EQ(e.mean, 0.2);
  double var_x = (0.01 + 0.01 + 0 + 0) / 3;
  EXPECT_NEAR(e.variance, var_x / 4, 1e-12);
  EXPECT_EQ(e.df, 3);
  EXPECT_FALSE(e.floored);
  // Identical batches: the binomial floor p(1-p)/n.
  e = ShareFromBatches({20, 20}, {100, 100}, 400, 10);
  EXPECT_NEAR(e.variance, 0.2 * 0.8 / 400, 1e-12);
  EXPECT_TRUE(e.floored);
  // One batch: the design effect.
  e = ShareFromBatches({20}, {100}, 400, 10);
  EXPECT_NEAR(e.variance, 10 * 0.2 * 0.8 / 400, 1e-12);
  // Empty batches do not count.
  e = ShareFromBatches({10, 0, 30}, {100, 0, 100}, 1e6, 10);
  EXPECT_DOUBLE_EQ(e.mean, 0.2);
  EXPECT_EQ(e.df, 1);
}

TEST(StatisticsTest, MergeRunsTakesTheLargerVariance) {
  Estimate a{0.20, 1e-6, 31, false};
  Estimate b{0.24, 1e-6, 31, false};
  Estimate c{0.22, 1e-6, 31, false};
  MergedRuns m = MergeRuns({a, b, c});
  EXPECT_NEAR(m.mean.mean, 0.22, 1e-12);
  EXPECT_NEAR(m.between_run_variance, 0.0004, 1e-12);
  EXPECT_NEAR(m.mean.variance, 0.0004 / 3, 1e-12);
  EXPECT_EQ(m.mean.df, 2);
  Estimate run = WithBetweenRunVariance({0.3, 1e-6, 31, false}, m);
  EXPECT_NEAR(run.variance, 0.0004, 1e-12);
  // Runs that agree: the within-run variance stands.
  m = MergeRuns({a, a, a});
  EXPECT_NEAR(m.mean.variance, 1e-6 / 3, 1e-15);
  EXPECT_NEAR(m.mean.df, 93, 1e-9);
}

TEST(StatisticsTest, Welch) {
  Estimate a{0.2, 0.0001, kExactDf, true};
  Estimate b{0.2 + 1.959964 * std::sqrt(0.0002), 0.0001, kExactDf, true};
  EXPECT_NEAR(WelchTwoSidedP(a, b), 0.05, 1e-6);
  EXPECT_DOUBLE_EQ(WelchTwoSidedP(a, a), 1);
  EXPECT_NEAR(TwoProportionP(50, 100, 50, 100), 1, 1e-12);
  EXPECT_LT(TwoProportionP(200, 1000, 300, 1000), 1e-6);
}

}  // namespace
}  // namespace pystrobe::stats
