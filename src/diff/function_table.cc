// BuildFunctionTable: one pass over a profile's samples, reducing each to the
// functions (or lines) it touches.

#include <cstdint>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/diff/compare.h"

namespace pystrobe {
namespace {

// More batches than this in a "batch" label is not what pystrobe record
// writes (at most 32): such a label is someone else's, and ignored.
constexpr int64_t kMaxBatches = 4096;

// The sample type index to weigh by, per TableOptions.
absl::StatusOr<int> WeightIndex(const Profile& profile,
                                const std::string& requested) {
  if (profile.sample_types.empty()) {
    return absl::InvalidArgumentError("profile has no sample types");
  }
  if (!requested.empty()) {
    int index = profile.SampleTypeIndex(requested);
    if (index < 0) {
      std::string have;
      for (const ValueType& t : profile.sample_types) {
        absl::StrAppend(&have, have.empty() ? "" : ", ", t.type);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("profile has no sample type \"", requested,
                       "\" (it has ", have, ")"));
    }
    return index;
  }
  if (!profile.default_sample_type.empty()) {
    int index = profile.SampleTypeIndex(profile.default_sample_type);
    if (index >= 0) return index;
  }
  return static_cast<int>(profile.sample_types.size()) - 1;
}

int CountIndex(const Profile& profile) {
  for (size_t i = 0; i < profile.sample_types.size(); ++i) {
    const ValueType& t = profile.sample_types[i];
    if (t.type == "samples" && t.unit == "count") return static_cast<int>(i);
  }
  return -1;
}

// The sample's batch, or -1 without a usable "batch" label.
int64_t BatchOf(const Sample& s) {
  for (const Label& l : s.labels) {
    if (l.key == "batch" && l.is_numeric()) return l.num;
  }
  return -1;
}

}  // namespace

absl::StatusOr<FunctionTable> BuildFunctionTable(const Profile& profile,
                                                 const TableOptions& options) {
  if (profile.samples.empty()) {
    return absl::InvalidArgumentError("profile has no samples");
  }
  absl::StatusOr<int> weight_index = WeightIndex(profile, options.sample_type);
  if (!weight_index.ok()) return weight_index.status();
  const size_t wi = static_cast<size_t>(*weight_index);
  const int ci = CountIndex(profile);

  std::vector<std::regex> ignore;
  for (const std::string& pattern : options.ignore) {
    try {
      ignore.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad --ignore regex \"", pattern, "\": ", e.what()));
    }
  }

  // Keys per location, computed once: samples share locations.
  std::vector<FunctionKey> keys;
  std::vector<bool> key_ignored;
  absl::flat_hash_map<FunctionKey, uint32_t> key_index;
  std::vector<int64_t> key_of_location(profile.locations.size(), -1);
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& loc = profile.locations[i];
    if (loc.function_id == 0 || loc.function_id > profile.functions.size()) {
      continue;  // DecodePprof validates ids; a hand-built profile may not
    }
    const Function& f = profile.FunctionOf(loc);
    FunctionKey key{f.name, f.filename,
                    options.by == Granularity::kLine ? loc.line : 0};
    auto [it, inserted] =
        key_index.try_emplace(key, static_cast<uint32_t>(keys.size()));
    if (inserted) {
      bool dropped = false;
      if (!ignore.empty()) {
        std::string text = absl::StrCat(f.name, " ", f.filename);
        for (const std::regex& re : ignore) {
          if (std::regex_search(text, re)) {
            dropped = true;
            break;
          }
        }
      }
      keys.push_back(std::move(key));
      key_ignored.push_back(dropped);
    }
    key_of_location[i] = it->second;
  }

  // Batches: pystrobe's "batch" label when every sample has a sane one.
  int64_t batch_count = 1;
  bool batched = true;
  for (const Sample& s : profile.samples) {
    int64_t b = BatchOf(s);
    if (b < 0 || b >= kMaxBatches) {
      batched = false;
      break;
    }
    batch_count = std::max(batch_count, b + 1);
  }
  if (!batched) batch_count = 1;

  struct Accumulator {
    int64_t self = 0, total = 0;
    std::vector<int64_t> self_by_batch, total_by_batch;
    uint64_t last_sample = 0;  // 1 + index of the last sample counted
  };
  std::vector<Accumulator> acc(keys.size());
  FunctionTable table;
  table.value_type = profile.sample_types[wi];
  table.duration_ns = profile.duration_nanos;
  table.comments = profile.comments;
  table.total_by_batch.assign(static_cast<size_t>(batch_count), 0);
  int64_t record_count = 0;

  for (size_t si = 0; si < profile.samples.size(); ++si) {
    const Sample& s = profile.samples[si];
    if (wi >= s.values.size()) continue;
    int64_t weight = s.values[wi];
    if (weight <= 0) continue;  // pprof diff profiles carry negatives
    bool dropped = false;
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > key_of_location.size()) continue;
      int64_t k = key_of_location[id - 1];
      if (k >= 0 && key_ignored[static_cast<size_t>(k)]) {
        dropped = true;
        break;
      }
    }
    if (dropped) continue;  // as pprof -ignore: the whole sample goes
    size_t batch = batched ? static_cast<size_t>(BatchOf(s)) : 0;
    table.grand_total += weight;
    table.total_by_batch[batch] += weight;
    ++record_count;
    if (ci >= 0 && static_cast<size_t>(ci) < s.values.size()) {
      table.sample_count += s.values[static_cast<size_t>(ci)];
    }
    bool leaf = true;
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > key_of_location.size()) continue;
      int64_t k = key_of_location[id - 1];
      if (k < 0) continue;
      Accumulator& a = acc[static_cast<size_t>(k)];
      if (a.self_by_batch.empty()) {
        a.self_by_batch.assign(static_cast<size_t>(batch_count), 0);
        a.total_by_batch.assign(static_cast<size_t>(batch_count), 0);
      }
      if (leaf) {
        a.self += weight;
        a.self_by_batch[batch] += weight;
        leaf = false;
      }
      // Once per sample: recursion (f calling f) is not counted twice.
      if (a.last_sample != si + 1) {
        a.last_sample = si + 1;
        a.total += weight;
        a.total_by_batch[batch] += weight;
      }
    }
  }
  if (table.grand_total == 0) {
    return absl::InvalidArgumentError(
        ignore.empty() ? "profile is empty: every sample weighs zero"
                       : "profile is empty after --ignore dropped samples");
  }
  if (ci < 0 || table.sample_count <= 0) {
    // No samples/count type (e.g. Go's CPU profile has one, some don't):
    // the period says how much one sample weighs; else one record, one
    // sample.
    if (profile.period > 0 && profile.period_type == table.value_type) {
      table.sample_count =
          std::max<int64_t>(1, table.grand_total / profile.period);
    } else {
      table.sample_count = record_count;
    }
  }
  table.functions.reserve(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    Accumulator& a = acc[k];
    if (a.total == 0) continue;
    FunctionStats stats;
    stats.self = a.self;
    stats.total = a.total;
    stats.self_by_batch = std::move(a.self_by_batch);
    stats.total_by_batch = std::move(a.total_by_batch);
    table.functions.emplace(std::move(keys[k]), std::move(stats));
  }
  return table;
}

}  // namespace pystrobe
