// The statistics behind pystrobe-diff's verdicts (docs/statistics.md has the
// reasoning and the evidence): Student's t and its quantiles, Holm's
// correction, the pooled variance trend of a moderated t-test, the change a
// design can detect, and the von Neumann test that tells exchangeable time
// batches from a sequence of phases.
//
//   VarianceTrend trend = FitVarianceTrend(points);
//   double p = StudentTwoSidedP(t, df);
//   std::vector<double> adjusted = HolmAdjust({p, ...});
//   double d = DetectableDifference(se, df, alpha / m, 0.8);
#ifndef PYSTROBE_SRC_DIFF_STATISTICS_H_
#define PYSTROBE_SRC_DIFF_STATISTICS_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace pystrobe::stats {

// Degrees of freedom used for a variance that is known (binomial) rather than
// estimated: large enough that Student's t is the normal distribution.
inline constexpr double kExactDf = 1e9;

// An estimated mean (a share, or seconds) with the variance of that estimate
// and the degrees of freedom of the variance.
struct Estimate {
  double mean = 0;
  double variance = 0;
  double df = kExactDf;
  bool floored = false;  // the binomial floor (or design effect) decided
};

// P(|Z| > |z|) for a standard normal Z.
double NormalTwoSidedP(double z);

// P(|T| > |t|) for Student's t with `df` degrees of freedom (any df > 0; very
// large df is the normal distribution).
double StudentTwoSidedP(double t, double df);

// Holm–Bonferroni adjusted p-values, in the input order: controls the
// family-wise error rate at alpha when each is compared with alpha.
std::vector<double> HolmAdjust(const std::vector<double>& p);

// t such that StudentTwoSidedP(t, df) = p (two-sided quantile).
double StudentTwoSidedQuantile(double p, double df);

// The smallest true difference a two-sided t-test at `alpha` (with `df`)
// detects with probability `power`, given the standard error of the
// difference: se * (t_{1-alpha/2} + t_{power}). +inf for an infinite se.
double DetectableDifference(double standard_error, double df, double alpha,
                            double power);

// One function's between-replicate variance, for the pooled trend.
struct TrendPoint {
  double mean = 0;
  double variance = 0;
  double df = 0;
};

// The variance a function of a given mean time shows between replicates,
// pooled over functions: Var = a * mean^2 + b * mean (run-to-run effects
// scale a function's time; sampling noise grows with its sample count).
// Used as the prior of a moderated t-test (as limma does for genes).
struct VarianceTrend {
  double a = 0, b = 0;
  double df = 0;  // total degrees of freedom it was fitted on
  bool valid = false;
  double Predict(double mean) const { return a * mean * mean + b * mean; }
};

// Fits the trend on at least 3 points with positive mean and df; invalid
// otherwise.
VarianceTrend FitVarianceTrend(const std::vector<TrendPoint>& points);

// The von Neumann ratio test of independence of a series (its successive
// differences against its variance), as a z-score: about N(0, 1) for
// exchangeable values, strongly negative for trends and phases (neighbours
// alike). 0 for fewer than 3 values or a constant series.
double VonNeumannZ(const std::vector<double>& x);

// The geometric mean of positive values (1 for none).
double GeometricMean(const std::vector<double>& v);

// The median (NaN for none).
double Median(std::vector<double> v);

// The weighted median of (value, weight) pairs: the smallest value at which
// the cumulative weight reaches half the total (NaN for none or no weight).
double WeightedMedian(std::vector<std::pair<double, double>> v);

// Welch's test of equal means: t = (b - a) / sqrt(Va + Vb) with
// Welch–Satterthwaite degrees of freedom; the two-sided p-value.
double WelchTwoSidedP(const Estimate& a, const Estimate& b);

// The naive test pystrobe-diff does NOT use (kept for the evidence in the
// tests): two-proportion z-test of x1/n1 vs x2/n2, treating every sample as
// independent.
double TwoProportionP(double x1, double n1, double x2, double n2);

}  // namespace pystrobe::stats

#endif  // PYSTROBE_SRC_DIFF_STATISTICS_H_
