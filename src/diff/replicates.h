// Replicates: the independent units of one side of a comparison, and each
// function's self and total time in each of them.
//
// What counts as a replicate (docs/statistics.md, "Replicates"):
//  - the runs of a `record --repeat N` profile (label "run"): fixed work,
//    one run each;
//  - the entries of a merged baseline (`NAME --last K`): each entry's runs,
//    or the entry itself when it has none (an attached recording);
//  - the time batches of ONE attached recording, only when they look
//    exchangeable: enough of them, and no serial structure in the shares of
//    the main functions (von Neumann test) — a steady server, not a test
//    suite's sequence of phases;
//  - otherwise the profile is a single replicate, and the comparison can
//    only borrow a variance from the other side.
//
//   Side base = BuildSide({&entry1, &entry2});
//   Side now = BuildSide({&table});
#ifndef PYSTROBE_SRC_DIFF_REPLICATES_H_
#define PYSTROBE_SRC_DIFF_REPLICATES_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pystrobe/diff/compare.h"

namespace pystrobe::diff {

enum class ReplicateKind { kRuns, kEntries, kBatches, kSingle };

// A function's (or an edge's) time in each replicate, in weight units.
struct Series {
  std::vector<double> self;
  std::vector<double> total;
};

struct Side {
  ReplicateKind kind = ReplicateKind::kSingle;
  int n = 1;                    // replicates
  bool launched = false;        // every table is launched runs (fixed work)
  std::vector<double> total;    // the grand total of each replicate
  std::vector<double> samples;  // the sample count of each replicate
  double weight_per_sample = 0;
  double grand_total = 0;
  double duration_s = 0;      // the recordings' length, summed
  std::vector<RunInfo> runs;  // launched runs' own accounting, where known
  // Every recorded run's accounting, attached recordings' too (their time
  // batches are the replicates): the wait share is the whole side's.
  std::vector<RunInfo> all_runs;
  absl::flat_hash_map<FunctionKey, Series> functions;
  absl::flat_hash_map<EdgeKey, std::vector<double>> edges;  // total only
  // Self time by leaf and caller (FunctionTable::leaf_calls): the parts
  // normalization takes its references from.
  absl::flat_hash_map<EdgeKey, std::vector<double>> leaf_calls;
  // Batches of a single recording: the exchangeability test's z (von
  // Neumann, weighted over the main functions) and its outcome.
  bool batches_tested = false;
  double batches_z = 0;
  std::string description;  // "5 runs", "12 time batches", ...
};

// Batches of a single recording are replicates when there are at least
// this many usable ones (a batch holding under a quarter of the median
// batch's weight, such as a short last one, is left out)...
inline constexpr int kMinBatchReplicates = 4;
// ...and their shares' von Neumann z is above this (one-sided 1%).
inline constexpr double kExchangeableZ = -2.33;

// `split_single_run`: a single launched run (FunctionTable::single_run) may
// stand for its time batches; false keeps it one replicate of fixed work
// (when the other side has runs, whose spread it borrows in seconds).
Side BuildSide(const std::vector<const FunctionTable*>& tables,
               bool split_single_run = true);

const char* KindName(ReplicateKind kind);

}  // namespace pystrobe::diff

#endif  // PYSTROBE_SRC_DIFF_REPLICATES_H_
