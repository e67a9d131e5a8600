// Attribution: where the time of a regressed function grew.
//
// A function's total time grows because its own (self) time grew, or
// because a callee's time grew when called from it. Following, from the
// regressed function, the caller -> callee edge whose time grew most, until
// the function whose own time grew more than any of its outgoing edges,
// names the cause even when all self time sits in a helper shared by many
// callers: "time grew in spin called from render_page". Edges are global
// (not conditioned on the path taken so far), so for a helper reached
// through other shared helpers the path is the most likely one, not a proof.
//
//   Growth g;  // filled from the normalized means of both sides
//   std::string cause = ExplainGrowth(key, Metric::kTotal, g);
#ifndef PYSTROBE_SRC_DIFF_ATTRIBUTION_H_
#define PYSTROBE_SRC_DIFF_ATTRIBUTION_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pystrobe/diff/compare.h"

namespace pystrobe::diff {

struct Growth {
  // new - base of each function's self time (normalized means).
  absl::flat_hash_map<FunctionKey, double> self;
  // Per caller: (callee, new - base of the edge's time).
  absl::flat_hash_map<FunctionKey, std::vector<std::pair<FunctionKey, double>>>
      calls;
};

struct Explanation {
  std::string text;  // "time grew in spin called from render_page"
  // From f down to the function whose own time grew (just f for self time).
  std::vector<FunctionKey> path;
};

// Where `f`'s time grew: "self time grew in f" when decided by self time or
// when f's own growth exceeds its calls', else "time grew in X called from
// Y" with the path when it is longer than one call.
Explanation ExplainGrowth(const FunctionKey& f, Metric decided_by,
                          const Growth& growth);

// One regression per place where time grew: the regressions among `rows`
// whose path (`paths`, from ExplainGrowth) ends in the same function X are
// one group. Its head is X's own self-time regression when there is one,
// else the row with the shortest path (the direct caller: "time grew in spin
// called from render_page"); the others are callers whose totals grew with
// it, marked affected and explained by the head. A self-time regression of
// a helper shared by several callers whose growth came through one of them
// is that call's growth: the caller heads the group. Returns the number of
// groups.
int GroupRegressions(
    const Growth& growth,
    const absl::flat_hash_map<FunctionKey, std::vector<FunctionKey>>& paths,
    std::vector<FunctionDiff>* rows);

}  // namespace pystrobe::diff

#endif  // PYSTROBE_SRC_DIFF_ATTRIBUTION_H_
