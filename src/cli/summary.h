// The end-of-recording summary printed by `pystrobe record`.
#ifndef PYSTROBE_SRC_CLI_SUMMARY_H_
#define PYSTROBE_SRC_CLI_SUMMARY_H_

#include <string>

#include "pystrobe/profile/profile.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

// Samples, duration, achieved rate, late and missed ticks, errors, the 10
// functions with the most self time and their share, and where the profile
// went with how to open it.
std::string FormatSummary(const Profile& profile, const SamplerStats& stats,
                          const std::string& output_path);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_SUMMARY_H_
