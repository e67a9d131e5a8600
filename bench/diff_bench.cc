// pystrobe-diff's cost on large profiles: two pprof files of 50,000
// distinct stacks each, as 10-run `record --repeat 10` profiles of a big
// service (every sample labelled with its run), decoded, reduced to
// function and call-edge tables and compared, as `pystrobe-diff compare BASE
// NEW` does. The target: under a second, memory proportional to the
// profiles.
#include <sys/resource.h>

#include <cstdio>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

constexpr int kStacks = 50000;
constexpr int kFunctions = 3000;

// A profile shaped like pystrobe record --repeat 10's: samples/count +
// wall/ns, thread and run labels, stacks of depth 5-40 over kFunctions
// functions.
std::string MakeProfile(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.default_sample_type = "wall";
  p.period_type = {"wall", "nanoseconds"};
  p.period = 10'000'000;
  p.duration_nanos = 600'000'000'000;
  p.comments = {"pystrobe.target=launched", "pystrobe.runs=10"};
  std::vector<uint64_t> locations;
  for (int f = 0; f < kFunctions; ++f) {
    uint64_t id = p.AddFunction(
        {absl::StrCat("module", f % 50, ".func", f), absl::StrCat("func", f),
         absl::StrCat("/srv/app/module", f % 50, ".py"), f * 10 + 1});
    for (int line = 0; line < 4; ++line) {
      locations.push_back(p.AddLocation({id, f * 10 + 2 + line}));
    }
  }
  std::uniform_int_distribution<size_t> loc(0, locations.size() - 1);
  std::uniform_int_distribution<int> depth(5, 40);
  std::uniform_int_distribution<int> count(1, 200);
  for (int s = 0; s < kStacks; ++s) {
    Sample sample;
    int d = depth(rng);
    for (int i = 0; i < d; ++i)
      sample.location_ids.push_back(locations[loc(rng)]);
    int n = count(rng);
    sample.values = {n, n * 10'000'000LL};
    sample.labels = {{"thread_name", "worker", 0, ""},
                     {"thread_id", "", 100 + s % 8, ""},
                     {"run", "", s % 10, ""}};
    p.samples.push_back(std::move(sample));
  }
  return EncodePprof(p).value();
}

void BM_CompareTenRunProfilesOfFiftyThousandStacks(benchmark::State& state) {
  static const std::string base_bytes = MakeProfile(1);
  static const std::string new_bytes = MakeProfile(2);
  for (auto _ : state) {
    Profile base = DecodePprof(base_bytes).value();
    Profile now = DecodePprof(new_bytes).value();
    FunctionTable base_table = BuildFunctionTable(base, {}).value();
    FunctionTable new_table = BuildFunctionTable(now, {}).value();
    Comparison c = Compare({base_table}, new_table, {}).value();
    benchmark::DoNotOptimize(c);
  }
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024;
  state.counters["pprof_KiB_each"] =
      static_cast<double>(base_bytes.size()) / 1024;
}
BENCHMARK(BM_CompareTenRunProfilesOfFiftyThousandStacks)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pystrobe

BENCHMARK_MAIN();
