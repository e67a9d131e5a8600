// What a flame graph says about itself: a title naming the program and a
// subtitle with how it was recorded, from the profile's own comments, and
// frame labels whose long source paths are cut to the part a reader knows.
#ifndef PYSTROBE_SRC_PROFILE_FLAMEGRAPH_HEADING_H_
#define PYSTROBE_SRC_PROFILE_FLAMEGRAPH_HEADING_H_

#include <string>

#include "pystrobe/profile/profile.h"

namespace pystrobe::profile_internal {

struct FlameGraphHeading {
  std::string title;     // "python3 app.py (pid 4242)"
  std::string subtitle;  // "CPython 3.11.2, wall mode at 100 Hz, ..."
};

// From the comments pystrobe writes (command_line, python_version,
// pystrobe.mode, pystrobe.rate_hz, pystrobe.samples), the samples' pid
// labels, the start time and duration. Unknown parts are left out; a
// profile with none of them is titled "pystrobe".
FlameGraphHeading HeadingFor(const Profile& profile);

// A frame name "function (/long/path/to/file.py:12)" with the path cut to
// what is below site-packages, dist-packages or the standard library's
// lib/pythonX.Y: "function (requests/models.py:12)". Other names as given.
std::string ShortFrameLabel(const std::string& name);

}  // namespace pystrobe::profile_internal

#endif  // PYSTROBE_SRC_PROFILE_FLAMEGRAPH_HEADING_H_
