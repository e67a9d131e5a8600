#include "evaluate.h"

#include <algorithm>
#include <cmath>

#include "statistics.h"

namespace pystrobe::diff {
namespace {

double SumSquares(const std::vector<double>& v, double mean) {
  double s = 0;
  for (double x : v) s += (x - mean) * (x - mean);
  return s;
}

void DescribeMeasure(const std::vector<double>* raw_base, const Side& base,
                     const std::vector<double>* raw_now, const Side& now,
                     const Scaling& s, double unit,
                     const CompareOptions& options, bool paired, Measure* m) {
  m->base = Normalized(raw_base, s.base, unit);
  m->now = Normalized(raw_now, s.now, unit);
  m->mean_base = Mean(m->base);
  m->mean_now = Mean(m->now);
  if (paired) {
    // Interleaved runs: the differences within pairs, so that what drifted
    // between pairs cancels. Half their sum of squares on n - 1 degrees of
    // freedom is the variance per side that gives the paired t's standard
    // error, s_d^2 / n, through the same s^2 (1/n + 1/n) as unpaired runs.
    std::vector<double> d(m->base.size());
    for (size_t r = 0; r < d.size(); ++r) d[r] = m->now[r] - m->base[r];
    m->ss = SumSquares(d, Mean(d)) / 2;
    m->df = static_cast<double>(d.size()) - 1;
  } else {
    m->ss = SumSquares(m->base, m->mean_base) + SumSquares(m->now, m->mean_now);
    m->df = static_cast<double>(base.n - 1 + now.n - 1);
  }
  auto raw_sum = [](const std::vector<double>* v) {
    double x = 0;
    if (v != nullptr) {
      for (double y : *v) x += y;
    }
    return x;
  };
  const double sum_b = raw_sum(raw_base), sum_n = raw_sum(raw_now);
  const double share_b = base.grand_total > 0 ? sum_b / base.grand_total : 0;
  const double share_n = now.grand_total > 0 ? sum_n / now.grand_total : 0;
  const bool larger_is_new = share_n >= share_b;
  m->share = std::max(share_b, share_n);
  m->samples =
      larger_is_new
          ? (now.weight_per_sample > 0 ? sum_n / now.weight_per_sample : 0)
          : (base.weight_per_sample > 0 ? sum_b / base.weight_per_sample : 0);
  m->above_floor =
      m->share >= options.min_share && m->samples >= options.min_samples;
  m->delta_pct = DeltaPct(m->mean_base, m->mean_now);
}

}  // namespace

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

double DeltaPct(double base, double now) {
  if (base > 0) return (now - base) / base * 100;
  return now > 0 ? kInf : 0;
}

std::vector<double> Normalized(const std::vector<double>* raw,
                               const std::vector<double>& scale, double unit) {
  std::vector<double> out(scale.size(), 0);
  if (raw == nullptr) return out;
  for (size_t r = 0; r < scale.size(); ++r)
    out[r] = (*raw)[r] / scale[r] * unit;
  return out;
}

// Describes and tests every row at one scaling (p-values Holm-adjusted,
// verdicts against the threshold); returns the number of tests.
size_t Evaluate(const Side& sb, const Side& sn, const Scaling& scaling,
                double unit, const CompareOptions& options, bool test_self,
                bool test_total, bool paired, std::vector<Row>* rows_out) {
  std::vector<Row>& rows = *rows_out;
  for (Row& row : rows) {
    // Afresh: the rows may carry another scaling's results.
    row.self = Measure{};
    row.total = Measure{};
    auto ib = sb.functions.find(row.key);
    auto in = sn.functions.find(row.key);
    const Series* b = ib == sb.functions.end() ? nullptr : &ib->second;
    const Series* n = in == sn.functions.end() ? nullptr : &in->second;
    DescribeMeasure(b ? &b->self : nullptr, sb, n ? &n->self : nullptr, sn,
                    scaling, unit, options, paired, &row.self);
    DescribeMeasure(b ? &b->total : nullptr, sb, n ? &n->total : nullptr, sn,
                    scaling, unit, options, paired, &row.total);
    row.in_base = row.total.mean_base > 0;
    row.in_now = row.total.mean_now > 0;
  }

  // The variance trend per metric, pooled over the functions above the
  // floor, as the prior of each function's own between-replicate variance.
  auto fit = [&]() {
    std::vector<stats::TrendPoint> points;
    for (const Row& row : rows) {
      for (const Measure* m : {&row.self, &row.total}) {
        if (!m->above_floor || !(m->df > 0) || !row.in_base || !row.in_now) {
          continue;
        }
        const double pooled =
            (m->mean_base * sb.n + m->mean_now * sn.n) / (sb.n + sn.n);
        points.push_back({pooled, m->ss / m->df, m->df});
      }
    }
    return stats::FitVarianceTrend(points);
  };
  // One trend for both metrics: a function's self and total time are time
  // series of the same runs, with the same variance-to-mean relation, and
  // pooling them keeps the trend valid with few functions.
  const stats::VarianceTrend trend = fit();
  // What one sample weighs in normalized units, per side: the Poisson floor
  // of a replicate's variance is that times the function's mean.
  const double sample_b =
      sb.weight_per_sample * unit / stats::GeometricMean(scaling.base);
  const double sample_n =
      sn.weight_per_sample * unit / stats::GeometricMean(scaling.now);

  // Poisson's variance of a count (sample * mean in normalized units), up
  // to count_floor_samples samples.
  auto count_floor = [&](double sample, double mean) {
    return std::min(sample * mean,
                    options.count_floor_samples * sample * sample);
  };
  std::vector<double> raw_p;
  std::vector<Measure*> tested;
  auto test = [&](Measure* m, const stats::VarianceTrend& prior) {
    if (!m->above_floor) return;
    double s2 = m->df > 0 ? m->ss / m->df : 0;
    double df = m->df;
    const double pooled =
        (m->mean_base * sb.n + m->mean_now * sn.n) / (sb.n + sn.n);
    if (prior.valid) {
      s2 = (options.prior_df * prior.Predict(pooled) + m->df * s2) /
           (options.prior_df + m->df);
      df = m->df + options.prior_df;
    }
    if (!(df > 0)) return;  // no variance to judge by: untested
    // At least the sampling noise of a small count: with speed taken out
    // of the large functions, the pooled trend no longer carries it, and a
    // small start-up function seen in one run of five (argparse's import:
    // 2 ms -> 12 ms, p = 0.03) passed for a regression. Not Poisson's for
    // large counts: that cost render_page's +30% in 5 interleaved pairs
    // (165 samples a run, whose pairs differed by 0.4x Poisson's variance).
    s2 = std::max(s2, std::max(count_floor(sample_b, m->mean_base),
                               count_floor(sample_n, m->mean_now)));
    m->s2 = s2;
    m->sampling_s2 = std::max(sample_b * m->mean_base, sample_n * m->mean_now);
    // The per-side speed scale's uncertainty moves NEW's mean as a whole.
    m->se = std::sqrt(s2 * (1.0 / sb.n + 1.0 / sn.n) +
                      scaling.log_scale_variance * m->mean_base * m->mean_base);
    m->test_df = df;
    const double diff = m->mean_now - m->mean_base;
    m->p = m->se > 0 ? stats::StudentTwoSidedP(diff / m->se, df)
                     : (diff == 0 ? 1 : 0);
    m->tested = true;
    m->test_index = raw_p.size();
    raw_p.push_back(m->p);
    tested.push_back(m);
  };
  for (Row& row : rows) {
    if (!row.in_base || !row.in_now) continue;  // new or gone: listed
    if (test_self) test(&row.self, trend);
    if (test_total) test(&row.total, trend);
  }
  const std::vector<double> adjusted = stats::HolmAdjust(raw_p);
  const double tests = static_cast<double>(std::max<size_t>(1, raw_p.size()));
  for (Measure* m : tested) {
    m->p = adjusted[m->test_index];
    if (m->mean_base > 0) {
      const double t_upper =
          stats::StudentTwoSidedQuantile(2 * options.alpha, m->test_df);
      m->upper_pct =
          100 * (m->mean_now - m->mean_base + t_upper * m->se) / m->mean_base;
      m->detectable_pct =
          100 *
          stats::DetectableDifference(m->se, m->test_df, options.alpha / tests,
                                      options.power) /
          m->mean_base;
    }
    if (m->p < options.alpha && m->delta_pct > options.threshold_pct) {
      m->verdict = Verdict::kRegression;
    } else if (m->p < options.alpha && m->delta_pct < -options.threshold_pct) {
      m->verdict = Verdict::kImprovement;
    }
  }

  return raw_p.size();
}

// The intersection of a paired and an unpaired evaluation of one measure:
// a change both show, at the larger p.
void KeepWhatBothShow(const Measure& unpaired, Measure* paired) {
  if (!paired->tested) return;
  if (unpaired.verdict != paired->verdict)
    paired->verdict = Verdict::kUnchanged;
  paired->p = std::max(paired->p, unpaired.tested ? unpaired.p : 1.0);
  // What it could have detected, and bounds it, are the wider of the two.
  paired->upper_pct = std::max(paired->upper_pct, unpaired.upper_pct);
  paired->detectable_pct =
      std::max(paired->detectable_pct, unpaired.detectable_pct);
}

}  // namespace pystrobe::diff
