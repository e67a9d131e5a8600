#include "statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pystrobe::stats {
namespace {

// Continued fraction of the regularized incomplete beta function
// (modified Lentz), converging fast for x < (a + 1) / (a + b + 2).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr int kMaxIterations = 300;
  constexpr double kEpsilon = 1e-15;
  constexpr double kTiny = 1e-300;
  double qab = a + b;
  double qap = a + 1;
  double qam = a - 1;
  double c = 1;
  double d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEpsilon) break;
  }
  return h;
}

// I_x(a, b), the regularized incomplete beta function.
double RegularizedBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                     a * std::log(x) + b * std::log1p(-x);
  double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2)) {
    return front * BetaContinuedFraction(a, b, x) / a;
  }
  return 1 - front * BetaContinuedFraction(b, a, 1 - x) / b;
}

double Square(double x) { return x * x; }

}  // namespace

double NormalTwoSidedP(double z) {
  if (std::isnan(z)) return 1;
  return std::erfc(std::fabs(z) / std::sqrt(2.0));
}

double StudentTwoSidedP(double t, double df) {
  if (std::isnan(t)) return 1;
  if (std::isinf(t)) return 0;
  if (!(df > 0) || df > 1e7) return NormalTwoSidedP(t);
  return RegularizedBeta(df / 2, 0.5, df / (df + t * t));
}

std::vector<double> HolmAdjust(const std::vector<double>& p) {
  size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t i = 0; i < m; ++i) {
    double scaled = std::min(1.0, static_cast<double>(m - i) * p[order[i]]);
    running = std::max(running, scaled);  // keeps the step-down monotone
    adjusted[order[i]] = running;
  }
  return adjusted;
}

Estimate ShareFromBatches(const std::vector<int64_t>& w_by_batch,
                          const std::vector<int64_t>& total_by_batch,
                          double n_samples, double design_effect) {
  Estimate e;
  double w_sum = 0;
  double total_sum = 0;
  int batches = 0;
  for (size_t b = 0; b < total_by_batch.size(); ++b) {
    if (total_by_batch[b] <= 0) continue;  // an empty window says nothing
    ++batches;
    total_sum += static_cast<double>(total_by_batch[b]);
    if (b < w_by_batch.size()) w_sum += static_cast<double>(w_by_batch[b]);
  }
  if (total_sum <= 0) return e;
  double p = w_sum / total_sum;
  e.mean = p;
  double n = std::max(n_samples, 1.0);
  // The binomial variance, with p at least one sample's worth so that a
  // rare function never gets a variance of zero.
  double binomial = std::max(p, 1 / n) * std::max(1 - p, 1 / n) / n;
  if (batches < 2) {
    e.variance = std::max(design_effect, 1.0) * binomial;
    e.df = kExactDf;
    e.floored = true;
    return e;
  }
  double residuals = 0;
  for (size_t b = 0; b < total_by_batch.size(); ++b) {
    if (total_by_batch[b] <= 0) continue;
    double w = b < w_by_batch.size() ? static_cast<double>(w_by_batch[b]) : 0;
    residuals += Square(w - p * static_cast<double>(total_by_batch[b]));
  }
  double batch_variance =
      batches / (batches - 1.0) * residuals / Square(total_sum);
  if (batch_variance >= binomial) {
    e.variance = batch_variance;
    e.df = batches - 1;
  } else {
    e.variance = binomial;
    e.df = kExactDf;
    e.floored = true;
  }
  return e;
}

Estimate Scaled(const Estimate& e, double factor) {
  Estimate s = e;
  s.mean *= factor;
  s.variance *= factor * factor;
  return s;
}

MergedRuns MergeRuns(const std::vector<Estimate>& runs,
                     double pooled_between_variance, double pooled_df) {
  MergedRuns merged;
  if (runs.empty()) return merged;
  double k = static_cast<double>(runs.size());
  double mean = 0;
  double within = 0;
  double within_df = 0;
  for (const Estimate& r : runs) {
    mean += r.mean;
    within += r.variance;
  }
  mean /= k;
  within /= k * k;
  // Satterthwaite's degrees of freedom of sum(v_k) / K^2.
  double denominator = 0;
  for (const Estimate& r : runs) {
    denominator += Square(r.variance / (k * k)) / r.df;
  }
  within_df = denominator > 0 ? Square(within) / denominator : kExactDf;
  merged.mean.mean = mean;
  merged.mean.variance = within;
  merged.mean.df = within_df;
  merged.mean.floored = std::all_of(
      runs.begin(), runs.end(), [](const Estimate& r) { return r.floored; });
  if (runs.size() < 2) return merged;
  double spread = 0;
  for (const Estimate& r : runs) spread += Square(r.mean - mean);
  spread /= k - 1;
  merged.between_run_variance = spread;
  merged.between_run_df = k - 1;
  if (pooled_between_variance > spread) {
    merged.between_run_variance = pooled_between_variance;
    merged.between_run_df = pooled_df;
  }
  if (merged.between_run_variance / k > within) {
    merged.mean.variance = merged.between_run_variance / k;
    merged.mean.df = merged.between_run_df;
    merged.mean.floored = false;
  }
  return merged;
}

double PooledBetweenRunCv2(
    const std::vector<std::vector<Estimate>>& runs_by_function) {
  double spread = 0;
  double scale = 0;
  for (const std::vector<Estimate>& runs : runs_by_function) {
    if (runs.size() < 2) continue;
    double k = static_cast<double>(runs.size());
    double mean = 0;
    for (const Estimate& r : runs) mean += r.mean / k;
    double s2 = 0;
    for (const Estimate& r : runs) s2 += Square(r.mean - mean) / (k - 1);
    spread += s2;
    scale += Square(mean);
  }
  return scale > 0 ? spread / scale : 0;
}

Estimate WithBetweenRunVariance(const Estimate& run, const MergedRuns& merged) {
  Estimate e = run;
  if (merged.between_run_variance > e.variance) {
    e.variance = merged.between_run_variance;
    e.df = merged.between_run_df;
    e.floored = false;
  }
  return e;
}

double WelchTwoSidedP(const Estimate& a, const Estimate& b) {
  double variance = a.variance + b.variance;
  double diff = b.mean - a.mean;
  if (!(variance > 0)) return diff == 0 ? 1 : 0;
  double t = diff / std::sqrt(variance);
  double denominator = Square(a.variance) / a.df + Square(b.variance) / b.df;
  double df = denominator > 0 ? Square(variance) / denominator : kExactDf;
  return StudentTwoSidedP(t, df);
}

double TwoProportionP(double x1, double n1, double x2, double n2) {
  if (n1 <= 0 || n2 <= 0) return 1;
  double p1 = x1 / n1;
  double p2 = x2 / n2;
  double pooled = (x1 + x2) / (n1 + n2);
  double variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(variance > 0)) return p1 == p2 ? 1 : 0;
  return NormalTwoSidedP((p2 - p1) / std::sqrt(variance));
}

}  // namespace pystrobe::stats
