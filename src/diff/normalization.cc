#include "normalization.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "statistics.h"

namespace pystrobe::diff {
namespace {

// A part of the time (a leaf call, or a function's self time) on both
// sides: its time in each replicate.
struct Part {
  const std::vector<double>* base;
  const std::vector<double>* now;
};

// The parts the time is split into: self time by leaf and caller where the
// tables have it (work done through one shared helper still splits into one
// part per caller), else by function (tables built by hand).
std::vector<Part> Parts(const Side& base, const Side& now) {
  std::vector<Part> out;
  if (!base.leaf_calls.empty() && !now.leaf_calls.empty()) {
    for (const auto& [key, b] : base.leaf_calls) {
      auto it = now.leaf_calls.find(key);
      if (it != now.leaf_calls.end()) out.push_back({&b, &it->second});
    }
  } else {
    for (const auto& [key, b] : base.functions) {
      auto it = now.functions.find(key);
      if (it != now.functions.end()) out.push_back({&b.self, &it->second.self});
    }
  }
  return out;
}

// Parts fit to serve as reference for the median of ratios.
std::vector<Part> ReferenceParts(const Side& base, const Side& now) {
  std::vector<Part> out;
  for (const Part& p : Parts(base, now)) {
    bool ok = true;
    double sum_b = 0, sum_n = 0;
    for (double x : *p.base) {
      ok = ok && x > 0;
      sum_b += x;
    }
    for (double x : *p.now) {
      ok = ok && x > 0;
      sum_n += x;
    }
    if (!ok) continue;
    if (sum_b > kMaxReferenceShare * base.grand_total ||
        sum_n > kMaxReferenceShare * now.grand_total) {
      continue;
    }
    const double samples_b =
        sum_b / base.weight_per_sample / static_cast<double>(base.n);
    const double samples_n =
        sum_n / now.weight_per_sample / static_cast<double>(now.n);
    if (samples_b < kMinReferenceSamples || samples_n < kMinReferenceSamples) {
      continue;
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace

Scaling ComputeScaling(const Side& base, const Side& now, Normalize mode) {
  Scaling s;
  s.base.assign(static_cast<size_t>(base.n), 1.0);
  s.now.assign(static_cast<size_t>(now.n), 1.0);
  if (mode == Normalize::kNone || mode == Normalize::kAuto) {
    s.method = "no scaling";
    return s;
  }
  const std::vector<Part> refs = ReferenceParts(base, now);
  s.reference_functions = static_cast<int>(refs.size());
  if (refs.size() >= 3) {
    s.median_of_ratios = true;
    // Each function's vote weighs its share of the time, capped, so that
    // neither a crowd of small functions (start-up imports) nor one
    // dominant function (the one that may have regressed) decides alone.
    const size_t k = refs.size();
    std::vector<double> weight(k), log_mean_b(k), log_mean_n(k);
    std::vector<std::pair<double, double>> side_ratio(k);
    for (size_t f = 0; f < k; ++f) {
      double time_b = 0, time_n = 0;
      for (double x : *refs[f].base) time_b += x;
      for (double x : *refs[f].now) time_n += x;
      log_mean_b[f] = std::log(time_b / base.n);
      log_mean_n[f] = std::log(time_n / now.n);
      const double share =
          (time_b / base.grand_total + time_n / now.grand_total) / 2;
      weight[f] = std::min(share, kMaxReferenceWeight);
      side_ratio[f] = {log_mean_n[f] - log_mean_b[f], weight[f]};
    }
    // NEW against BASE: a weighted median of the functions' ratios of mean
    // time, then the weighted mean of those within 3 robust deviations of
    // it (a function that really changed is an outlier, not a vote).
    const double median = stats::WeightedMedian(side_ratio);
    std::vector<std::pair<double, double>> deviation(k);
    for (size_t f = 0; f < k; ++f) {
      deviation[f] = {std::fabs(side_ratio[f].first - median), weight[f]};
    }
    const double spread =
        std::max(1.4826 * stats::WeightedMedian(deviation), 0.01);
    std::vector<bool> kept(k);
    double sw = 0, sw2 = 0, sum = 0;
    for (size_t f = 0; f < k; ++f) {
      kept[f] = deviation[f].first <= 3 * spread;
      if (!kept[f]) continue;
      sw += weight[f];
      sw2 += weight[f] * weight[f];
      sum += weight[f] * side_ratio[f].first;
    }
    const double mean_ratio = sum / sw;
    double var = 0;
    for (size_t f = 0; f < k; ++f) {
      if (kept[f]) {
        var += weight[f] * (side_ratio[f].first - mean_ratio) *
               (side_ratio[f].first - mean_ratio);
      }
    }
    const double k_eff = sw2 > 0 ? sw * sw / sw2 : 1;
    s.log_scale_variance = k_eff > 1 ? (var / sw) / (k_eff - 1) : 0;
    // Only a speed difference the functions agree on is corrected: a shift
    // within three of its standard errors may as well be one function that
    // changed pulling the others' estimate, and then no scale is the
    // honest comparison.
    double log_new = sum / sw;
    const double side_variance = s.log_scale_variance;
    s.side_scaled = std::fabs(log_new) > 3 * std::sqrt(s.log_scale_variance);
    if (!s.side_scaled) {
      s.unapplied_log_scale = log_new;
      log_new = 0;
      s.log_scale_variance = 0;
    }

    // Each replicate's deviation from its side, from the same functions,
    // and that estimate's own noise (1.57 sigma^2 / k_eff for a median).
    std::vector<double> noise;
    auto deviations = [&](bool of_base, const std::vector<double>& log_mean,
                          std::vector<double>* out) {
      for (size_t r = 0; r < out->size(); ++r) {
        std::vector<std::pair<double, double>> ratios;
        for (size_t f = 0; f < k; ++f) {
          if (!kept[f]) continue;
          ratios.emplace_back(
              std::log((of_base ? *refs[f].base : *refs[f].now)[r]) -
                  log_mean[f],
              weight[f]);
        }
        // The weighted mean of the parts within 3 robust deviations of
        // their median: as robust to a part that misbehaved in this
        // replicate as a median, and far less noisy (a median of five
        // equal parts throws most of their samples away).
        const double mid = stats::WeightedMedian(ratios);
        std::vector<std::pair<double, double>> dev;
        for (const auto& [x, w] : ratios)
          dev.emplace_back(std::fabs(x - mid), w);
        const double limit =
            3 * std::max(1.4826 * stats::WeightedMedian(dev), 0.01);
        double sum_w = 0, sum_w2 = 0, sum_x = 0;
        for (const auto& [x, w] : ratios) {
          if (std::fabs(x - mid) > limit) continue;
          sum_w += w;
          sum_w2 += w * w;
          sum_x += w * x;
        }
        const double m = sum_x / sum_w;
        double spread_r = 0;
        for (const auto& [x, w] : ratios) {
          if (std::fabs(x - mid) <= limit) spread_r += w * (x - m) * (x - m);
        }
        const double k_r = sum_w2 > 0 ? sum_w * sum_w / sum_w2 : 1;
        noise.push_back((spread_r / sum_w) / std::max(1.0, k_r - 1));
        (*out)[r] = m;
      }
    };
    std::vector<double> dev_b(s.base.size()), dev_n(s.now.size());
    deviations(true, log_mean_b, &dev_b);
    deviations(false, log_mean_n, &dev_n);
    // Per-run factors only when the runs differ in speed by more than the
    // factors' own estimation noise (twice its variance).
    double mean_noise = 0;
    for (double v : noise) mean_noise += v / static_cast<double>(noise.size());
    auto centred_ss = [](const std::vector<double>& v) {
      double m = 0, ss = 0;
      for (double x : v) m += x / static_cast<double>(v.size());
      for (double x : v) ss += (x - m) * (x - m);
      return ss;
    };
    const double dof = static_cast<double>(base.n + now.n - 2);
    s.per_run = dof > 0 &&
                (centred_ss(dev_b) + centred_ss(dev_n)) / dof > 2 * mean_noise;
    if (s.per_run && !s.side_scaled) {
      // Speed taken out within the sides must be taken out between them
      // too: otherwise the sides' means still differ by their runs' mean
      // speeds while their spread no longer shows it, and unchanged
      // functions fail (A/A, 8% speed spread: 4 of 100 before).
      s.side_scaled = true;
      log_new = s.unapplied_log_scale;
      s.unapplied_log_scale = 0;
      s.log_scale_variance = side_variance;
    }
    for (size_t r = 0; r < s.base.size(); ++r) {
      s.base[r] = std::exp(s.per_run ? dev_b[r] : 0);
    }
    for (size_t r = 0; r < s.now.size(); ++r) {
      s.now[r] = std::exp(log_new + (s.per_run ? dev_n[r] : 0));
    }
    s.method = absl::StrFormat(
        "%s scaled %s by a median of ratios over %d parts (leaf calls)",
        mode == Normalize::kTime ? "time per run" : "shares",
        s.per_run ? "per replicate" : "per side", s.reference_functions);
  } else if (mode == Normalize::kShare) {
    for (size_t r = 0; r < s.base.size(); ++r) s.base[r] = base.total[r];
    for (size_t r = 0; r < s.now.size(); ++r) s.now[r] = now.total[r];
    s.method = "plain shares (too few functions for a median of ratios)";
  } else {
    s.method = "time per run, unscaled (too few functions for a speed scale)";
  }
  // Anchor on the base: its geometric mean scale is 1, so base values keep
  // their units (seconds per run; for shares, the base's total is 1).
  for (double& x : s.base) x = x > 0 ? x : 1;
  for (double& x : s.now) x = x > 0 ? x : 1;
  const double anchor = stats::GeometricMean(s.base);
  double base_total = 1;
  if (mode == Normalize::kShare) {
    // Shares: divide further by the base's mean scaled total.
    double sum = 0;
    for (size_t r = 0; r < s.base.size(); ++r) {
      sum += base.total[r] / (s.base[r] / anchor);
    }
    base_total = sum / static_cast<double>(s.base.size());
  }
  for (double& x : s.base) x = x / anchor * base_total;
  for (double& x : s.now) x = x / anchor * base_total;
  return s;
}

}  // namespace pystrobe::diff
