// What an INCONCLUSIVE comparison should do next, and what it costs.
//
// A function's between-replicate variance has two parts: sampling noise
// (each replicate sees a finite number of samples of it: about its mean
// times what one sample weighs, shrinking as the rate grows) and
// run-to-run differences (the program or the machine behaving differently
// from one run to the next, which only more replicates average out). Which
// one dominates decides the cheapest remedy: a higher sampling rate costs no
// CI time at all (pystrobe's samples are cheap), more runs cost their run
// time. docs/statistics.md, "Power, and INCONCLUSIVE".
//
//   Remedy r = PrescribeRemedy(need);
//   line += r.text;  // "sample faster: --rate 2400 (+0 s of CI time; ...)"
#ifndef PYSTROBE_SRC_DIFF_REMEDY_H_
#define PYSTROBE_SRC_DIFF_REMEDY_H_

#include <string>

namespace pystrobe::diff {

// The fastest rate a remedy prescribes: what a gate recording sustains on a
// small CI machine without taking a noticeable share of a core.
inline constexpr double kMaxRemedyRateHz = 4000;

// The typical function of an inconclusive comparison (the share-weighted
// median of the detectable changes) and the design that measured it.
struct RemedyInput {
  double detectable_pct = 0;     // its detectable change now (may be +inf)
  double threshold_pct = 10;     // what it should detect
  double variance = 0;           // its per-replicate variance (moderated)
  double sampling_variance = 0;  // of which sampling: mean x sample weight
  int replicates = 1;            // the smaller side's
  bool runs = true;              // replicates are runs (else time batches)
  double rate_hz = 0;            // samples per second now (0: unknown)
  double replicate_s = 0;        // seconds per replicate (0: unknown)
};

struct Remedy {
  int runs = 0;                // replicates a side would need
  double rate_hz = 0;          // a rate that would do instead (0: none)
  double sampling_share = -1;  // of the variance (-1: unknown)
  double extra_s = 0;          // CI time per side the extra runs cost
  std::string text;  // the cheapest remedy and its cost, for the verdict
};

Remedy PrescribeRemedy(const RemedyInput& in);

}  // namespace pystrobe::diff

#endif  // PYSTROBE_SRC_DIFF_REMEDY_H_
