// Comparing two profiles per function: what got slower, by how much, where
// the time grew, and whether that is real, sampling noise or not knowable
// from the data at hand.
//
// Each profile is reduced to a FunctionTable: per function (name + file, or
// name + file + line with --by line) its self and total (inclusive) weight,
// per caller -> callee edge its weight, each overall and per *unit*: the
// runs of a `record --repeat` profile (numeric label "run"), else the time
// batches of an attached recording (label "batch"). Compare() then
//   1. chooses the replicates of each side (replicates.h): runs, baseline
//      entries (`NAME --last K`), or the batches of one steady attached
//      recording when they pass an exchangeability test;
//   2. normalizes (normalization.h): time per run for fixed work, with a
//      per-replicate speed scale (median of ratios over functions), or robust
//      shares for attached recordings of different lengths;
//   3. tests each function's self and total time (statistics.h): the spread
//      between replicates, moderated by a variance trend pooled over
//      functions, Student's t, Holm's correction, and the smallest change the
//      design could have detected;
//   4. names where the time grew (attribution.h): the function's own self
//      time, or a call edge caller -> callee.
// docs/statistics.md has the method and its evidence.
//
//   ASSIGN_OR_RETURN(FunctionTable base, BuildFunctionTable(base_profile, {}));
//   ASSIGN_OR_RETURN(FunctionTable now, BuildFunctionTable(new_profile, {}));
//   ASSIGN_OR_RETURN(Comparison c, Compare({base}, now, CompareOptions{}));
//   if (c.failed) ...; if (!c.conclusive) ...
#ifndef PYSTROBE_DIFF_COMPARE_H_
#define PYSTROBE_DIFF_COMPARE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "pystrobe/process/cpu_wait.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

enum class Granularity { kFunction, kLine };
// What decides a function's verdict: its self time, its total (inclusive)
// time, or both (a regression in either is a regression).
enum class Metric { kSelf, kTotal, kBoth };
enum class Normalize {
  kAuto,   // kTime when both sides are launched runs, else kShare
  kTime,   // time per run, scaled per replicate for machine speed
  kShare,  // robust shares (median-of-ratios scale per replicate)
  kNone,   // raw time per replicate, no scale at all
};

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

// A direct call: `caller` was on the stack right above `callee`.
struct EdgeKey {
  FunctionKey caller;
  FunctionKey callee;
  bool operator==(const EdgeKey& o) const {
    return caller == o.caller && callee == o.callee;
  }
  template <typename H>
  friend H AbslHashValue(H h, const EdgeKey& k) {
    return H::combine(std::move(h), k.caller, k.callee);
  }
};

struct FunctionStats {
  int64_t self = 0;   // weight (sample value) of samples whose leaf is it
  int64_t total = 0;  // weight of samples it appears in (once per sample)
  // Per unit (index = run or batch number), same units.
  std::vector<int64_t> self_by_unit;
  std::vector<int64_t> total_by_unit;
};

struct TableOptions {
  Granularity by = Granularity::kFunction;
  // Sample type to weigh by ("wall", "cpu", "samples"); empty: the
  // profile's default_sample_type, else its last sample type.
  std::string sample_type;
  std::vector<std::string> ignore;  // regexes on "name file" to drop
  // Keep samples labelled cpu_wait=true (a thread in the run queue, not on
  // a CPU): by default they are left out, as the machine's time.
  bool keep_cpu_wait = false;
};

// What the units of a table are.
enum class UnitKind {
  kRuns,     // runs of a launched command (label "run"): fixed work each
  kBatches,  // time windows of one recording (label "batch")
  kWhole,    // no structure (a foreign profile): one unit
};

// A launched run's own accounting, from the profile's comments.
struct RunInfo {
  double wall_s = -1;
  double cpu_s = -1;
  int exit_code = -1;
  // The sampled process's threads on a CPU and waiting for one (-1: not
  // recorded, by an older pystrobe).
  double ran_s = -1;
  double wait_s = -1;
  double waits = -1;  // times scheduled in (-1: not recorded)
};

struct FunctionTable {
  ValueType value_type;          // what the weights are (e.g. wall/nanoseconds)
  int64_t grand_total = 0;       // sum of the weights of all samples
  int64_t sample_count = 0;      // number of samples (samples/count if present)
  int64_t cpu_wait_samples = 0;  // sample records left out as cpu_wait
  int64_t duration_ns = 0;
  bool launched = false;  // recorded by `record -- CMD` (fixed work)
  // A launched recording of one run whose units are its time batches (item
  // 6 of docs/statistics.md's replicates: judged like an attached one).
  bool single_run = false;
  // Interleaved recordings (`record --base-command`): the id both arms'
  // profiles carry (pystrobe.interleaved=ID) and this one's arm ("base",
  // "new"); run I of the base arm pairs with run I of the new arm.
  std::string interleaved_id;
  std::string arm;
  UnitKind units = UnitKind::kWhole;
  std::vector<int64_t> total_by_unit;    // grand total per unit
  std::vector<int64_t> samples_by_unit;  // sample count per unit
  std::vector<RunInfo> runs;             // kRuns: per run, where known
  // Every run comment's accounting (pystrobe.run.I), attached recordings'
  // too, whose replicates are time batches: the wait share is over these.
  std::vector<RunInfo> accounting;
  absl::flat_hash_map<FunctionKey, FunctionStats> functions;
  // Caller -> callee; `self` is unused, `total` the weight of samples with
  // that call on their stack (once per sample).
  absl::flat_hash_map<EdgeKey, FunctionStats> edges;
  // Self time by the leaf and its direct caller (`caller` empty for a leaf
  // at the root): a partition of the samples finer than self time by
  // function, so that work done through one shared helper still splits into
  // many parts, the references that normalization measures a run's speed
  // by. `self`/`self_by_unit` are set; parts under 0.1% are left out.
  absl::flat_hash_map<EdgeKey, FunctionStats> leaf_calls;
  std::vector<std::string> comments;  // the profile's, for reports
};

// Errors (InvalidArgument, one line): an empty profile (no samples or all
// weights zero), no sample type of the requested name, a bad regex.
absl::StatusOr<FunctionTable> BuildFunctionTable(const Profile& profile,
                                                 const TableOptions& options);

struct CompareOptions {
  double threshold_pct = 10;      // minimum relative increase to matter
  double alpha = 0.05;            // family-wise significance level
  double min_share = 0.005;       // noise floor: share of the larger side
  Metric metric = Metric::kBoth;  // what decides the verdict
  Normalize normalize = Normalize::kAuto;
  bool fail_on_new = false;
  // Noise floor in samples: the larger side must hold at least this many
  // samples of the function.
  double min_samples = 10;
  // Power at which `detectable_pct` is computed.
  double power = 0.8;
  // Prior degrees of freedom of the pooled variance trend (moderation):
  // how much a function's own between-replicate variance is shrunk towards
  // what functions of its size show.
  double prior_df = 3;
  // A function's per-replicate variance is at least the sampling noise of
  // its count: Poisson, up to this many samples (variance in samples^2).
  // Beyond it the jittered grid's error is a quantization per stretch of
  // the function, well below Poisson for functions that run longer than a
  // tick (docs/statistics.md), and the replicates' own spread speaks.
  double count_floor_samples = 50;
  // The comparison is conclusive when the functions above the noise floor
  // whose detectable change is within the threshold hold at least this
  // share of the self time above the floor.
  double conclusive_share = 0.5;
  // A side whose sampled threads waited for a CPU more than this share of
  // their runnable time was recorded on an overloaded machine: its times
  // include the wait and its cpu-mode split leans towards where the threads
  // were preempted (docs/sampling.md). Such a comparison is inconclusive,
  // never a FAIL. record's summary uses the same rule (ClassifyCpuWait).
  double max_wait_share = kOverloadedWaitShare;
  // ... when its mean wait was at least this long (seconds; where the
  // recording counted its waits): short waits are wake-ups of threads that
  // sleep often, not a lack of CPUs (kOverloadedMeanWaitS).
  double min_mean_wait_s = kOverloadedMeanWaitS;
};

enum class Verdict { kRegression, kImprovement, kUnchanged, kNew, kGone };

struct FunctionDiff {
  FunctionKey key;
  // Seconds per run (time normalization) or shares of the base's total
  // (share normalization; the new side at the base's scale).
  double base_self = 0, new_self = 0;
  double base_total = 0, new_total = 0;
  double self_delta_pct = 0, total_delta_pct = 0;
  Metric decided_by = Metric::kSelf;  // which metric gave the verdict
  double delta_pct = 0;  // of the deciding metric; +inf for new functions
  double p_value = 1;    // of the deciding metric, Holm-corrected
  // The smallest change of the deciding metric, in percent of the base,
  // the design could detect at alpha with `power`; +inf when it has no
  // variance to judge by (a single replicate on each side).
  double detectable_pct = 0;
  Verdict verdict = Verdict::kUnchanged;
  double impact = 0;  // |new - base| of the deciding metric, to sort by
  // Above the noise floor (min_share and min_samples on the larger side).
  bool above_floor = false;
  // Regressions: where the time grew, e.g. "time grew in spin called from
  // render_page".
  std::string cause;
  // A regression that another one explains (a caller whose total grew
  // with the time that grew below it): listed, counted with that one.
  bool affected = false;
  std::string explained_by;  // the regression it is counted with
};

// The whole run (fixed work) or the whole recording.
struct WholeRun {
  double base = 0, now = 0;  // seconds per run (or per recording)
  double delta_pct = 0;
  // The speed scale of NEW relative to BASE that the per-function times
  // were corrected by (1: none).
  double speed_scale = 1;
  double base_cpu_s = -1, new_cpu_s = -1;  // launched runs' own CPU, mean
  // The share of their runnable time the sampled threads waited for a
  // CPU, per side (-1: not recorded).
  double base_wait_share = -1, new_wait_share = -1;
  // Their mean wait for a CPU, seconds (-1: waits not recorded).
  double base_mean_wait_s = -1, new_mean_wait_s = -1;
};

struct Comparison {
  std::vector<FunctionDiff> rows;  // sorted by impact, largest first
  int regressions = 0;  // places where time grew (affected callers not counted)
  int improvements = 0;
  int new_functions = 0;  // above the noise floor
  int gone_functions = 0;
  bool failed = false;  // regressions (or new functions with fail_on_new)
  // False when the data could not have shown a change of the threshold's
  // size where the time is (see CompareOptions::conclusive_share).
  bool conclusive = true;
  double covered_share = 0;  // the share that could show such a change
  std::string inconclusive_reason;
  // A side was recorded on an overloaded machine (max_wait_share): not
  // judged, whatever the functions show.
  bool overloaded = false;
  int suggested_runs = 0;  // --repeat that would likely make it conclusive
  // A --rate that would instead, at no CI time (0: none would, alone).
  double suggested_rate_hz = 0;
  // Of the typical function's variance, the share sampling noise made
  // (-1: unknown): above half, a higher rate is the remedy.
  double sampling_share = -1;
  // The cheapest remedy and its cost, for the verdict line: "sample
  // faster: --rate 2400, +0 s of CI time ..." or "record more runs: ...".
  std::string remedy;
  // Mean samples per replicate on each side.
  double samples_base = 0, samples_new = 0;
  ValueType value_type;
  int base_entries = 1;             // how many baseline profiles were merged
  int runs_base = 1, runs_new = 1;  // replicates per side
  std::string replicates;   // one line: what the replicates are, per side
  bool fixed_work = false;  // compared as time per run
  // Interleaved base and new runs (record --base-command), tested on the
  // differences within pairs.
  bool paired = false;
  Metric metric = Metric::kBoth;
  WholeRun whole;
  std::string method;  // one line naming the test used, for reports
};

// Incompatible sides (different value types, e.g. wall vs cpu) are an
// InvalidArgument error. `base` has one table per baseline entry.
absl::StatusOr<Comparison> Compare(const std::vector<FunctionTable>& base,
                                   const FunctionTable& now,
                                   const CompareOptions& options);

const char* VerdictName(Verdict v);  // "regression", "improvement", ...
const char* MetricName(Metric m);    // "self", "total", "both"

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_COMPARE_H_
