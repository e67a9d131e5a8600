// Pieces every text renderer of a Profile shares: frame and thread names,
// the chosen value, and escaping for JSON and XML.
#ifndef PYSTROBE_SRC_PROFILE_FRAMES_H_
#define PYSTROBE_SRC_PROFILE_FRAMES_H_

#include <string>
#include <string_view>

#include "pystrobe/base/text.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe::profile_internal {

// The qualified name when known (co_qualname), else the plain name.
const std::string& FunctionName(const Function& f);

// "function (file:line)" as flame graphs show frames; "(file)" without
// lines or when the line is unknown.
std::string DisplayFrameName(const Profile& profile, const Location& location,
                             bool lines);

// The root frame of a sample's thread: "thread_name (tid)", or whichever of
// the two labels is present, or "unknown thread".
std::string ThreadName(const Sample& sample);

// The root frame of a sample's process: "PID COMMAND", "PID", or
// "unknown process" (from the pid and process labels).
std::string ProcessName(const Sample& sample);

// options.value_index when valid, else the last sample type; -1 when the
// profile has no sample types.
int ResolveValueIndex(const Profile& profile, const RenderOptions& options);

// Whether every location (and its function) of `sample` exists, so that
// renderers can skip, rather than crash on, a hand-built inconsistent profile.
bool HasValidStack(const Profile& profile, const Sample& sample);

// The value of `sample` at `index` (0 when absent).
int64_t SampleValue(const Sample& sample, int index);

// Appends `s` to `out` as JSON string content (no quotes); invalid UTF-8
// becomes U+FFFD so that the document stays valid JSON.
using ::pystrobe::AppendJsonEscaped;  // pystrobe/base/text.h

// Appends `s` to `out` escaped for XML text and attribute values; invalid
// UTF-8 and control characters XML forbids become U+FFFD.
void AppendXmlEscaped(std::string_view s, std::string* out);

}  // namespace pystrobe::profile_internal

#endif  // PYSTROBE_SRC_PROFILE_FRAMES_H_
