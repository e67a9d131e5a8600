// pystrobe-diff compare BASE NEW: the regression gate (pystrobe/diff/gate.h)
// on two profiles.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "diff_cli.h"
#include "pystrobe/diff/gate.h"

namespace pystrobe::diff_cli {
namespace {

constexpr char kUsageHead[] =
    "usage: pystrobe-diff compare BASE NEW [options]\n"
    "\n"
    "Compares two profiles per function and tells which functions got\n"
    "slower, by how much, where the time grew, and whether that is real,\n"
    "sampling noise, or more than the data can tell. BASE is a pprof file or\n"
    "a stored baseline: NAME (its latest entry), NAME@N (entry N), or NAME\n"
    "with --last K (the last K entries merged). NEW is a pprof file.\n"
    "The runs of a `pystrobe record --repeat N` profile are its replicates:\n"
    "record both sides with --repeat 5 or more for a conclusive verdict.\n"
    "\n";
constexpr char kUsageTail[] =
    "\n"
    "The verdict line starts with FAIL:, OK: or INCONCLUSIVE:.\n"
    "Exit status: 0 no regression (or not asked to fail), 1 regression with\n"
    "--fail-on-regression (or a new function with --fail-on-new), 2 bad\n"
    "input, 3 inconclusive with --fail-on-inconclusive.\n";

}  // namespace

int RunCompare(const std::vector<std::string>& argv) {
  GateOptions options;
  std::vector<std::string> positional;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& cur = argv[i];
    if (cur == "-h" || cur == "--help") {
      std::fputs(kUsageHead, stdout);
      std::fputs(kGateOptionsHelp, stdout);
      std::fputs(kUsageTail, stdout);
      return kExitOk;
    }
    std::string error;
    if (ParseGateOption(argv, &i, &options, &error)) {
      if (!error.empty()) {
        PrintError(error);
        return kExitBadInput;
      }
    } else if (cur.size() > 1 && cur[0] == '-') {
      PrintError("unknown option '" + cur +
                 "' (see pystrobe-diff compare --help)");
      return kExitBadInput;
    } else {
      positional.push_back(cur);
    }
  }
  if (positional.size() != 2) {
    PrintError("compare wants BASE and NEW (see pystrobe-diff compare --help)");
    return kExitBadInput;
  }
  absl::StatusOr<LoadedProfile> now = LoadProfileFile(positional[1]);
  if (!now.ok()) {
    PrintError(now.status());
    return kExitBadInput;
  }
  absl::StatusOr<GateOutcome> out = RunGate(options, positional[0], *now);
  if (!out.ok()) {
    PrintError(out.status());
    return kExitBadInput;
  }
  std::fputs(out->report.c_str(), stdout);
  std::fflush(stdout);
  std::fputs(out->verdict.c_str(), stderr);
  if (!options.flamegraph.empty()) {
    std::fprintf(stderr, "wrote the differential flame graph to %s\n",
                 options.flamegraph.c_str());
  }
  return out->exit_code;
}

}  // namespace pystrobe::diff_cli
