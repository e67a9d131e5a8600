#include "pystrobe/profile/merge.h"

#include <algorithm>

namespace pystrobe {

bool AppendProfile(const Profile& from, const std::vector<Label>& extra_labels,
                   Profile* into) {
  const bool first = into->sample_types.empty() && into->samples.empty();
  if (first) {
    into->sample_types = from.sample_types;
    into->period_type = from.period_type;
    into->period = from.period;
    into->time_nanos = from.time_nanos;
    into->comments = from.comments;
    into->default_sample_type = from.default_sample_type;
  } else if (!(into->sample_types == from.sample_types)) {
    return false;
  }
  into->duration_nanos += from.duration_nanos;
  if (from.time_nanos != 0 &&
      (into->time_nanos == 0 || from.time_nanos < into->time_nanos)) {
    into->time_nanos = from.time_nanos;
  }
  // Location ids of `from` -> ids in `into`.
  std::vector<uint64_t> location_map(from.locations.size() + 1, 0);
  for (size_t i = 0; i < from.locations.size(); ++i) {
    const Location& l = from.locations[i];
    const uint64_t f = into->AddFunction(from.FunctionOf(l));
    const uint64_t mapping =
        l.mapping_id != 0 && l.mapping_id <= from.mappings.size()
            ? into->AddMapping(from.mappings[l.mapping_id - 1])
            : 0;
    location_map[i + 1] = into->AddLocation({f, l.line, mapping});
  }
  into->samples.reserve(into->samples.size() + from.samples.size());
  for (const Sample& s : from.samples) {
    Sample copy;
    copy.location_ids.reserve(s.location_ids.size());
    for (uint64_t id : s.location_ids) {
      copy.location_ids.push_back(id < location_map.size() ? location_map[id]
                                                           : 0);
    }
    copy.location_ids.erase(
        std::remove(copy.location_ids.begin(), copy.location_ids.end(), 0u),
        copy.location_ids.end());
    copy.values = s.values;
    copy.labels = s.labels;
    copy.labels.insert(copy.labels.end(), extra_labels.begin(),
                       extra_labels.end());
    into->samples.push_back(std::move(copy));
  }
  return true;
}

bool HasNativeFrames(const Profile& profile) {
  std::vector<bool> native(profile.locations.size() + 1, false);
  bool any = false;
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    native[i + 1] = profile.locations[i].mapping_id != 0;
    any |= native[i + 1];
  }
  if (!any) return false;
  for (const Sample& s : profile.samples) {
    for (uint64_t id : s.location_ids) {
      if (id < native.size() && native[id]) return true;
    }
  }
  return false;
}

int64_t StripNativeFrames(Profile* profile) {
  std::vector<bool> native(profile->locations.size() + 1, false);
  for (size_t i = 0; i < profile->locations.size(); ++i) {
    native[i + 1] = profile->locations[i].mapping_id != 0;
  }
  int64_t dropped = 0;
  std::vector<Sample> kept;
  kept.reserve(profile->samples.size());
  for (Sample& s : profile->samples) {
    s.location_ids.erase(
        std::remove_if(
            s.location_ids.begin(), s.location_ids.end(),
            [&](uint64_t id) { return id < native.size() && native[id]; }),
        s.location_ids.end());
    if (s.location_ids.empty()) {
      if (!s.values.empty()) dropped += s.values[0];
      continue;
    }
    kept.push_back(std::move(s));
  }
  profile->samples = std::move(kept);
  return dropped;
}

}  // namespace pystrobe
