// BuildFunctionTable: one pass over a profile's samples, reducing each to the
// functions (or lines) it touches.

#include <algorithm>
#include <cstdint>
#include <regex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pystrobe/diff/compare.h"

namespace pystrobe {
namespace {

// More units than this in a "batch" or "run" label is not what pystrobe
// record writes (at most 32 batches; --repeat is at most 10,000): such a
// label is someone else's, and ignored.
constexpr int64_t kMaxUnits = 10000;

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

// The value of numeric label `key`, or -1 without a usable one.
int64_t NumericLabel(const Sample& s, const char* key) {
  for (const Label& l : s.labels) {
    if (l.key == key && l.is_numeric()) return l.num;
  }
  return -1;
}

bool IsCpuWait(const Sample& s) {
  for (const Label& l : s.labels) {
    if (l.key == "cpu_wait") return l.str == "true";
  }
  return false;
}

// "pystrobe.run.3=wall_s=1.2 cpu_s=1.1 exit=0" -> run 3's accounting.
void ParseRunComment(const std::string& c, std::vector<RunInfo>* runs) {
  constexpr absl::string_view kPrefix = "pystrobe.run.";
  absl::string_view rest(c);
  if (!absl::ConsumePrefix(&rest, kPrefix)) return;
  const size_t eq = rest.find('=');
  int index = 0;
  if (eq == absl::string_view::npos ||
      !absl::SimpleAtoi(rest.substr(0, eq), &index) || index < 0 ||
      index >= kMaxUnits) {
    return;
  }
  RunInfo info;
  for (absl::string_view field :
       absl::StrSplit(rest.substr(eq + 1), ' ', absl::SkipEmpty())) {
    const size_t e = field.find('=');
    if (e == absl::string_view::npos) continue;
    const absl::string_view name = field.substr(0, e);
    const std::string value(field.substr(e + 1));
    // A field that does not parse keeps its default: comments come from
    // files, and files from anywhere.
    auto number = [&value](auto* out) {
      std::remove_pointer_t<decltype(out)> parsed{};
      bool ok = false;
      if constexpr (std::is_same_v<decltype(parsed), double>) {
        ok = absl::SimpleAtod(value, &parsed);
      } else {
        ok = absl::SimpleAtoi(value, &parsed);
      }
      if (ok) *out = parsed;
    };
    if (name == "wall_s") number(&info.wall_s);
    if (name == "cpu_s") number(&info.cpu_s);
    if (name == "exit") number(&info.exit_code);
    if (name == "ran_s") number(&info.ran_s);
    if (name == "wait_s") number(&info.wait_s);
    if (name == "waits") number(&info.waits);
  }
  if (runs->size() <= static_cast<size_t>(index)) {
    runs->resize(static_cast<size_t>(index) + 1);
  }
  (*runs)[static_cast<size_t>(index)] = info;
}

// Calls `f` once per distinct caller -> callee pair on the sample's stack
// (recursion repeats pairs): collected in `scratch`, sorted, deduplicated.
template <typename F>
void ForEachEdge(const Sample& s, const std::vector<int64_t>& key_of_location,
                 std::vector<uint64_t>* scratch, F f) {
  scratch->clear();
  int64_t callee = -1;
  for (uint64_t id : s.location_ids) {
    if (id == 0 || id > key_of_location.size()) continue;
    const int64_t caller = key_of_location[id - 1];
    if (caller < 0) continue;
    if (callee >= 0 && caller != callee) {
      scratch->push_back((static_cast<uint64_t>(caller) << 32) |
                         static_cast<uint64_t>(callee));
    }
    callee = caller;
  }
  std::sort(scratch->begin(), scratch->end());
  scratch->erase(std::unique(scratch->begin(), scratch->end()), scratch->end());
  for (uint64_t edge : *scratch) f(edge);
}

// Edges under this share of the profile's weight are not kept.
constexpr double kMinEdgeShare = 0.001;

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

  // Units: pystrobe's "run" label when every sample has a sane one (a
  // --repeat recording), else its "batch" label, else the whole profile.
  FunctionTable table;
  int64_t runs_declared = 0;
  for (const std::string& c : profile.comments) {
    absl::string_view v(c);
    if (absl::ConsumePrefix(&v, "pystrobe.target=")) {
      table.launched = v == "launched";
    } else if (absl::ConsumePrefix(&v, "pystrobe.runs=")) {
      if (!absl::SimpleAtoi(v, &runs_declared) || runs_declared < 0 ||
          runs_declared > kMaxUnits) {
        runs_declared = 0;
      }
    } else if (absl::ConsumePrefix(&v, "pystrobe.interleaved=")) {
      table.interleaved_id = std::string(v);
    } else if (absl::ConsumePrefix(&v, "pystrobe.arm=")) {
      table.arm = std::string(v);
    } else {
      ParseRunComment(c, &table.runs);
    }
  }
  auto units_of = [&](const char* key) -> int64_t {
    int64_t count = 1;
    for (const Sample& s : profile.samples) {
      const int64_t u = NumericLabel(s, key);
      if (u < 0 || u >= kMaxUnits) return 0;
      count = std::max(count, u + 1);
    }
    return count;
  };
  const char* unit_label = nullptr;
  int64_t unit_count = 1;
  const int64_t run_units = units_of("run");
  const int64_t batch_units = units_of("batch");
  if (run_units == 1 && runs_declared <= 1 && batch_units > 1) {
    // One launched run: its time batches are the units, judged like an
    // attached recording's (exchangeable batches are replicates; phases
    // are not).
    unit_label = "batch";
    unit_count = batch_units;
    table.units = UnitKind::kBatches;
    table.launched = true;
    table.single_run = true;
  } else if (int64_t runs = run_units; runs > 0) {
    unit_label = "run";
    unit_count = std::max(runs, runs_declared);
    table.units = UnitKind::kRuns;
    table.launched = true;
  } else if (int64_t batches = batch_units; batches > 0) {
    unit_label = "batch";
    unit_count = batches;
    table.units = UnitKind::kBatches;
  }
  table.accounting = table.runs;
  if (table.units != UnitKind::kRuns)
    table.runs.resize(table.single_run ? 1 : 0);
  if (table.units == UnitKind::kRuns) {
    table.runs.resize(static_cast<size_t>(unit_count));
  }
  const size_t units = static_cast<size_t>(unit_count);

  struct Accumulator {
    int64_t self = 0, total = 0;
    std::vector<int64_t> self_by_batch, total_by_batch;
    uint64_t last_sample = 0;  // 1 + index of the last sample counted
  };
  std::vector<Accumulator> acc(keys.size());
  // Edges by (caller, callee) key indices: their totals, and the samples
  // counted (to revisit for the edges kept).
  absl::flat_hash_map<uint64_t, int64_t> edge_total;
  // Leaf calls by (caller + 1, leaf) key indices (caller 0: none), per unit.
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> leaf_call_by_unit;
  std::vector<uint64_t> edge_scratch;
  struct Counted {
    size_t sample;
    uint32_t unit;
    int64_t weight;
  };
  std::vector<Counted> counted;
  table.value_type = profile.sample_types[wi];
  table.duration_ns = profile.duration_nanos;
  table.comments = profile.comments;
  table.total_by_unit.assign(units, 0);
  table.samples_by_unit.assign(units, 0);
  int64_t record_count = 0;

  for (size_t si = 0; si < profile.samples.size(); ++si) {
    const Sample& s = profile.samples[si];
    if (wi >= s.values.size()) continue;
    int64_t weight = s.values[wi];
    if (weight <= 0) continue;  // pprof diff profiles carry negatives
    // A thread that waited for a CPU (record found it in the run queue,
    // docs/sampling.md): the machine's time, not the code's.
    if (!options.keep_cpu_wait && IsCpuWait(s)) {
      ++table.cpu_wait_samples;
      continue;
    }
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
    const size_t batch = unit_label != nullptr
                             ? static_cast<size_t>(NumericLabel(s, unit_label))
                             : 0;
    table.grand_total += weight;
    table.total_by_unit[batch] += weight;
    ++record_count;
    if (ci >= 0 && static_cast<size_t>(ci) < s.values.size()) {
      table.sample_count += s.values[static_cast<size_t>(ci)];
      table.samples_by_unit[batch] += s.values[static_cast<size_t>(ci)];
    } else {
      table.samples_by_unit[batch] += 1;
    }
    bool leaf = true;
    int64_t leaf_key = -1, leaf_caller = -1;
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > key_of_location.size()) continue;
      const int64_t k = key_of_location[id - 1];
      if (k < 0) continue;
      if (leaf_key < 0) {
        leaf_key = k;
      } else if (k != leaf_key) {
        leaf_caller = k;  // the first other function: recursion folds
        break;
      }
    }
    if (leaf_key >= 0) {
      std::vector<int64_t>& v =
          leaf_call_by_unit[(static_cast<uint64_t>(leaf_caller + 1) << 32) |
                            static_cast<uint64_t>(leaf_key)];
      if (v.empty()) v.assign(units, 0);
      v[batch] += weight;
    }
    for (uint64_t id : s.location_ids) {
      if (id == 0 || id > key_of_location.size()) continue;
      int64_t k = key_of_location[id - 1];
      if (k < 0) continue;
      Accumulator& a = acc[static_cast<size_t>(k)];
      if (a.self_by_batch.empty()) {
        a.self_by_batch.assign(units, 0);
        a.total_by_batch.assign(units, 0);
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
    // Caller -> callee edges, once per sample each (recursion repeats them):
    // totals first; per unit, below, only for the edges worth keeping.
    ForEachEdge(s, key_of_location, &edge_scratch,
                [&](uint64_t edge) { edge_total[edge] += weight; });
    counted.push_back({si, static_cast<uint32_t>(batch), weight});
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
    stats.self_by_unit = std::move(a.self_by_batch);
    stats.total_by_unit = std::move(a.total_by_batch);
    table.functions.emplace(keys[k], std::move(stats));
  }
  // Only edges with at least kMinEdgeShare of the time are kept: they are
  // what attribution follows from a regression above the noise floor, and
  // a big profile's many tiny edges would cost memory out of proportion.
  const int64_t min_edge = static_cast<int64_t>(
      kMinEdgeShare * static_cast<double>(table.grand_total));
  absl::flat_hash_map<uint64_t, FunctionStats> kept;
  for (const auto& [edge, total] : edge_total) {
    if (total < std::max<int64_t>(1, min_edge)) continue;
    FunctionStats& e = kept[edge];
    e.total = total;
    e.total_by_unit.assign(units, 0);
  }
  for (const Counted& c : counted) {
    ForEachEdge(profile.samples[c.sample], key_of_location, &edge_scratch,
                [&](uint64_t edge) {
                  auto it = kept.find(edge);
                  if (it != kept.end())
                    it->second.total_by_unit[c.unit] += c.weight;
                });
  }
  table.edges.reserve(kept.size());
  for (auto& [edge, stats] : kept) {
    table.edges.emplace(EdgeKey{keys[edge >> 32], keys[edge & 0xffffffffu]},
                        std::move(stats));
  }
  for (auto& [call, by_unit] : leaf_call_by_unit) {
    FunctionStats stats;
    for (int64_t w : by_unit) stats.self += w;
    if (stats.self < std::max<int64_t>(1, min_edge)) continue;
    stats.total = stats.self;
    stats.self_by_unit = std::move(by_unit);
    const uint64_t caller = call >> 32;
    table.leaf_calls.emplace(
        EdgeKey{caller == 0 ? FunctionKey{} : keys[caller - 1],
                keys[call & 0xffffffffu]},
        std::move(stats));
  }
  return table;
}

}  // namespace pystrobe
