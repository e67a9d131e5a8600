// Merging profiles: the runs of `record --repeat`, the windows and processes
// of one recording, become one profile whose samples say where they came
// from through labels.
//
//   Profile all;
//   AppendProfile(run0, {{"run", "", 0, ""}}, &all);
//   AppendProfile(run1, {{"run", "", 1, ""}}, &all);
#ifndef PYSTROBE_PROFILE_MERGE_H_
#define PYSTROBE_PROFILE_MERGE_H_

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

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_MERGE_H_
