// Normalization: making the replicates of both sides comparable.
//
// Each replicate r gets a scale s_r; a function's time in r is compared as
// x_r / s_r. The scale is a median of ratios (as differential-expression
// statistics normalize sequencing depth): over "reference" functions —
// self time present in every replicate, with enough samples — s_r =
// median_f x_r(f) / ref(f), ref(f) the geometric mean of x(f) over all
// replicates of both sides. Self times partition a run, so no time is
// counted twice; each function's vote weighs its share of the time, capped
// at kMaxReferenceWeight. One function's growth moves one vote, not the
// median, so it cannot make the others look faster (as dividing by the
// total does).
//  - time (fixed work): s_r is the machine-speed factor of run r, rescaled
//    so that the base runs' geometric mean is 1: values stay seconds per run
//    at the base's speed; with fewer than 3 reference functions, no scale.
//  - share (attached recordings of any length or rate): s_r also absorbs
//    the replicate's length; with fewer than 3 reference functions it falls
//    back to the replicate's total (plain shares).
//  - none: s_r = 1.
//
//   Scaling s = ComputeScaling(base, now, Normalize::kTime);
//   double y = x[r] / s.now[r];
#ifndef PYSTROBE_SRC_DIFF_NORMALIZATION_H_
#define PYSTROBE_SRC_DIFF_NORMALIZATION_H_

#include <string>
#include <vector>

#include "pystrobe/diff/compare.h"
#include "replicates.h"

namespace pystrobe::diff {

struct Scaling {
  std::vector<double> base, now;  // one scale per replicate
  int reference_functions = 0;    // used by the median of ratios
  bool median_of_ratios = false;  // else the fallback
  // One factor per run (runs differ in speed beyond the estimate's noise),
  // else one per side.
  bool per_run = false;
  // NEW's side was scaled against BASE's (their functions agreed on a
  // speed difference beyond its uncertainty).
  bool side_scaled = false;
  // Per-side factors: the variance of log(scale_new / scale_base), which a
  // test of a function's difference must carry.
  double log_scale_variance = 0;
  // When NEW's side was not scaled, the factor the functions pointed to
  // (log): a shift too uncertain to correct by, yet too large to ignore
  // (compare.cc requires a change to exceed the threshold net of it).
  double unapplied_log_scale = 0;
  std::string method;  // one phrase for reports
};

// A reference function holds at least this many samples per replicate on
// average on each side...
inline constexpr double kMinReferenceSamples = 5;
// ...and at most this share of a side's total.
inline constexpr double kMaxReferenceShare = 0.9;
// A reference function's vote in the median weighs its share of the time,
// at most this much.
inline constexpr double kMaxReferenceWeight = 0.15;

// `mode` is kTime, kShare or kNone (kAuto resolved by the caller).
Scaling ComputeScaling(const Side& base, const Side& now, Normalize mode);

}  // namespace pystrobe::diff

#endif  // PYSTROBE_SRC_DIFF_NORMALIZATION_H_
