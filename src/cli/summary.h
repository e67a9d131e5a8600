// The end-of-recording summary printed by `pystrobe record`.
#ifndef PYSTROBE_SRC_CLI_SUMMARY_H_
#define PYSTROBE_SRC_CLI_SUMMARY_H_

#include <string>

#include "pystrobe/profile/profile.h"
#include "pystrobe/recorder/recording.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

// Samples, duration, achieved rate, late and missed ticks, errors and their
// causes, a warning when the achieved rate fell short of the requested one
// (RateShortfall), the 10 functions with the most self time and their
// share, and where the profile went with how to open it. `end`: how the
// targets ended the recording (DescribeTargetEnd), "" if they did not.
std::string FormatSummary(const Profile& profile, const SamplerStats& stats,
                          const std::string& output_path,
                          const std::string& end = "");

// With several processes: one line per process (pid, samples, whether it
// exited, command line), the first 20. For a target with (almost) no
// Python work but Python children: a line saying so that suggests
// --subprocesses. "" when there is nothing to say.
std::string FormatProcessesSummary(const RecordingResult& result);

// "torn 3, page gone 1; 40 torn stacks recovered by a re-read",
// or "" when there is nothing to say.
std::string DescribeErrors(const SamplerStats& stats);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_SUMMARY_H_
