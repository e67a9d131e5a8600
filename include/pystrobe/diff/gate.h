// The regression gate as a whole: BASE (a file or a stored baseline) and a
// profile in, a report and an exit code out. `pystrobe-diff compare` and
// `pystrobe record --compare` are two front ends of it, with the same
// options.
//
//   GateOptions g;
//   for (size_t i = 0; i < args.size(); ++i) {
//     if (!ParseGateOption(args, &i, &g, &error)) ...;   // not a gate flag
//   }
//   ASSIGN_OR_RETURN(GateOutcome out, RunGate(g, "api", now));
//   std::fputs(out.report.c_str(), stdout);
//   return out.exit_code;
#ifndef PYSTROBE_DIFF_GATE_H_
#define PYSTROBE_DIFF_GATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/diff/profile_files.h"

namespace pystrobe {

enum class ReportFormat { kTable, kJson, kCsv, kMarkdown };

// The gate's exit codes (README.md): also pystrobe-diff's.
enum GateExit : int {
  kGateOk = 0,            // no regression, or not asked to fail
  kGateRegression = 1,    // with --fail-on-regression (or --fail-on-new)
  kGateBadInput = 2,      // bad input or usage
  kGateInconclusive = 3,  // with --fail-on-inconclusive
};

inline constexpr char kDefaultBaselineStore[] = ".pystrobe/baselines";

// Native frames (`record --native`) in the comparison: kAuto keeps them
// when every profile has them or none does, and strips them everywhere
// when only some do (a --native recording against a Python-only baseline:
// otherwise every C function would be "new" and every Python leaf lose its
// C time); kStrip always compares Python frames only; kKeep never strips.
enum class NativeFrames { kAuto, kKeep, kStrip };

struct GateOptions {
  std::string store = kDefaultBaselineStore;
  int last = 0;  // merge the last K entries of a baseline NAME
  CompareOptions compare;
  TableOptions table;
  bool fail_on_regression = false;
  bool fail_on_inconclusive = false;
  int top = 0;
  bool only_regressions = false;
  ReportFormat format = ReportFormat::kTable;
  std::string flamegraph;  // write a differential flame graph here
  std::string color = "auto";
  NativeFrames native = NativeFrames::kAuto;
};

// The help text of the gate's options, one per line, for usages.
extern const char kGateOptionsHelp[];

// If args[*i] is a gate option (with its value, "--opt V" or "--opt=V"),
// consumes it (leaving *i on its last word) and returns true; `*error` is
// set for a bad value. Returns false for anything else.
bool ParseGateOption(const std::vector<std::string>& args, size_t* i,
                     GateOptions* options, std::string* error);

struct GateOutcome {
  std::string report;   // for stdout
  std::string verdict;  // for stderr: the verdict line, with CSV and JSON
  int exit_code = kGateOk;
  Comparison comparison;
  std::string base_label;
};

// Compares `now` with BASE. Bad input (a missing or foreign file, an
// unknown baseline, incompatible sample types, an unwritable flame graph
// path) is an InvalidArgument error with one line.
absl::StatusOr<GateOutcome> RunGate(const GateOptions& options,
                                    const std::string& base,
                                    const LoadedProfile& now);

// The same with BASE already in memory (one profile, or the entries of a
// merged baseline), e.g. the base runs of an interleaved recording (record
// --base-command): `base_label` names it in the report.
absl::StatusOr<GateOutcome> RunGate(const GateOptions& options,
                                    std::vector<LoadedProfile> base,
                                    const std::string& base_label,
                                    const LoadedProfile& now);

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_GATE_H_
