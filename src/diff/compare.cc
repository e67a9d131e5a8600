// Compare: the verdicts. Replicates (replicates.h), normalization
// (normalization.h), the per-function tests (evaluate.h, statistics.h) and
// attribution (attribution.h) come together here; docs/statistics.md explains
// the method.

#include "pystrobe/diff/compare.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "attribution.h"
#include "evaluate.h"
#include "normalization.h"
#include "remedy.h"
#include "replicates.h"
#include "statistics.h"

namespace pystrobe {
namespace {

using diff::DeltaPct;
using diff::kInf;
using diff::Mean;
using diff::Measure;
using diff::Normalized;
using diff::Row;
using diff::Scaling;
using diff::Side;
// A function holding at least this share of the run whose time grew by
// more than the threshold, unconfirmed, keeps a comparison from being OK.
constexpr double kApparentShare = 0.1;

std::string Describe(const ValueType& t) {
  return absl::StrCat(t.type, "/", t.unit);
}

// Seconds for nanoseconds, the raw unit otherwise.
double SecondsPerUnit(const ValueType& t) {
  return t.unit == "nanoseconds" ? 1e-9 : 1.0;
}

// Seconds per replicate: a launched run's wall time, a batch's length (0:
// unknown).
double ReplicateSeconds(const Side& s) {
  double sum = 0;
  int n = 0;
  for (const RunInfo& r : s.runs) {
    if (r.wall_s > 0) {
      sum += r.wall_s;
      ++n;
    }
  }
  if (n > 0) return sum / n;
  if (s.kind == diff::ReplicateKind::kBatches && s.duration_s > 0) {
    return s.duration_s / s.n;
  }
  return 0;
}

// Samples per second while a replicate ran (0: unknown).
double SampleRate(const Side& s) {
  const double seconds = ReplicateSeconds(s);
  return seconds > 0 ? Mean(s.samples) / seconds : 0;
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

const char* MetricName(Metric m) {
  switch (m) {
    case Metric::kSelf:
      return "self";
    case Metric::kTotal:
      return "total";
    case Metric::kBoth:
      return "both";
  }
  return "?";
}

absl::StatusOr<Comparison> Compare(const std::vector<FunctionTable>& base,
                                   const FunctionTable& now,
                                   const CompareOptions& options) {
  if (base.empty()) {
    return absl::InvalidArgumentError("no baseline profile to compare with");
  }
  if (now.grand_total <= 0) {
    return absl::InvalidArgumentError("cannot compare an empty profile");
  }
  std::vector<const FunctionTable*> base_tables;
  for (const FunctionTable& b : base) {
    if (b.grand_total <= 0) {
      return absl::InvalidArgumentError("cannot compare an empty profile");
    }
    if (!(b.value_type == now.value_type)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "incompatible sample types: baseline weighs ", Describe(b.value_type),
          ", the new profile ", Describe(now.value_type)));
    }
    base_tables.push_back(&b);
  }

  // A single launched run stands for its time batches only when the other
  // side has no runs to lend their spread (docs/statistics.md).
  Side sb = diff::BuildSide(base_tables);
  Side sn = diff::BuildSide({&now});
  if (sb.kind == diff::ReplicateKind::kBatches && base.size() == 1 &&
      base[0].single_run && sn.launched && sn.n > 1) {
    sb = diff::BuildSide(base_tables, /*split_single_run=*/false);
  }
  if (sn.kind == diff::ReplicateKind::kBatches && now.single_run &&
      sb.launched && sb.n > 1) {
    sn = diff::BuildSide({&now}, /*split_single_run=*/false);
  }
  Normalize mode = options.normalize;
  if (mode == Normalize::kAuto) {
    mode = sb.launched && sn.launched ? Normalize::kTime : Normalize::kShare;
  }
  const bool time_mode = mode != Normalize::kShare;
  const Scaling scaling = diff::ComputeScaling(sb, sn, mode);
  const double unit = time_mode ? SecondsPerUnit(now.value_type) : 1.0;
  const bool test_self = options.metric != Metric::kTotal;
  const bool test_total = options.metric != Metric::kSelf;

  // Every function on either side, in a deterministic order.
  std::vector<Row> rows;
  {
    absl::flat_hash_map<FunctionKey, size_t> index;
    for (const Side* side : {&sb, &sn}) {
      for (const auto& [key, series] : side->functions) {
        if (index.try_emplace(key, rows.size()).second) {
          rows.push_back(Row{key, {}, {}, false, false});
        }
      }
    }
  }
  // Interleaved arms of one recording: run I of each side is pair I.
  const bool paired = base.size() == 1 && !now.interleaved_id.empty() &&
                      base[0].interleaved_id == now.interleaved_id &&
                      sb.kind == diff::ReplicateKind::kRuns &&
                      sn.kind == diff::ReplicateKind::kRuns && sb.n == sn.n;
  const size_t tests = diff::Evaluate(sb, sn, scaling, unit, options, test_self,
                                      test_total, paired, &rows);
  if (paired) {
    // Pairing takes out what drifted between pairs, but it assumes the
    // arms differ by the same amount in every pair. An effect of the arm
    // that lasts the whole session is invisible to it: in one of 20 A/A
    // recordings beside a busy neighbour, the new arm's start-up imports
    // ran 10 ms slower in all five pairs (+51%, p = 0.012 paired), while
    // other sessions moved them by -35%..+27% either way. So a change must
    // also stand when the same runs are compared as two independent
    // samples (an intersection-union test: its p is the larger of the two).
    std::vector<Row> unpaired = rows;
    diff::Evaluate(sb, sn, scaling, unit, options, test_self, test_total,
                   /*paired=*/false, &unpaired);
    for (size_t i = 0; i < rows.size(); ++i) {
      diff::KeepWhatBothShow(unpaired[i].self, &rows[i].self);
      diff::KeepWhatBothShow(unpaired[i].total, &rows[i].total);
    }
  }
  if (scaling.unapplied_log_scale != 0) {
    // NEW's functions pointed to a speed shift too uncertain to correct
    // by (a real change in one of few functions can look the same). A
    // change then counts only if it also exceeds the threshold net of
    // that shift: a uniformly slower machine fails nothing, and a
    // function that grew well beyond the others still does. (Requiring
    // significance in both evaluations too, a full intersection-union
    // test, lost a dominant function's +30%: the shift's own uncertainty,
    // which that function inflates, widens every test.)
    const double shift = std::exp(scaling.unapplied_log_scale);
    for (Row& row : rows) {
      for (Measure* m : {&row.self, &row.total}) {
        if (m->verdict != Verdict::kRegression &&
            m->verdict != Verdict::kImprovement) {
          continue;
        }
        const double net = DeltaPct(m->mean_base * shift, m->mean_now);
        const bool holds = m->verdict == Verdict::kRegression
                               ? net > options.threshold_pct
                               : net < -options.threshold_pct;
        if (!holds) m->verdict = Verdict::kUnchanged;
      }
    }
  }

  // Growth of self time and of each call, for attribution.
  diff::Growth growth;
  for (const Row& row : rows) {
    growth.self[row.key] = row.self.mean_now - row.self.mean_base;
  }
  {
    absl::flat_hash_map<EdgeKey, bool> seen;
    for (const Side* side : {&sb, &sn}) {
      for (const auto& [edge, values] : side->edges) {
        if (!seen.try_emplace(edge, true).second) continue;
        auto ib = sb.edges.find(edge);
        auto in = sn.edges.find(edge);
        const double b = Mean(Normalized(
            ib == sb.edges.end() ? nullptr : &ib->second, scaling.base, unit));
        const double n = Mean(Normalized(
            in == sn.edges.end() ? nullptr : &in->second, scaling.now, unit));
        growth.calls[edge.caller].emplace_back(edge.callee, n - b);
      }
    }
  }

  Comparison c;
  c.value_type = now.value_type;
  c.base_entries = static_cast<int>(base.size());
  c.runs_base = sb.n;
  c.runs_new = sn.n;
  c.fixed_work = time_mode;
  c.metric = options.metric;
  c.paired = paired;
  c.samples_base = Mean(sb.samples);
  c.samples_new = Mean(sn.samples);
  c.replicates = paired ? absl::StrCat(sb.n, " interleaved pairs of runs")
                        : absl::StrCat("base: ", sb.description,
                                       "; new: ", sn.description);
  double floor_share = 0, covered = 0;
  absl::flat_hash_map<FunctionKey, std::vector<FunctionKey>> paths;
  struct Coverage {
    double detectable_pct, share;
    const Measure* measure;
    bool operator<(const Coverage& o) const {
      return detectable_pct < o.detectable_pct;
    }
  };
  std::vector<Coverage> detectable_by_share;
  // What a function would need: its confidence margin against the room the
  // threshold leaves above its change (the variance must shrink by this
  // ratio squared).
  auto needed_detect = [&](const Measure& m) {
    const double margin = m.upper_pct - m.delta_pct;
    const double room =
        std::max(options.threshold_pct - std::max(m.delta_pct, 0.0),
                 options.threshold_pct / 2);
    return std::isfinite(margin) ? options.threshold_pct * margin / room : kInf;
  };
  for (Row& row : rows) {
    FunctionDiff d;
    d.key = row.key;
    d.base_self = row.self.mean_base;
    d.new_self = row.self.mean_now;
    d.base_total = row.total.mean_base;
    d.new_total = row.total.mean_now;
    d.self_delta_pct = row.self.delta_pct;
    d.total_delta_pct = row.total.delta_pct;
    // The deciding metric: a regression before an improvement, self before
    // total; otherwise the one tested (total when both are).
    Metric by = test_total ? Metric::kTotal : Metric::kSelf;
    for (Verdict v : {Verdict::kRegression, Verdict::kImprovement}) {
      if (test_self && row.self.verdict == v) {
        by = Metric::kSelf;
        break;
      }
      if (test_total && row.total.verdict == v) {
        by = Metric::kTotal;
        break;
      }
    }
    d.decided_by = by;
    const Measure* decided = by == Metric::kSelf ? &row.self : &row.total;
    d.above_floor = (test_self && row.self.above_floor) ||
                    (test_total && row.total.above_floor);
    d.delta_pct = decided->delta_pct;
    d.p_value = decided->p;
    d.detectable_pct = decided->detectable_pct;
    d.impact = std::fabs(decided->mean_now - decided->mean_base);
    if (!row.in_base && row.in_now) {
      d.verdict = Verdict::kNew;
      d.delta_pct = kInf;
      if (d.above_floor) ++c.new_functions;
    } else if (row.in_base && !row.in_now) {
      d.verdict = Verdict::kGone;
      d.delta_pct = -100;
      if (d.above_floor) ++c.gone_functions;
    } else {
      d.verdict = decided->verdict;
      if (d.verdict == Verdict::kRegression) {
        diff::Explanation e =
            diff::ExplainGrowth(row.key, d.decided_by, growth);
        d.cause = std::move(e.text);
        paths.emplace(row.key, std::move(e.path));
      } else if (d.verdict == Verdict::kImprovement) {
        ++c.improvements;
      }
    }
    // Coverage: could a threshold-sized change have been seen where the
    // (self) time is?
    const Measure& cover =
        options.metric == Metric::kTotal ? row.total : row.self;
    if (row.self.above_floor && row.in_base) {
      const double share = row.self.share;
      floor_share += share;
      // Covered: the data show it did not grow by the threshold (upper
      // confidence limit below it). A power bound (detectable change
      // within the threshold) asks ~4.5 standard errors instead of ~2 and
      // left A/A comparisons of a 0.5 s benchmark INCONCLUSIVE at 2,000
      // samples a run (docs/statistics.md).
      // A function found to have changed (a regression or improvement) is
      // decided too: the question is answered where its time is.
      const bool changed = row.self.verdict == Verdict::kRegression ||
                           row.self.verdict == Verdict::kImprovement ||
                           row.total.verdict == Verdict::kRegression ||
                           row.total.verdict == Verdict::kImprovement;
      if (changed || cover.upper_pct <= options.threshold_pct) {
        covered += share;
      }
      detectable_by_share.push_back({needed_detect(cover), share, &cover});
    }
    c.rows.push_back(std::move(d));
  }
  c.regressions = diff::GroupRegressions(growth, paths, &c.rows);
  std::sort(c.rows.begin(), c.rows.end(),
            [](const FunctionDiff& a, const FunctionDiff& b) {
              if (a.impact != b.impact) return a.impact > b.impact;
              if (a.key.name != b.key.name) return a.key.name < b.key.name;
              if (a.key.file != b.key.file) return a.key.file < b.key.file;
              return a.key.line < b.key.line;
            });

  // The whole run (or recording), raw: what a stopwatch would say.
  const double seconds = SecondsPerUnit(now.value_type);
  c.whole.base = Mean(sb.total) * seconds;
  c.whole.now = Mean(sn.total) * seconds;
  c.whole.delta_pct = DeltaPct(c.whole.base, c.whole.now);
  if (time_mode && scaling.median_of_ratios) {
    c.whole.speed_scale =
        stats::GeometricMean(scaling.now) / stats::GeometricMean(scaling.base);
  }
  auto mean_cpu = [](const Side& s) {
    double sum = 0;
    int n = 0;
    for (const RunInfo& r : s.runs) {
      if (r.cpu_s >= 0) {
        sum += r.cpu_s;
        ++n;
      }
    }
    return n > 0 ? sum / n : -1.0;
  };
  c.whole.base_cpu_s = mean_cpu(sb);
  c.whole.new_cpu_s = mean_cpu(sn);
  // The share of their runnable time the side's threads waited for a CPU,
  // and the mean wait (-1: not recorded).
  auto wait_of = [](const Side& s, double* mean_wait_s) {
    double ran = 0, wait = 0, waits = 0;
    *mean_wait_s = -1;
    if (s.all_runs.empty()) return -1.0;
    for (const RunInfo& r : s.all_runs) {
      if (r.ran_s < 0 || r.wait_s < 0) return -1.0;
      ran += r.ran_s;
      wait += r.wait_s;
      waits = r.waits < 0 || waits < 0 ? -1 : waits + r.waits;
    }
    if (waits > 0) *mean_wait_s = wait / waits;
    return ran + wait > 0 ? wait / (ran + wait) : -1.0;
  };
  c.whole.base_wait_share = wait_of(sb, &c.whole.base_mean_wait_s);
  c.whole.new_wait_share = wait_of(sn, &c.whole.new_mean_wait_s);

  c.covered_share = floor_share > 0 ? covered / floor_share : 0;
  c.conclusive = c.covered_share >= options.conclusive_share;
  // No OK beside an apparent growth the test could not confirm: a function
  // holding a tenth of the run whose time grew by more than the threshold
  // (render_page +33% total, p = 0.28, in cpu mode beside a busy
  // neighbour) while the helper it works through bounded the self time.
  const Row* apparent = nullptr;
  const Measure* apparent_metric = nullptr;
  double apparent_pct = 0;
  if (c.conclusive && c.regressions == 0) {
    double whole = 0;
    for (const Row& row : rows) whole = std::max(whole, row.total.mean_base);
    for (const Row& row : rows) {
      for (const Measure* m : {&row.self, &row.total}) {
        if (!m->tested || m->verdict != Verdict::kUnchanged ||
            m->mean_base < kApparentShare * whole ||
            m->delta_pct <= options.threshold_pct) {
          continue;
        }
        if (m->delta_pct > apparent_pct) {
          apparent = &row;
          apparent_metric = m;
          apparent_pct = m->delta_pct;
        }
      }
    }
    if (apparent != nullptr) c.conclusive = false;
  }
  if (!c.conclusive) {
    // The share-weighted median of what the functions would need, and the
    // runs or rate that would bring it to the threshold (the margin
    // shrinks with the square root of the replicates and samples).
    std::sort(detectable_by_share.begin(), detectable_by_share.end());
    double acc = 0, median = kInf;
    const Measure* typical = nullptr;
    for (const Coverage& cov : detectable_by_share) {
      acc += cov.share;
      if (acc >= floor_share / 2) {
        median = cov.detectable_pct;
        typical = cov.measure;
        break;
      }
    }
    // An apparent growth is the function to settle.
    if (apparent_metric != nullptr) {
      median = needed_detect(*apparent_metric);
      typical = apparent_metric;
    }
    // Which part of the typical function's variance dominates decides the
    // cheapest remedy: a higher rate (no CI time) or more runs.
    diff::RemedyInput need;
    need.detectable_pct = median;
    need.threshold_pct = options.threshold_pct;
    need.replicates = std::min(sb.n, sn.n);
    need.runs = sb.kind != diff::ReplicateKind::kBatches &&
                sn.kind != diff::ReplicateKind::kBatches;
    if (typical != nullptr) {
      need.variance = typical->s2;
      need.sampling_variance = typical->sampling_s2;
    }
    need.replicate_s = std::max(ReplicateSeconds(sb), ReplicateSeconds(sn));
    need.rate_hz = std::min(SampleRate(sb), SampleRate(sn));
    const diff::Remedy remedy = diff::PrescribeRemedy(need);
    c.suggested_runs = remedy.runs;
    c.suggested_rate_hz = remedy.rate_hz;
    c.sampling_share = remedy.sampling_share;
    c.remedy = remedy.text;
    if (tests == 0) {
      c.inconclusive_reason =
          sb.n < 2 && sn.n < 2
              ? "each side is a single recording, so there is no "
                "run-to-run spread to judge a change by"
              : "no function is above the noise floor on both sides";
    } else if (apparent != nullptr) {
      const Measure& m = *apparent_metric;
      c.inconclusive_reason = absl::StrFormat(
          "%s grew %+.0f%% (%s), more than the %g%% threshold, and the data "
          "cannot tell that from noise (p = %.2g)",
          apparent->key.name, m.delta_pct,
          &m == &apparent->total ? "total" : "self", options.threshold_pct,
          m.p);
    } else if (std::isinf(median) || typical == nullptr) {
      c.inconclusive_reason = absl::StrFormat(
          "a %g%% growth was ruled out only for functions holding %.0f%% "
          "of the time",
          options.threshold_pct, 100 * c.covered_share);
    } else {
      c.inconclusive_reason = absl::StrFormat(
          "a %g%% growth was ruled out only for functions holding %.0f%% "
          "of the time (typical upper bound: %+.0f%%)",
          options.threshold_pct, 100 * c.covered_share, typical->upper_pct);
    }
  }
  c.failed = c.regressions > 0 || (options.fail_on_new && c.new_functions > 0);
  // Data from an overloaded machine is not judged either way.
  struct SideWait {
    const char* name;
    double share, mean_wait_s;
  };
  for (const auto& [name, share, mean_wait_s] :
       {SideWait{"BASE", c.whole.base_wait_share, c.whole.base_mean_wait_s},
        SideWait{"NEW", c.whole.new_wait_share, c.whole.new_mean_wait_s}}) {
    if (share <= options.max_wait_share) continue;
    // Short waits: wake-ups of threads that sleep often, CPUs to spare.
    if (mean_wait_s >= 0 && mean_wait_s < options.min_mean_wait_s) continue;
    c.conclusive = false;
    c.overloaded = true;
    c.failed = false;
    c.suggested_runs = 0;
    c.suggested_rate_hz = 0;
    c.remedy = "record it again on a quieter machine";
    c.inconclusive_reason = absl::StrFormat(
        "%s was recorded on an overloaded machine: its threads waited for a "
        "CPU %.0f%% of the time they could run (over %.0f%% is not judged; "
        "record it again on a quieter machine)",
        name, 100 * share, 100 * options.max_wait_share);
    break;
  }
  c.method = absl::StrFormat(
      "moderated t-test of %s time per function (%s), replicates: %s; "
      "Holm-corrected over %d tests at alpha %g",
      options.metric == Metric::kBoth ? "self and total"
                                      : MetricName(options.metric),
      scaling.method, c.replicates, static_cast<int>(tests), options.alpha);
  return c;
}

}  // namespace pystrobe
