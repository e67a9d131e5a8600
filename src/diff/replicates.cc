#include "replicates.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "statistics.h"

namespace pystrobe::diff {
namespace {

// Which replicate column each unit of a table goes to (-1: left out).
struct Columns {
  std::vector<int> of_unit;
};

// The usable batches of a single attached recording, or empty when they do
// not pass as exchangeable. Sets the side's test outcome.
std::vector<int> ExchangeableBatches(const FunctionTable& t, Side* side) {
  std::vector<int> usable;
  if (t.units != UnitKind::kBatches) return usable;
  std::vector<double> totals;
  for (int64_t w : t.total_by_unit) {
    if (w > 0) totals.push_back(static_cast<double>(w));
  }
  const double median = stats::Median(totals);
  for (size_t u = 0; u < t.total_by_unit.size(); ++u) {
    if (static_cast<double>(t.total_by_unit[u]) >= 0.25 * median) {
      usable.push_back(static_cast<int>(u));
    }
  }
  if (static_cast<int>(usable.size()) < kMinBatchReplicates) return {};
  // The main functions by self time: their shares batch by batch.
  std::vector<std::pair<double, const FunctionStats*>> main;
  for (const auto& [key, f] : t.functions) {
    const double share =
        static_cast<double>(f.self) / static_cast<double>(t.grand_total);
    if (share >= 0.02) main.emplace_back(share, &f);
  }
  std::sort(main.begin(), main.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  if (main.size() > 10) main.resize(10);
  double z_sum = 0, weight_sum = 0;
  for (const auto& [share, f] : main) {
    std::vector<double> x;
    x.reserve(usable.size());
    for (int u : usable) {
      x.push_back(static_cast<double>(f->self_by_unit[static_cast<size_t>(u)]) /
                  static_cast<double>(t.total_by_unit[static_cast<size_t>(u)]));
    }
    z_sum += share * stats::VonNeumannZ(x);
    weight_sum += share;
  }
  side->batches_tested = true;
  side->batches_z = weight_sum > 0 ? z_sum / weight_sum : 0;
  if (side->batches_z < kExchangeableZ) return {};
  return usable;
}

}  // namespace

const char* KindName(ReplicateKind kind) {
  switch (kind) {
    case ReplicateKind::kRuns:
      return "runs";
    case ReplicateKind::kEntries:
      return "entries";
    case ReplicateKind::kBatches:
      return "time batches";
    case ReplicateKind::kSingle:
      return "single recording";
  }
  return "?";
}

Side BuildSide(const std::vector<const FunctionTable*>& tables,
               bool split_single_run) {
  Side side;
  side.launched = !tables.empty();
  bool all_runs = true;
  for (const FunctionTable* t : tables) {
    const bool one_run = t->single_run && !split_single_run;
    side.launched = side.launched && t->launched &&
                    (t->units == UnitKind::kRuns || one_run);
    all_runs = all_runs && (t->units == UnitKind::kRuns || one_run);
  }
  // Column assignment per table.
  std::vector<Columns> columns(tables.size());
  int n = 0;
  if (tables.size() == 1 && !all_runs) {
    const std::vector<int> batches = ExchangeableBatches(*tables[0], &side);
    Columns& c = columns[0];
    c.of_unit.assign(tables[0]->total_by_unit.size(), -1);
    if (!batches.empty()) {
      for (int u : batches) c.of_unit[static_cast<size_t>(u)] = n++;
      side.kind = ReplicateKind::kBatches;
    } else {
      std::fill(c.of_unit.begin(), c.of_unit.end(), 0);
      n = 1;
      side.kind = ReplicateKind::kSingle;
    }
  } else {
    for (size_t i = 0; i < tables.size(); ++i) {
      const FunctionTable& t = *tables[i];
      Columns& c = columns[i];
      if (t.units == UnitKind::kRuns) {
        c.of_unit.resize(t.total_by_unit.size());
        for (int& col : c.of_unit) col = n++;
        for (size_t r = 0; r < t.total_by_unit.size(); ++r) {
          side.runs.push_back(r < t.runs.size() ? t.runs[r] : RunInfo{});
        }
      } else if (t.single_run) {
        // One launched run, whole: its batches are one column.
        c.of_unit.assign(t.total_by_unit.size(), n++);
        side.runs.push_back(t.runs.empty() ? RunInfo{} : t.runs[0]);
      } else {
        c.of_unit.assign(t.total_by_unit.size(), n++);
      }
    }
    side.kind =
        tables.size() > 1 ? ReplicateKind::kEntries : ReplicateKind::kRuns;
    if (n == 1 && side.kind == ReplicateKind::kRuns) {
      side.kind = ReplicateKind::kSingle;
    }
  }
  side.n = std::max(n, 1);
  const size_t cols = static_cast<size_t>(side.n);
  side.total.assign(cols, 0);
  side.samples.assign(cols, 0);
  double samples = 0;
  for (size_t i = 0; i < tables.size(); ++i) {
    const FunctionTable& t = *tables[i];
    side.all_runs.insert(side.all_runs.end(), t.accounting.begin(),
                         t.accounting.end());
    const std::vector<int>& of = columns[i].of_unit;
    for (size_t u = 0; u < of.size(); ++u) {
      if (of[u] < 0) continue;
      side.total[static_cast<size_t>(of[u])] +=
          static_cast<double>(t.total_by_unit[u]);
      side.samples[static_cast<size_t>(of[u])] +=
          static_cast<double>(t.samples_by_unit[u]);
    }
    side.grand_total += static_cast<double>(t.grand_total);
    side.duration_s += static_cast<double>(t.duration_ns) / 1e9;
    samples += static_cast<double>(t.sample_count);
    for (const auto& [key, f] : t.functions) {
      Series& s = side.functions[key];
      if (s.self.empty()) {
        s.self.assign(cols, 0);
        s.total.assign(cols, 0);
      }
      for (size_t u = 0; u < of.size(); ++u) {
        if (of[u] < 0) continue;
        s.self[static_cast<size_t>(of[u])] +=
            static_cast<double>(f.self_by_unit[u]);
        s.total[static_cast<size_t>(of[u])] +=
            static_cast<double>(f.total_by_unit[u]);
      }
    }
    auto add = [&](const absl::flat_hash_map<EdgeKey, FunctionStats>& from,
                   bool self,
                   absl::flat_hash_map<EdgeKey, std::vector<double>>* to) {
      for (const auto& [key, e] : from) {
        std::vector<double>& v = (*to)[key];
        if (v.empty()) v.assign(cols, 0);
        const std::vector<int64_t>& by_unit =
            self ? e.self_by_unit : e.total_by_unit;
        for (size_t u = 0; u < of.size() && u < by_unit.size(); ++u) {
          if (of[u] < 0) continue;
          v[static_cast<size_t>(of[u])] += static_cast<double>(by_unit[u]);
        }
      }
    };
    add(t.edges, /*self=*/false, &side.edges);
    add(t.leaf_calls, /*self=*/true, &side.leaf_calls);
  }
  side.weight_per_sample = samples > 0 ? side.grand_total / samples : 0;
  switch (side.kind) {
    case ReplicateKind::kRuns:
      side.description = absl::StrCat(side.n, " runs");
      break;
    case ReplicateKind::kEntries:
      side.description = absl::StrCat(side.n, " replicates from ",
                                      tables.size(), " baseline entries");
      break;
    case ReplicateKind::kBatches:
      side.description = absl::StrFormat(
          "%d time batches of one recording (exchangeable: von Neumann z "
          "%.2f)",
          side.n, side.batches_z);
      break;
    case ReplicateKind::kSingle:
      side.description =
          side.batches_tested
              ? absl::StrFormat(
                    "1 recording (its time batches are not exchangeable: "
                    "von Neumann z %.2f, phases or a trend)",
                    side.batches_z)
              : "1 recording";
      break;
  }
  return side;
}

}  // namespace pystrobe::diff
