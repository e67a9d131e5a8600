// A differential flame graph: the layout of the NEW profile (widths from
// NEW), each frame coloured by how its inclusive time changed against BASE —
// red where it grew, blue where it shrank, the deeper the larger the relative
// change, grey when unchanged — and a tooltip with both values. Built on
// RenderFlameGraph's style hooks, so it keeps zoom, search and tooltips.
//
//   ASSIGN_OR_RETURN(std::string svg,
//                    RenderDiffFlameGraph({&base}, now,
//                    DiffFlameGraphOptions{}));
//   RETURN_IF_ERROR(WriteFileAtomically("diff.svg", svg));
#ifndef PYSTROBE_DIFF_DIFF_FLAMEGRAPH_H_
#define PYSTROBE_DIFF_DIFF_FLAMEGRAPH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

struct DiffFlameGraphOptions {
  // Sample type to weigh by; empty: NEW's default (else its last) type,
  // which BASE must also have.
  std::string sample_type;
  // kShare: compare each frame's share of its profile (profiles of different
  // lengths); kNone: absolute values (several bases are averaged).
  Normalize normalize = Normalize::kShare;
  // Changes smaller than this (relative, percent) stay grey.
  double neutral_pct = 5;
  bool lines = false;  // frames per line instead of per function
  std::string title = "pystrobe-diff";
};

// The SVG. Errors (InvalidArgument): a sample type missing on either side.
absl::StatusOr<std::string> RenderDiffFlameGraph(
    const std::vector<const Profile*>& base, const Profile& now,
    const DiffFlameGraphOptions& options);

// The colour of a frame whose value went from `base` to `now` (same units):
// "rgb(r,g,b)". Exposed for tests.
std::string DiffColor(double base, double now, double neutral_pct);

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_DIFF_FLAMEGRAPH_H_
