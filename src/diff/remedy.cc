#include "remedy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pystrobe::diff {

Remedy PrescribeRemedy(const RemedyInput& in) {
  Remedy r;
  const int n = std::max(1, in.replicates);
  const double v = in.variance;
  if (!std::isfinite(in.detectable_pct) || n < 2 || !(v > 0)) {
    // No spread to judge by: replicates first, whatever their noise.
    r.runs = std::max(5, 2 * n);
  } else {
    // The variance must shrink by f for the detectable change to reach the
    // threshold (it scales with the standard error); 10% to spare.
    const double ratio = in.detectable_pct / in.threshold_pct;
    const double f = 1.1 * ratio * ratio;
    // Clamped as a double: a huge (or undefined) f is no int (found by
    // tests/fuzz/compare_fuzzer.cc).
    const double want = std::isfinite(n * f) ? std::ceil(n * f) : 100.0;
    r.runs = static_cast<int>(std::clamp(want, n + 1.0, 100.0));
    const double sampling = std::clamp(in.sampling_variance, 0.0, v);
    r.sampling_share = sampling / v;
    const double run_to_run = v - sampling;
    // A rate k times higher divides the sampling part by k.
    if (in.rate_hz > 0 && v / f > run_to_run && sampling > 0) {
      const double k = sampling / (v / f - run_to_run);
      const double rate = std::ceil(in.rate_hz * k / 100) * 100;
      if (rate <= kMaxRemedyRateHz) r.rate_hz = std::max(rate, in.rate_hz);
    }
  }
  const int extra = r.runs - n;
  r.extra_s = in.replicate_s > 0 ? extra * in.replicate_s : 0;
  const std::string noise =
      r.sampling_share < 0
          ? std::string()
          : absl::StrFormat("; sampling noise is %.0f%% of the variance",
                            100 * r.sampling_share);
  if (r.rate_hz > 0) {
    r.text = absl::StrFormat(
        "sample faster: --rate %.0f, +0 s of CI time (or --repeat %d, %s)%s",
        r.rate_hz, r.runs,
        in.replicate_s > 0 ? absl::StrFormat("+%.1f s per side", r.extra_s)
                           : std::string("more run time"),
        noise);
  } else if (in.runs) {
    r.text = absl::StrCat("record more runs: --repeat ", r.runs,
                          in.replicate_s > 0
                              ? absl::StrFormat(", +%.1f s per side", r.extra_s)
                              : std::string(),
                          noise);
  } else {
    r.text = absl::StrCat(
        "record longer: ", r.runs, " time batches",
        in.replicate_s > 0
            ? absl::StrFormat(" (about %.0f s)", r.runs * in.replicate_s)
            : std::string(),
        noise);
  }
  return r;
}

}  // namespace pystrobe::diff
