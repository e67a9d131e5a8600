#include "pystrobe/profile/profile.h"

#include <cstddef>
#include <string>

namespace pystrobe {

uint64_t Profile::AddFunction(const Function& f) {
  // The map is rebuilt lazily when `functions` was filled directly (a decoder
  // or a test may push_back), so interning stays correct either way.
  if (function_ids_.size() != functions.size()) {
    function_ids_.clear();
    for (size_t i = 0; i < functions.size(); ++i) {
      function_ids_.try_emplace(functions[i], i + 1);
    }
  }
  auto [it, inserted] = function_ids_.try_emplace(f, functions.size() + 1);
  if (inserted) {
    functions.push_back(f);
  }
  return it->second;
}

uint64_t Profile::AddLocation(const Location& l) {
  if (location_ids_.size() != locations.size()) {
    location_ids_.clear();
    for (size_t i = 0; i < locations.size(); ++i) {
      location_ids_.try_emplace(locations[i], i + 1);
    }
  }
  auto [it, inserted] = location_ids_.try_emplace(l, locations.size() + 1);
  if (inserted) {
    locations.push_back(l);
  }
  return it->second;
}

uint64_t Profile::AddMapping(const Mapping& m) {
  if (mapping_ids_.size() != mappings.size()) {
    mapping_ids_.clear();
    for (size_t i = 0; i < mappings.size(); ++i) {
      mapping_ids_.try_emplace(mappings[i], i + 1);
    }
  }
  auto [it, inserted] = mapping_ids_.try_emplace(m, mappings.size() + 1);
  if (inserted) mappings.push_back(m);
  return it->second;
}

int Profile::SampleTypeIndex(const std::string& type) const {
  for (size_t i = 0; i < sample_types.size(); ++i) {
    if (sample_types[i].type == type) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace pystrobe
