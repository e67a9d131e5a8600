// Profiles as pystrobe record writes them (samples/count + wall/nanoseconds,
// a numeric "batch" label, 0..31, one Sample per stack and batch), simulated
// from an autocorrelated sampler: each tick repeats the previous stack with
// probability `stickiness`, else draws a fresh one from the workload's
// weights. Deterministic for a seed.
#ifndef PYSTROBE_TESTS_UNIT_DIFF_SIMULATED_RUNS_H_
#define PYSTROBE_TESTS_UNIT_DIFF_SIMULATED_RUNS_H_

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe::testing {

struct Workload {
  // Root first; a frame is "name" or "name:line".
  std::vector<std::vector<std::string>> stacks;
  std::vector<double> weights;  // of each stack, any scale
  double stickiness = 0.9;
  int samples = 100000;
  int batches = 32;
  int64_t period_ns = 10'000'000;
  std::string weight_type = "wall";
  bool batch_labels = true;  // false: a foreign profile, one sample type
  bool count_type = true;    // samples/count first
};

// A web-service-like workload: parse 20%, render 25% (escape 10 of it),
// db_query 30% (decode 10 of it), log 8%, fib (recursive) 12%, gc 4.9%,
// tiny 0.1% (under the default noise floor of 0.5% even when doubled).
inline Workload ServiceWorkload() {
  Workload w;
  w.stacks = {{"main", "serve", "parse"},
              {"main", "serve", "render"},
              {"main", "serve", "render", "escape"},
              {"main", "serve", "db_query"},
              {"main", "serve", "db_query", "decode"},
              {"main", "log"},
              {"main", "fib", "fib", "fib"},
              {"main", "tiny"},
              {"main", "gc"}};
  w.weights = {0.20, 0.15, 0.10, 0.20, 0.10, 0.08, 0.12, 0.001, 0.049};
  return w;
}

// The workload with the stacks whose leaf is `leaf` weighing `factor` times
// more (the others keep theirs, so shares renormalize).
inline Workload Scaled(Workload w, const std::string& leaf, double factor) {
  for (size_t i = 0; i < w.stacks.size(); ++i) {
    if (w.stacks[i].back() == leaf) w.weights[i] *= factor;
  }
  return w;
}

inline Profile Simulate(const Workload& w, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::discrete_distribution<int> draw(w.weights.begin(), w.weights.end());
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int64_t> jitter(-w.period_ns / 10,
                                                w.period_ns / 10);
  // (stack, batch) -> (count, weight)
  std::map<std::pair<int, int>, std::pair<int64_t, int64_t>> cells;
  int current = draw(rng);
  for (int i = 0; i < w.samples; ++i) {
    if (i > 0 && unit(rng) >= w.stickiness) current = draw(rng);
    int batch = static_cast<int>(int64_t{i} * w.batches / w.samples);
    auto& cell = cells[{current, batch}];
    cell.first += 1;
    cell.second += w.period_ns + jitter(rng);
  }
  Profile p;
  if (w.count_type) p.sample_types.push_back({"samples", "count"});
  p.sample_types.push_back({w.weight_type, "nanoseconds"});
  p.default_sample_type = w.weight_type;
  p.period_type = {w.weight_type, "nanoseconds"};
  p.period = w.period_ns;
  p.duration_nanos = int64_t{w.samples} * w.period_ns;
  if (w.batch_labels) {
    p.comments.push_back(
        absl::StrCat("pystrobe.batch_ns=", p.duration_nanos / w.batches));
  }
  std::vector<std::vector<uint64_t>> stack_locations;
  for (const auto& stack : w.stacks) {
    std::vector<uint64_t> ids;
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
      std::vector<absl::string_view> parts = absl::StrSplit(*it, ':');
      int64_t line = 0;
      if (parts.size() > 1 && !absl::SimpleAtoi(parts[1], &line)) line = 0;
      std::string name(parts[0]);
      uint64_t f = p.AddFunction({name, name, "/srv/app.py", 1});
      ids.push_back(p.AddLocation({f, line}));
    }
    stack_locations.push_back(std::move(ids));
  }
  for (const auto& [key, value] : cells) {
    Sample s;
    s.location_ids = stack_locations[static_cast<size_t>(key.first)];
    if (w.count_type) s.values.push_back(value.first);
    s.values.push_back(value.second);
    s.labels.push_back(Label{"thread_name", "MainThread", 0, ""});
    s.labels.push_back(Label{"thread_id", "", 4242, ""});
    if (w.batch_labels) s.labels.push_back(Label{"batch", "", key.second, ""});
    p.samples.push_back(std::move(s));
  }
  return p;
}

// Launched runs of fixed work, as `pystrobe record --repeat` writes them:
// run r is Simulate(per_run[r]) with its own seed, its weights scaled by
// speed[r] (the machine's speed in that run), every sample labelled "run",
// and the comments of a launched recording.
inline Profile SimulateRunsOf(const std::vector<Workload>& per_run,
                              const std::vector<double>& speed, uint64_t seed) {
  Profile out;
  const int runs = static_cast<int>(per_run.size());
  for (int r = 0; r < runs; ++r) {
    Profile one = Simulate(per_run[static_cast<size_t>(r)],
                           seed * 1000 + static_cast<uint64_t>(r));
    const double factor = speed[static_cast<size_t>(r)];
    if (r == 0) {
      out.sample_types = one.sample_types;
      out.default_sample_type = one.default_sample_type;
      out.period_type = one.period_type;
      out.period = one.period;
    }
    out.duration_nanos += one.duration_nanos;
    std::vector<uint64_t> map(one.locations.size() + 1);
    for (size_t i = 0; i < one.locations.size(); ++i) {
      const Location& l = one.locations[i];
      map[i + 1] =
          out.AddLocation({out.AddFunction(one.FunctionOf(l)), l.line});
    }
    for (Sample s : one.samples) {
      for (uint64_t& id : s.location_ids) id = map[id];
      s.values.back() = static_cast<int64_t>(
          std::llround(static_cast<double>(s.values.back()) * factor));
      s.labels.push_back(Label{"run", "", r, ""});
      out.samples.push_back(std::move(s));
    }
  }
  out.comments.push_back("pystrobe.target=launched");
  out.comments.push_back(absl::StrCat("pystrobe.runs=", runs));
  return out;
}

// `runs` runs of the same workload, each at a machine-speed factor drawn
// lognormal (sd `speed_sd`) around `speed`.
inline Profile SimulateRuns(const Workload& w, int runs, uint64_t seed,
                            double speed_sd = 0.05, double speed = 1.0) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::normal_distribution<double> log_speed(0, speed_sd);
  std::vector<double> speeds;
  for (int r = 0; r < runs; ++r) {
    speeds.push_back(speed * std::exp(log_speed(rng)));
  }
  return SimulateRunsOf(std::vector<Workload>(static_cast<size_t>(runs), w),
                        speeds, seed);
}

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_DIFF_SIMULATED_RUNS_H_
