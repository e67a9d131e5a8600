#include "statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
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

double StudentTwoSidedQuantile(double p, double df) {
  if (!(p > 0)) return std::numeric_limits<double>::infinity();
  if (p >= 1) return 0;
  // StudentTwoSidedP falls monotonically in t: bisect on a log scale.
  double lo = 0, hi = 1;
  while (StudentTwoSidedP(hi, df) > p && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-10 * hi; ++i) {
    const double mid = (lo + hi) / 2;
    (StudentTwoSidedP(mid, df) > p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

double DetectableDifference(double standard_error, double df, double alpha,
                            double power) {
  if (!(standard_error >= 0) || std::isinf(standard_error)) {
    return std::numeric_limits<double>::infinity();
  }
  // Two-sided test at alpha; a true difference d is found with probability
  // `power` when d / se = t_{1 - alpha/2} + t_{power}.
  return standard_error * (StudentTwoSidedQuantile(alpha, df) +
                           StudentTwoSidedQuantile(2 * (1 - power), df));
}

VarianceTrend FitVarianceTrend(const std::vector<TrendPoint>& points) {
  // Least squares of cv^2 = s^2 / mean^2 on (1, 1 / mean), each point
  // weighted by its degrees of freedom, with a, b >= 0: the run-to-run
  // part of the variance scales with mean^2, the sampling part with mean.
  VarianceTrend trend;
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  int used = 0;
  // Each point weighs its degrees of freedom times its mean: the relative
  // variance of a large function is both better estimated and what the
  // constant term (the run-to-run part) is about; many small functions with
  // noisy, skewed estimates must not inflate the prior of the large ones.
  double mean_sum = 0;
  int counted = 0;
  for (const TrendPoint& p : points) {
    if (p.mean > 0 && p.df > 0 && p.variance >= 0) {
      mean_sum += p.mean;
      ++counted;
    }
  }
  const double mean_of_means = counted > 0 ? mean_sum / counted : 1;
  for (const TrendPoint& p : points) {
    if (!(p.mean > 0) || !(p.df > 0) || !(p.variance >= 0)) continue;
    const double x = 1 / p.mean;
    const double y = p.variance / Square(p.mean);
    const double w = p.df * p.mean / mean_of_means;
    sw += w;
    sx += w * x;
    sy += w * y;
    sxx += w * x * x;
    sxy += w * x * y;
    trend.df += p.df;
    ++used;
  }
  if (used < 3 || !(sw > 0)) return trend;
  const double det = sw * sxx - sx * sx;
  double a = sy / sw, b = 0;
  if (det > 1e-12 * sw * sxx) {
    a = (sxx * sy - sx * sxy) / det;
    b = (sw * sxy - sx * sy) / det;
  }
  if (b < 0) {  // constrained: a alone
    b = 0;
    a = sy / sw;
  }
  if (a < 0) {  // constrained: b alone
    a = 0;
    b = sxx > 0 ? std::max(0.0, sxy / sxx) : 0;
  }
  trend.a = a;
  trend.b = b;
  trend.valid = true;
  return trend;
}

double VonNeumannZ(const std::vector<double>& x) {
  const size_t n = x.size();
  if (n < 3) return 0;
  double mean = 0;
  for (double v : x) mean += v / static_cast<double>(n);
  double ss = 0, sd = 0;
  for (size_t i = 0; i < n; ++i) {
    ss += Square(x[i] - mean);
    if (i + 1 < n) sd += Square(x[i + 1] - x[i]);
  }
  if (!(ss > 0)) return 0;  // constant: no evidence either way
  const double dn = static_cast<double>(n);
  // eta = (sd / (n-1)) / (ss / n); under independence E = 2n/(n-1) and,
  // nearly, Var = 4 (n-2) / ((n-1)(n+1)) * (n/(n-1))^2.
  const double eta = (sd / (dn - 1)) / (ss / dn);
  const double expected = 2 * dn / (dn - 1);
  const double sd_eta =
      2 * std::sqrt((dn - 2) / ((dn - 1) * (dn + 1))) * dn / (dn - 1);
  return (eta - expected) / sd_eta;
}

double GeometricMean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += std::log(x);
  return v.empty() ? 1 : std::exp(sum / static_cast<double>(v.size()));
}

double WeightedMedian(std::vector<std::pair<double, double>> v) {
  double total = 0;
  for (const auto& [value, weight] : v) total += std::max(0.0, weight);
  if (v.empty() || !(total > 0))
    return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  double acc = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    acc += std::max(0.0, v[i].second);
    // Exactly half: between this value and the next, as Median() does.
    if (std::fabs(acc - total / 2) <= 1e-12 * total && i + 1 < v.size()) {
      return (v[i].first + v[i + 1].first) / 2;
    }
    if (acc > total / 2) return v[i].first;
  }
  return v.back().first;
}

double Median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower =
      *std::max_element(v.begin(), v.begin() + static_cast<long>(mid));
  return (lower + upper) / 2;
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
