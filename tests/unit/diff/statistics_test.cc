#include "statistics.h"

#include <cmath>
#include <limits>
#include <random>
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

TEST(StatisticsTest, StudentQuantileInvertsThePValue) {
  // Tables: t_{0.975, 4} = 2.776, t_{0.975, inf} = 1.960, t_{0.8, 10} = 0.879.
  EXPECT_NEAR(StudentTwoSidedQuantile(0.05, 4), 2.776, 1e-3);
  EXPECT_NEAR(StudentTwoSidedQuantile(0.05, 1e9), 1.960, 1e-3);
  EXPECT_NEAR(StudentTwoSidedQuantile(0.4, 10), 0.879, 1e-3);
  for (double df : {1.0, 3.0, 30.0}) {
    for (double p : {0.5, 0.05, 0.001}) {
      EXPECT_NEAR(StudentTwoSidedP(StudentTwoSidedQuantile(p, df), df), p,
                  1e-6 * p + 1e-9);
    }
  }
}

TEST(StatisticsTest, DetectableDifference) {
  // Normal case: (1.96 + 0.8416) * se.
  EXPECT_NEAR(DetectableDifference(1.0, 1e9, 0.05, 0.8), 2.8016, 1e-3);
  // Fewer degrees of freedom, a stricter alpha: larger.
  EXPECT_GT(DetectableDifference(1.0, 4, 0.05, 0.8),
            DetectableDifference(1.0, 40, 0.05, 0.8));
  EXPECT_GT(DetectableDifference(1.0, 40, 0.005, 0.8),
            DetectableDifference(1.0, 40, 0.05, 0.8));
  EXPECT_TRUE(std::isinf(DetectableDifference(
      std::numeric_limits<double>::infinity(), 4, 0.05, 0.8)));
}

TEST(StatisticsTest, VarianceTrendRecoversBothParts) {
  // Var = 0.01 mean^2 + 2 mean, exactly.
  std::vector<TrendPoint> points;
  for (double m : {10.0, 50.0, 200.0, 1000.0}) {
    points.push_back({m, 0.01 * m * m + 2 * m, 4});
  }
  VarianceTrend t = FitVarianceTrend(points);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.a, 0.01, 1e-9);
  EXPECT_NEAR(t.b, 2, 1e-6);
  EXPECT_NEAR(t.Predict(100), 300, 1e-4);
  // Too few points: no trend.
  points.resize(2);
  EXPECT_FALSE(FitVarianceTrend(points).valid);
  // A negative slope is clamped: a alone.
  t = FitVarianceTrend(
      {{10, 100 * 0.5 + 0, 2}, {100, 10000 * 0.02, 2}, {1000, 1e6 * 0.02, 2}});
  ASSERT_TRUE(t.valid);
  EXPECT_GE(t.a, 0);
  EXPECT_GE(t.b, 0);
}

TEST(StatisticsTest, VonNeumannTellsPhasesFromNoise) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 1);
  std::vector<double> steady, phases;
  for (int i = 0; i < 30; ++i) {
    steady.push_back(noise(rng));
    phases.push_back(i / 6 + 0.2 * noise(rng));  // 5 blocks of 6
  }
  EXPECT_GT(VonNeumannZ(steady), -3);  // ~N(0, 1): this seed gives -2.3
  EXPECT_LT(VonNeumannZ(phases), -4);
  EXPECT_EQ(VonNeumannZ({1, 1, 1, 1}), 0);
  EXPECT_EQ(VonNeumannZ({1, 2}), 0);
}

TEST(StatisticsTest, Medians) {
  EXPECT_EQ(Median({3, 1, 2}), 2);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_TRUE(std::isnan(Median({})));
  EXPECT_EQ(WeightedMedian({{1, 0.1}, {2, 0.1}, {3, 0.5}}), 3);
  EXPECT_EQ(WeightedMedian({{1, 1}, {2, 1}}), 1.5);
  EXPECT_TRUE(std::isnan(WeightedMedian({{1, 0}})));
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
