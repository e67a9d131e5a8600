// The statistics behind pystrobe-diff's verdicts (docs/statistics.md has the
// reasoning and the evidence): estimates of a function's share of a run, with
// a variance that respects the autocorrelation of samples, merged over
// baseline entries, compared with a Welch test and corrected with Holm.
//
//   Estimate a = ShareFromBatches(w_by_batch, W_by_batch, n, 10);
//   Estimate b = ShareFromBatches(...);
//   double p = WelchTwoSidedP(a, b);
//   std::vector<double> adjusted = HolmAdjust({p, ...});
#ifndef PYSTROBE_SRC_DIFF_STATISTICS_H_
#define PYSTROBE_SRC_DIFF_STATISTICS_H_

#include <cstdint>
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

// The share p = sum(w_b) / sum(W_b) of a function in one run, where w_b is its
// weight and W_b the run's weight in time batch b. With B >= 2 non-empty
// batches the variance is the batch-means (linearized ratio) estimate
//   Var(p) = B / (B - 1) * sum_b (w_b - p W_b)^2 / (sum_b W_b)^2
// with B - 1 degrees of freedom, but never below the binomial p(1-p)/n (n =
// samples in the run). With fewer batches: design_effect * p(1-p)/n.
Estimate ShareFromBatches(const std::vector<int64_t>& w_by_batch,
                          const std::vector<int64_t>& total_by_batch,
                          double n_samples, double design_effect);

// The same function's estimate scaled by `factor` (e.g. a share times the
// run's seconds gives its seconds): mean * factor, variance * factor^2.
Estimate Scaled(const Estimate& e, double factor);

// Several runs (baseline entries) of the same workload.
struct MergedRuns {
  Estimate mean;  // of the average over the runs
  // The variance of ONE run around the workload's mean as seen between the
  // runs (s^2, K - 1 degrees of freedom); 0 with fewer than 2 runs.
  double between_run_variance = 0;
  double between_run_df = 0;
};

// The average of K runs' estimates. Its variance is the larger of the
// within-run one, sum(v_k) / K^2, and the between-run one, s^2 / K, where s^2
// is the sample variance of the runs' means.
//
// `pooled_between_variance` (with `pooled_df`) is a floor for the between-run
// variance of one run, estimated over all functions (PooledBetweenRunCv2):
// with K = 3 runs one function's own s^2 has 2 degrees of freedom and is
// often far too small by chance.
MergedRuns MergeRuns(const std::vector<Estimate>& runs,
                     double pooled_between_variance = 0, double pooled_df = 0);

// The squared coefficient of variation between runs, pooled over functions:
// sum_f s_f^2 / sum_f mean_f^2, where each element of `runs_by_function` holds
// one function's estimates in the K runs. Run-to-run effects (a slower
// machine, a cache) scale a function's time, so its between-run variance is
// about cv2 * mean^2. Returns 0 with fewer than 2 runs.
double PooledBetweenRunCv2(
    const std::vector<std::vector<Estimate>>& runs_by_function);

// A run compared with merged runs also varies between runs: its variance is
// at least the between-run variance of the merged ones.
Estimate WithBetweenRunVariance(const Estimate& run, const MergedRuns& merged);

// Welch's test of equal means: t = (b - a) / sqrt(Va + Vb) with
// Welch–Satterthwaite degrees of freedom; the two-sided p-value.
double WelchTwoSidedP(const Estimate& a, const Estimate& b);

// The naive test pystrobe-diff does NOT use (kept for the evidence in the
// tests): two-proportion z-test of x1/n1 vs x2/n2, treating every sample as
// independent.
double TwoProportionP(double x1, double n1, double x2, double n2);

}  // namespace pystrobe::stats

#endif  // PYSTROBE_SRC_DIFF_STATISTICS_H_
