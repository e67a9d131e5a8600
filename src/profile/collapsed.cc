// Collapsed ("folded") stacks, the input format of flamegraph.pl.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "frames.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

std::string RenderCollapsed(const Profile& profile,
                            const RenderOptions& options) {
  using profile_internal::HasValidStack;
  const int value_index = profile_internal::ResolveValueIndex(profile, options);
  // Names are built once per location, not once per sample and frame.
  std::vector<std::string> names(profile.locations.size());
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& l = profile.locations[i];
    if (l.function_id == 0 || l.function_id > profile.functions.size()) {
      continue;
    }
    names[i] = CollapsedFrameName(profile, l, options.lines);
  }
  absl::flat_hash_map<std::string, int64_t> totals;
  std::string stack;
  for (const Sample& s : profile.samples) {
    if (!HasValidStack(profile, s)) {
      continue;
    }
    stack.clear();
    // Root frames named by labels: ';' and line breaks would break the
    // format.
    auto append_root = [&stack](std::string name) {
      for (char& c : name) {
        if (c == ';' || c == '\n' || c == '\r') {
          c = '_';
        }
      }
      if (!stack.empty()) {
        stack.push_back(';');
      }
      stack.append(name);
    };
    if (options.per_process) {
      append_root(profile_internal::ProcessName(s));
    }
    if (options.per_thread) {
      append_root(profile_internal::ThreadName(s));
    }
    for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend(); ++it) {
      if (!stack.empty()) {
        stack.push_back(';');
      }
      stack.append(names[*it - 1]);
    }
    if (stack.empty()) {
      continue;
    }
    totals[stack] += profile_internal::SampleValue(s, value_index);
  }
  std::vector<std::pair<std::string, int64_t>> lines(totals.begin(),
                                                     totals.end());
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& [line, value] : lines) {
    if (value == 0) {
      continue;
    }
    absl::StrAppend(&out, line, " ", value, "\n");
  }
  return out;
}

}  // namespace pystrobe
