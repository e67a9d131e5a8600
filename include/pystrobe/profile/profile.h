// The in-memory profile: what pystrobe records and what every output format
// (pprof, collapsed stacks, speedscope, flame graph SVG) and pystrobe-diff
// read. It mirrors pprof's model (google/pprof proto/profile.proto) without
// its string table: functions, locations (function + line), samples (a stack
// of locations, leaf first, with one value per sample type, and labels).
//
//   Profile p;
//   p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
//   uint64_t f = p.AddFunction({"Server.handle", "handle", "/srv/app.py", 10});
//   uint64_t loc = p.AddLocation({f, 12});
//   p.samples.push_back({{loc}, {3, 30'000'000}, {{"thread_name", "main"}}});
//   ASSIGN_OR_RETURN(std::string gz, EncodePprof(p));
#ifndef PYSTROBE_PROFILE_PROFILE_H_
#define PYSTROBE_PROFILE_PROFILE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace pystrobe {

struct ValueType {
  std::string type;  // "samples", "wall", "cpu"
  std::string unit;  // "count", "nanoseconds"
  bool operator==(const ValueType& o) const {
    return type == o.type && unit == o.unit;
  }
};

struct Function {
  // What viewers show (pprof Function.name): co_qualname where the version
  // has it ("Server.handle"), else co_name.
  std::string name;
  std::string system_name;  // co_name
  std::string filename;
  int64_t start_line = 0;
  bool operator==(const Function& o) const {
    return name == o.name && system_name == o.system_name &&
           filename == o.filename && start_line == o.start_line;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Function& f) {
    return H::combine(std::move(h), f.name, f.system_name, f.filename,
                      f.start_line);
  }
};

// A mapped binary that native frames (--native) are in: pprof's Mapping.
// Python frames have none (Location::mapping_id 0).
struct Mapping {
  uint64_t start = 0;  // address range in the process
  uint64_t limit = 0;
  uint64_t offset = 0;   // file offset of `start`
  std::string filename;  // as /proc/PID/maps names it
  std::string build_id;  // GNU build-id, lowercase hex
  bool operator==(const Mapping& o) const {
    return start == o.start && limit == o.limit && offset == o.offset &&
           filename == o.filename && build_id == o.build_id;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Mapping& m) {
    return H::combine(std::move(h), m.start, m.limit, m.offset, m.filename,
                      m.build_id);
  }
};

struct Location {
  uint64_t function_id = 0;  // 1-based index into Profile::functions
  int64_t line = 0;          // 0: unknown (e.g. --function aggregation)
  // 1-based index into Profile::mappings for a native frame; 0 for a
  // Python frame.
  uint64_t mapping_id = 0;
  bool operator==(const Location& o) const {
    return function_id == o.function_id && line == o.line &&
           mapping_id == o.mapping_id;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Location& l) {
    return H::combine(std::move(h), l.function_id, l.line, l.mapping_id);
  }
};

struct Label {
  std::string key;
  std::string str;  // string label value (empty for numeric labels)
  int64_t num = 0;  // numeric label value
  std::string num_unit;
  bool is_numeric() const { return str.empty(); }
};

struct Sample {
  std::vector<uint64_t> location_ids;  // 1-based; leaf (innermost) first
  std::vector<int64_t> values;         // one per Profile::sample_types
  std::vector<Label> labels;
};

struct Profile {
  std::vector<ValueType> sample_types;
  std::vector<Sample> samples;
  std::vector<Function> functions;  // id = index + 1
  std::vector<Location> locations;  // id = index + 1
  std::vector<Mapping> mappings;    // id = index + 1 (native frames only)
  int64_t time_nanos = 0;           // start, Unix epoch
  int64_t duration_nanos = 0;
  ValueType period_type;
  int64_t period = 0;
  std::vector<std::string> comments;
  // Sample type index used by viewers by default (pprof default_sample_type).
  std::string default_sample_type;

  // Interning helpers: return the 1-based id of an equal existing entry, or
  // add one.
  uint64_t AddFunction(const Function& f);
  uint64_t AddLocation(const Location& l);
  uint64_t AddMapping(const Mapping& m);

  const Function& FunctionOf(const Location& l) const {
    return functions[l.function_id - 1];
  }
  const Location& LocationAt(uint64_t id) const { return locations[id - 1]; }
  // Index of the sample type named `type` ("wall"), or -1.
  int SampleTypeIndex(const std::string& type) const;

 private:
  absl::flat_hash_map<Function, uint64_t> function_ids_;
  absl::flat_hash_map<Location, uint64_t> location_ids_;
  absl::flat_hash_map<Mapping, uint64_t> mapping_ids_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_PROFILE_H_
