// Compare: per function, base vs new, and whether a change is real.
// docs/statistics.md explains the method.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/diff/compare.h"
#include "statistics.h"

namespace pystrobe {
namespace {

const std::vector<int64_t>& ByBatch(const FunctionStats& f, Metric m) {
  return m == Metric::kSelf ? f.self_by_batch : f.total_by_batch;
}

int64_t Value(const FunctionStats& f, Metric m) {
  return m == Metric::kSelf ? f.self : f.total;
}

// What one unit of weight is worth in the reported unit: seconds for
// nanoseconds, the raw unit otherwise.
double UnitScale(const ValueType& t) {
  return t.unit == "nanoseconds" ? 1e-9 : 1.0;
}

int NonEmptyBatches(const FunctionTable& t) {
  int n = 0;
  for (int64_t w : t.total_by_batch) n += w > 0 ? 1 : 0;
  return n;
}

// One side's estimate of a function's metric in the reported unit.
stats::Estimate EstimateOf(const FunctionTable& t, const FunctionStats* f,
                           Metric m, const CompareOptions& options) {
  static const std::vector<int64_t> kNone;
  const std::vector<int64_t>& w = f != nullptr ? ByBatch(*f, m) : kNone;
  stats::Estimate share = stats::ShareFromBatches(
      w, t.total_by_batch, static_cast<double>(t.sample_count),
      options.design_effect);
  if (options.normalize == Normalize::kShare) return share;
  // Seconds = share * the run's total: Var = W^2 Var(share), which is
  // B * var(batch sum) for equal batches, conditional on the run's length.
  return stats::Scaled(
      share, static_cast<double>(t.grand_total) * UnitScale(t.value_type));
}

double Share(const FunctionTable& t, const FunctionStats* f, Metric m) {
  if (f == nullptr || t.grand_total <= 0) return 0;
  return static_cast<double>(Value(*f, m)) / static_cast<double>(t.grand_total);
}

double Reported(const FunctionTable& t, const FunctionStats* f, Metric m,
                Normalize normalize) {
  if (f == nullptr) return 0;
  if (normalize == Normalize::kShare) return Share(t, f, m);
  return static_cast<double>(Value(*f, m)) * UnitScale(t.value_type);
}

std::string Describe(const ValueType& t) {
  return absl::StrCat(t.type, "/", t.unit);
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kRegression:
      return "regression";
    case Verdict::kImprovement:
      return "improvement";
    case Verdict::kUnchanged:
      return "unchanged";
    case Verdict::kNew:
      return "new";
    case Verdict::kGone:
      return "gone";
  }
  return "unknown";
}

absl::StatusOr<Comparison> Compare(const std::vector<FunctionTable>& base,
                                   const FunctionTable& now,
                                   const CompareOptions& options) {
  if (base.empty()) {
    return absl::InvalidArgumentError("no baseline profile to compare with");
  }
  for (const FunctionTable* t : {&base.front(), &now}) {
    if (t->grand_total <= 0) {
      return absl::InvalidArgumentError("cannot compare an empty profile");
    }
  }
  for (const FunctionTable& b : base) {
    if (b.grand_total <= 0) {
      return absl::InvalidArgumentError("cannot compare an empty profile");
    }
    if (!(b.value_type == now.value_type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "incompatible sample types: baseline weighs ", Describe(b.value_type),
          ", the new profile ", Describe(now.value_type)));
    }
  }

  const Metric m = options.metric;
  const double k = static_cast<double>(base.size());

  // Every key on either side (the final sort makes the order deterministic).
  std::vector<FunctionKey> keys;
  absl::flat_hash_set<FunctionKey> seen;
  for (const auto& [key, stats] : now.functions) {
    if (seen.insert(key).second) keys.push_back(key);
  }
  for (const FunctionTable& b : base) {
    for (const auto& [key, stats] : b.functions) {
      if (seen.insert(key).second) keys.push_back(key);
    }
  }

  // Run-to-run spread pooled over the functions every entry has above the
  // floor: one function's s^2 over K = 3 entries is too noisy alone.
  double pooled_cv2 = 0;
  double pooled_df = 0;
  if (base.size() >= 2) {
    std::vector<std::vector<stats::Estimate>> runs_by_function;
    for (const FunctionKey& key : keys) {
      std::vector<stats::Estimate> runs;
      for (const FunctionTable& b : base) {
        auto it = b.functions.find(key);
        if (it == b.functions.end() ||
            Share(b, &it->second, m) < options.min_share) {
          break;
        }
        runs.push_back(EstimateOf(b, &it->second, m, options));
      }
      if (runs.size() == base.size()) runs_by_function.push_back(runs);
    }
    pooled_cv2 = stats::PooledBetweenRunCv2(runs_by_function);
    pooled_df = (k - 1) * static_cast<double>(runs_by_function.size());
  }

  Comparison c;
  c.value_type = now.value_type;
  c.base_entries = static_cast<int>(base.size());
  std::vector<size_t> tested;  // rows that get a test
  std::vector<double> raw_p;

  for (const FunctionKey& key : keys) {
    auto it_new = now.functions.find(key);
    const FunctionStats* f_new =
        it_new == now.functions.end() ? nullptr : &it_new->second;
    std::vector<const FunctionStats*> f_base;
    bool in_base = false;
    for (const FunctionTable& b : base) {
      auto it = b.functions.find(key);
      f_base.push_back(it == b.functions.end() ? nullptr : &it->second);
      in_base = in_base || f_base.back() != nullptr;
    }

    FunctionDiff row;
    row.key = key;
    double base_share = 0;
    double base_samples = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      double share = Share(base[i], f_base[i], m);
      base_share += share / k;
      base_samples += share * static_cast<double>(base[i].sample_count) / k;
      row.base_self +=
          Reported(base[i], f_base[i], Metric::kSelf, options.normalize) / k;
      row.base_total +=
          Reported(base[i], f_base[i], Metric::kTotal, options.normalize) / k;
    }
    row.new_self = Reported(now, f_new, Metric::kSelf, options.normalize);
    row.new_total = Reported(now, f_new, Metric::kTotal, options.normalize);
    double new_share = Share(now, f_new, m);
    double new_samples = new_share * static_cast<double>(now.sample_count);
    bool larger_is_new = new_share >= base_share;
    row.above_floor =
        std::max(base_share, new_share) >= options.min_share &&
        (larger_is_new ? new_samples : base_samples) >= options.min_samples;

    double base_value = m == Metric::kSelf ? row.base_self : row.base_total;
    double new_value = m == Metric::kSelf ? row.new_self : row.new_total;
    row.impact = std::fabs(new_value - base_value);
    if (base_value > 0) {
      row.delta_pct = (new_value - base_value) / base_value * 100;
    } else {
      row.delta_pct =
          new_value > 0 ? std::numeric_limits<double>::infinity() : 0;
    }

    if (!in_base || (base_value == 0 && new_value > 0)) {
      // No base to be relative to: listed, not tested.
      row.verdict = Verdict::kNew;
      if (row.above_floor) ++c.new_functions;
    } else if (f_new == nullptr || (new_value == 0 && base_value > 0)) {
      row.verdict = Verdict::kGone;
      row.delta_pct = -100;
      if (row.above_floor) ++c.gone_functions;
    } else if (row.above_floor) {
      std::vector<stats::Estimate> runs;
      for (size_t i = 0; i < base.size(); ++i) {
        runs.push_back(EstimateOf(base[i], f_base[i], m, options));
      }
      double run_mean = 0;
      for (const stats::Estimate& r : runs) run_mean += r.mean / k;
      stats::MergedRuns merged =
          stats::MergeRuns(runs, pooled_cv2 * run_mean * run_mean, pooled_df);
      stats::Estimate e_new = stats::WithBetweenRunVariance(
          EstimateOf(now, f_new, m, options), merged);
      raw_p.push_back(stats::WelchTwoSidedP(merged.mean, e_new));
      tested.push_back(c.rows.size());
    }
    c.rows.push_back(std::move(row));
  }

  std::vector<double> adjusted = stats::HolmAdjust(raw_p);
  for (size_t i = 0; i < tested.size(); ++i) {
    FunctionDiff& row = c.rows[tested[i]];
    row.p_value = adjusted[i];
    if (row.p_value >= options.alpha) continue;
    if (row.delta_pct > options.threshold_pct) {
      row.verdict = Verdict::kRegression;
      ++c.regressions;
    } else if (row.delta_pct < -options.threshold_pct) {
      row.verdict = Verdict::kImprovement;
      ++c.improvements;
    }
  }
  c.failed = c.regressions > 0 || (options.fail_on_new && c.new_functions > 0);

  std::sort(c.rows.begin(), c.rows.end(),
            [](const FunctionDiff& a, const FunctionDiff& b) {
              if (a.impact != b.impact) return a.impact > b.impact;
              if (a.key.name != b.key.name) return a.key.name < b.key.name;
              if (a.key.file != b.key.file) return a.key.file < b.key.file;
              return a.key.line < b.key.line;
            });

  int min_batches = NonEmptyBatches(now);
  for (const FunctionTable& b : base) {
    min_batches = std::min(min_batches, NonEmptyBatches(b));
  }
  std::string variance =
      min_batches >= 2
          ? "batch-means variance (autocorrelation-aware)"
          : absl::StrFormat("binomial variance x design effect %g (no batches)",
                            options.design_effect);
  c.method = absl::StrFormat(
      "Welch t-test of %s %s per function, %s%s, Holm-corrected over %d "
      "functions at alpha %g",
      m == Metric::kSelf ? "self" : "total",
      options.normalize == Normalize::kShare ? "shares" : "time", variance,
      base.size() >= 2
          ? absl::StrFormat(", with the spread of %d baseline runs",
                            static_cast<int>(base.size()))
          : std::string(),
      static_cast<int>(tested.size()), options.alpha);
  return c;
}

}  // namespace pystrobe
