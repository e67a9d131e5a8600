// The per-function tests of Compare (compare.cc): each function's
// normalized values of one metric on both sides, tested with a moderated
// t-test at one scaling (docs/statistics.md).
#ifndef PYSTROBE_SRC_DIFF_EVALUATE_H_
#define PYSTROBE_SRC_DIFF_EVALUATE_H_

#include <cstddef>
#include <limits>
#include <vector>

#include "normalization.h"
#include "pystrobe/diff/compare.h"
#include "replicates.h"

namespace pystrobe::diff {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

double Mean(const std::vector<double>& v);
// The change from base to now in percent (+inf from nothing to something).
double DeltaPct(double base, double now);
// `raw` (one value per replicate, null: none) divided by each replicate's
// scale, in `unit`s.
std::vector<double> Normalized(const std::vector<double>* raw,
                               const std::vector<double>& scale, double unit);

// One function's normalized values of one metric on both sides.
struct Measure {
  std::vector<double> base, now;
  double mean_base = 0, mean_now = 0;
  double ss = 0;  // within-side sum of squares, pooled
  double df = 0;
  double share = 0;    // of the larger side (raw)
  double samples = 0;  // on the larger side
  bool above_floor = false;
  // Test results.
  bool tested = false;
  double p = 1;
  double se = kInf;
  double test_df = 0;
  double detectable_pct = kInf;
  // The one-sided upper confidence limit of the change, in percent of the
  // base (+inf untested): below the threshold, the data show the function
  // did not grow by that much (an equivalence bound, as TOST's).
  double upper_pct = kInf;
  double s2 = 0;           // the per-replicate variance it was tested with
  double sampling_s2 = 0;  // of which sampling noise (Poisson, per side)
  size_t test_index = 0;
  Verdict verdict = Verdict::kUnchanged;
  double delta_pct = 0;
};

struct Row {
  FunctionKey key;
  Measure self, total;
  bool in_base = false, in_now = false;
};

// Describes and tests every row at one scaling (p-values Holm-adjusted,
// verdicts against the threshold); returns the number of tests.
size_t Evaluate(const Side& sb, const Side& sn, const Scaling& scaling,
                double unit, const CompareOptions& options, bool test_self,
                bool test_total, bool paired, std::vector<Row>* rows_out);

// The intersection of a paired and an unpaired evaluation of one measure:
// a change both show, at the larger p.
void KeepWhatBothShow(const Measure& unpaired, Measure* paired);

}  // namespace pystrobe::diff

#endif  // PYSTROBE_SRC_DIFF_EVALUATE_H_
