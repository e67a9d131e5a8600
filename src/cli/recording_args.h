// The options `pystrobe record` and `pystrobe top` share: what to sample
// (--pid, --subprocesses) and how (--rate, --mode, --gil, --idle). Each
// command keeps its own loop over its arguments, its own help text and its
// own options; these parse one shared option at a time, in the manner of
// ParseGateOption (pystrobe/diff/gate.h).
//
//   for (size_t i = 0; i < args.size(); ++i) {
//     if (ParseTargetOption(args, &i, &r, &error) ||
//         ParseSamplerOption(args, &i, kRecordRates, &r.sampler, &error)) {
//       if (!error.empty()) return std::nullopt;
//     } else if (args[i] == "--my-own-option") { ...
#ifndef PYSTROBE_SRC_CLI_RECORDING_ARGS_H_
#define PYSTROBE_SRC_CLI_RECORDING_ARGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "pystrobe/recorder/recording.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

// The rates a command accepts: (min, max] or [min, max].
struct RateRange {
  double min_hz = 0;
  bool min_included = false;
  double max_hz = 100000;
};
// record: (0, 100000].
inline constexpr RateRange kRecordRates{0, false, 100000};

// The value of the option at args[*i], advancing *i to it; false with
// "OPTION needs a value" in *error when it is the last word.
bool OptionValue(const std::vector<std::string>& args, size_t* i,
                 std::string* value, std::string* error);

// If args[*i] is -p/--pid PID[,PID...] (repeatable: every PID is a target,
// the first in `pid`, the others in `pids`) or --subprocesses, consumes it
// (leaving *i on its last word) and returns true; `*error` is set for a
// missing or bad value. Returns false for anything else.
bool ParseTargetOption(const std::vector<std::string>& args, size_t* i,
                       RecordingOptions* recording, std::string* error);

// The same for -r/--rate HZ (within `rates`), --mode wall|cpu, --gil,
// --idle and --native/--native-all.
bool ParseSamplerOption(const std::vector<std::string>& args, size_t* i,
                        const RateRange& rates, SamplerOptions* sampler,
                        std::string* error);

// Every --pid of `r` names a live process: 0, else the error is printed
// (one line on stderr) and its exit code returned.
int CheckTargetsExist(const RecordingOptions& r);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_RECORDING_ARGS_H_
