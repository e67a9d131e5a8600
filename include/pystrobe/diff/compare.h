// Comparing two profiles per function: what got slower, by how much, and
// whether that is real or sampling noise.
//
// Each side is reduced to a FunctionTable: per function (name + file, or
// name + file + line with --by line) its self and total (inclusive) weight,
// overall and per time batch (the "batch" numeric label pystrobe record
// writes; foreign profiles have one batch). Compare() then decides per
// function, using the batch structure to estimate the real variance of a
// share (samples within a run are autocorrelated, so a binomial test on raw
// counts would overstate certainty) and, when a baseline merges several
// entries, the spread between them. docs/statistics.md has the method and
// its evidence.
//
//   ASSIGN_OR_RETURN(FunctionTable base, BuildFunctionTable(base_profile, {}));
//   ASSIGN_OR_RETURN(FunctionTable now, BuildFunctionTable(new_profile, {}));
//   Comparison c = Compare({base}, now, CompareOptions{});
//   if (c.regressions > 0) ...
#ifndef PYSTROBE_DIFF_COMPARE_H_
#define PYSTROBE_DIFF_COMPARE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

enum class Granularity { kFunction, kLine };
enum class Metric { kSelf, kTotal };
enum class Normalize { kShare, kNone };

struct FunctionKey {
  std::string name;  // Function.name (qualified where known)
  std::string file;
  int64_t line = 0;  // 0 unless Granularity::kLine
  bool operator==(const FunctionKey& o) const {
    return name == o.name && file == o.file && line == o.line;
  }
  template <typename H>
  friend H AbslHashValue(H h, const FunctionKey& k) {
    return H::combine(std::move(h), k.name, k.file, k.line);
  }
};

struct FunctionStats {
  int64_t self = 0;   // weight (sample value) of samples whose leaf is it
  int64_t total = 0;  // weight of samples it appears in (once per sample)
  // Per batch (index = batch number), same units.
  std::vector<int64_t> self_by_batch;
  std::vector<int64_t> total_by_batch;
};

struct TableOptions {
  Granularity by = Granularity::kFunction;
  // Sample type to weigh by ("wall", "cpu", "samples"); empty: the
  // profile's default_sample_type, else its last sample type.
  std::string sample_type;
  std::vector<std::string> ignore;  // regexes on "name file" to drop
};

struct FunctionTable {
  ValueType value_type;      // what the weights are (e.g. wall/nanoseconds)
  int64_t grand_total = 0;   // sum of the weights of all samples
  int64_t sample_count = 0;  // number of samples (samples/count if present)
  int64_t duration_ns = 0;
  std::vector<int64_t> total_by_batch;  // grand total per batch
  absl::flat_hash_map<FunctionKey, FunctionStats> functions;
  std::vector<std::string> comments;  // the profile's, for reports
};

// Errors (InvalidArgument, one line): an empty profile (no samples or all
// weights zero), no sample type of the requested name, a bad regex.
absl::StatusOr<FunctionTable> BuildFunctionTable(const Profile& profile,
                                                 const TableOptions& options);

struct CompareOptions {
  double threshold_pct = 10;  // minimum relative increase to matter
  double alpha = 0.05;        // family-wise significance level
  double min_share = 0.005;   // noise floor: share of the larger side
  Metric metric = Metric::kSelf;  // what decides the verdict
  Normalize normalize = Normalize::kShare;
  bool fail_on_new = false;
  // Noise floor in samples: the larger side must hold at least this many
  // samples of the function (its share times the side's sample count).
  double min_samples = 10;
  // Variance inflation for a side without batch labels (a foreign profile,
  // or fewer than 2 non-empty batches): its binomial variance is multiplied
  // by this, as consecutive samples are correlated (docs/statistics.md).
  double design_effect = 20;
};

enum class Verdict { kRegression, kImprovement, kUnchanged, kNew, kGone };

struct FunctionDiff {
  FunctionKey key;
  // Shares in [0, 1] (kShare) or seconds (kNone).
  double base_self = 0, new_self = 0;
  double base_total = 0, new_total = 0;
  double delta_pct = 0;    // of the deciding metric; +inf for new functions
  double p_value = 1;      // corrected for the number of comparisons
  Verdict verdict = Verdict::kUnchanged;
  double impact = 0;       // |new - base| of the deciding metric, to sort by
  // Above the noise floor (min_share and min_samples on the larger side).
  // Only such rows can be regressions/improvements or count as new/gone;
  // rows under it are kUnchanged, or kNew/kGone without being counted.
  bool above_floor = false;
};

struct Comparison {
  std::vector<FunctionDiff> rows;  // sorted by impact, largest first
  int regressions = 0;
  int improvements = 0;
  int new_functions = 0;  // above the noise floor
  int gone_functions = 0;
  bool failed = false;  // regressions (or new functions with fail_on_new)
  ValueType value_type;
  int base_entries = 1;  // how many baseline profiles were merged
  std::string method;    // one line naming the test used, for reports
};

// Incompatible sides (different value types, e.g. wall vs cpu) are an
// InvalidArgument error. `base` has one table per baseline entry (several:
// their spread also counts as variance).
absl::StatusOr<Comparison> Compare(const std::vector<FunctionTable>& base,
                                   const FunctionTable& now,
                                   const CompareOptions& options);

const char* VerdictName(Verdict v);  // "regression", "improvement", ...

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_COMPARE_H_
