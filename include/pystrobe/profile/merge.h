// Merging profiles: the runs of `record --repeat`, the windows and processes
// of one recording, become one profile whose samples say where they came
// from through labels.
//
//   Profile all;
//   AppendProfile(run0, {{"run", "", 0, ""}}, &all);
//   AppendProfile(run1, {{"run", "", 1, ""}}, &all);
#ifndef PYSTROBE_PROFILE_MERGE_H_
#define PYSTROBE_PROFILE_MERGE_H_

#include <cstdint>
#include <vector>

#include "pystrobe/profile/profile.h"

namespace pystrobe {

// Appends the samples of `from` to `*into`, each with `extra_labels` added,
// re-interning functions and locations. The first profile appended sets the
// sample types, period and comments of an empty `*into`; later ones must
// have the same sample types (their samples are skipped otherwise, and false
// is returned). `into->duration_nanos` becomes the sum of the durations.
bool AppendProfile(const Profile& from, const std::vector<Label>& extra_labels,
                   Profile* into);

// Whether a sample's stack holds a native frame (`record --native`: a
// location with a mapping).
bool HasNativeFrames(const Profile& profile);

// The profile as a Python-only recording would have it: native frames
// leave every stack, so a C function's time is its innermost Python
// caller's; samples left with no frame (a thread in C with no Python frame
// yet) are dropped, as such a recording never takes them. Returns the
// weight (first sample type) of the samples dropped.
int64_t StripNativeFrames(Profile* profile);

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_MERGE_H_
