#include "summary.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace pystrobe {

std::string DescribeErrors(const SamplerStats& stats) {
  const SampleErrors& e = stats.causes;
  std::vector<std::string> parts;
  auto part = [&parts](uint64_t n, const char* what) {
    if (n > 0) parts.push_back(absl::StrFormat("%s %d", what, n));
  };
  part(e.torn, "torn");
  part(e.page_gone, "page gone");
  part(e.thread_exited, "thread exited");
  part(e.woke, "woke while read");
  part(e.task, "asyncio task torn");
  part(e.other, "other");
  part(e.native, "recorded without native frames");
  std::string out = absl::StrJoin(parts, ", ");
  if (stats.recovered > 0) {
    if (!out.empty()) out += "; ";
    absl::StrAppendFormat(&out, "%d torn stack%s recovered by a re-read",
                          stats.recovered, stats.recovered == 1 ? "" : "s");
  }
  return out;
}

std::string FormatSummary(const Profile& profile, const SamplerStats& stats,
                          const std::string& output_path,
                          const std::string& end) {
  const double seconds = static_cast<double>(stats.elapsed_ns) / 1e9;
  const std::string errors = DescribeErrors(stats);
  std::string out = absl::StrFormat(
      "pystrobe: %d samples in %.1f s (%d ticks, %.1f Hz), %d late, %d "
      "missed, %d errors%s%s\n",
      stats.samples, seconds, stats.ticks,
      seconds > 0 ? static_cast<double>(stats.ticks) / seconds : 0.0,
      stats.late, stats.missed, stats.errors,
      errors.empty() ? "" : absl::StrCat(" (", errors, ")"),
      !end.empty()          ? absl::StrCat("; ", end)
      : stats.target_exited ? "; the target exited"
                            : "");
  if (std::string shortfall = RateShortfall(stats); !shortfall.empty()) {
    absl::StrAppendFormat(&out, "pystrobe: warning: %s\n", shortfall);
  }
  // Self time: the weight of samples whose leaf is the function.
  const size_t value = profile.sample_types.size() - 1;
  absl::flat_hash_map<uint64_t, int64_t> self;
  int64_t total = 0;
  for (const Sample& s : profile.samples) {
    if (s.location_ids.empty() || s.values.size() <= value) continue;
    self[profile.LocationAt(s.location_ids.front()).function_id] +=
        s.values[value];
    total += s.values[value];
  }
  std::vector<std::pair<uint64_t, int64_t>> top(self.begin(), self.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (top.size() > 10) top.resize(10);
  if (total > 0) {
    absl::StrAppendFormat(&out, "Top functions by self %s time:\n",
                          profile.sample_types.back().type);
    for (const auto& [id, weight] : top) {
      const Function& f = profile.functions[id - 1];
      absl::StrAppendFormat(
          &out, "  %5.1f%%  %s (%s:%d)\n",
          100.0 * static_cast<double>(weight) / static_cast<double>(total),
          f.name, f.filename, f.start_line);
    }
  }
  absl::StrAppendFormat(&out, "pystrobe: wrote %s\n", output_path);
  if (output_path.size() > 6 &&
      output_path.compare(output_path.size() - 6, 6, ".pb.gz") == 0) {
    absl::StrAppendFormat(&out, "  view it with: go tool pprof -http=: %s\n",
                          output_path);
  }
  return out;
}

std::string FormatProcessesSummary(const RecordingResult& result) {
  std::string out;
  const std::vector<ProcessSummary>& ps = result.processes;
  if (ps.size() > 1) {
    absl::StrAppendFormat(&out, "pystrobe: %d processes sampled:\n", ps.size());
    constexpr size_t kShown = 20;
    for (size_t i = 0; i < ps.size() && i < kShown; ++i) {
      std::string command = ps[i].process;
      if (command.size() > 60) command = command.substr(0, 57) + "...";
      absl::StrAppendFormat(&out, "  pid %-7d %8d samples%s  %s\n", ps[i].pid,
                            ps[i].stats.samples,
                            ps[i].exited ? " (exited)" : "", command);
    }
    if (ps.size() > kShown) {
      absl::StrAppendFormat(&out, "  ... and %d more\n", ps.size() - kShown);
    }
  }
  for (const ProcessSummary& p : ps) {
    if (p.async_note.empty()) continue;
    absl::StrAppendFormat(&out, "pystrobe: process %d: %s\n", p.pid,
                          p.async_note);
  }
  for (const ChildrenHint& h : result.hints) {
    std::uint64_t samples = 0;
    for (const ProcessSummary& p : ps) {
      if (p.pid == h.pid) samples = p.stats.samples;
    }
    std::vector<std::string> pids;
    for (pid_t c : h.python_children) pids.push_back(absl::StrCat(c));
    absl::StrAppendFormat(
        &out,
        "pystrobe: process %d did almost no Python work (%d samples: its "
        "threads were idle) but has Python child processes (%s%s): record "
        "them too with --subprocesses\n",
        h.pid, samples, absl::StrJoin(pids, ", "),
        h.python_children.size() >= 8 ? ", ..." : "");
  }
  return out;
}

}  // namespace pystrobe
