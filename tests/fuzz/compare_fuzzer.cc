// libFuzzer target for the comparison pystrobe-diff runs on profiles from
// CI artifacts: the bytes describe a baseline (one to three profiles) and a
// new profile as pystrobe writes them (samples on stacks over a small set
// of functions, `run` or `batch` labels, cpu_wait labels, run accounting
// and interleaved-arm comments, any weights), which go through
// BuildFunctionTable, Compare() with fuzzed options, and every report.
// Structured rather than raw pprof bytes (pprof_fuzzer covers the decoder):
// the statistics then see what a decoded file can give them, zero and huge
// weights, one run against many, runs missing on one side, accounting that
// says the machine was overloaded.
//
// Invariants: Compare gives a comparison or one InvalidArgument; p-values
// lie in [0, 1]; a comparison fails only with a regression (or a new
// function under fail_on_new), never on data it calls overloaded; each
// regression group has a head.
//
// Seeds: none needed (every input is a valid description).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/diff/report.h"
#include "pystrobe/profile/profile.h"

namespace {

using pystrobe::Profile;

// Not assert(): fuzz builds may define NDEBUG.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "compare fuzzer invariant broken: %s\n", what);
    __builtin_trap();
  }
}

constexpr const char* kNames[] = {"main",     "render_page", "spin",
                                  "db_query", "helper",      "<module>"};
constexpr int kFunctions = sizeof(kNames) / sizeof(kNames[0]);

double FuzzSeconds(FuzzedDataProvider* in) {
  // -1 (not recorded) now and then, else 0..100 s.
  if (in->ConsumeIntegralInRange(0, 7) == 0) return -1;
  return in->ConsumeFloatingPointInRange(0.0, 100.0);
}

Profile FuzzProfile(FuzzedDataProvider* in, const std::string& interleaved,
                    const char* arm) {
  Profile p;
  p.sample_types.push_back({"wall", "nanoseconds"});
  p.period_type = {"wall", "nanoseconds"};
  p.period = 1000000;
  p.duration_nanos = in->ConsumeIntegralInRange<int64_t>(0, int64_t{1} << 40);
  for (int f = 0; f < kFunctions; ++f) {
    p.functions.push_back({kNames[f], kNames[f], "app.py", 10 * f});
    p.locations.push_back({static_cast<uint64_t>(f + 1), 10 * f + 1, 0});
  }
  const int unit_kind = in->ConsumeIntegralInRange(0, 2);  // run/batch/none
  const int units = in->ConsumeIntegralInRange(1, 8);
  if (unit_kind == 0) {
    p.comments.push_back("pystrobe.target=launched");
    p.comments.push_back(absl::StrCat("pystrobe.runs=", units));
    for (int r = 0; r < units; ++r) {
      if (in->ConsumeBool()) continue;
      p.comments.push_back(absl::StrCat(
          "pystrobe.run.", r, "=wall_s=", FuzzSeconds(in),
          " cpu_s=", FuzzSeconds(in), " exit=0 ran_s=", FuzzSeconds(in),
          " wait_s=", FuzzSeconds(in),
          " waits=", in->ConsumeIntegralInRange(-1, 100000)));
    }
  }
  if (!interleaved.empty()) {
    p.comments.push_back(absl::StrCat("pystrobe.interleaved=", interleaved));
    p.comments.push_back(absl::StrCat("pystrobe.arm=", arm));
  }
  const int samples = in->ConsumeIntegralInRange(0, 64);
  for (int s = 0; s < samples && in->remaining_bytes() > 0; ++s) {
    pystrobe::Sample sample;
    const int depth = in->ConsumeIntegralInRange(1, 5);
    for (int d = 0; d < depth; ++d) {
      sample.location_ids.push_back(
          in->ConsumeIntegralInRange<uint64_t>(1, kFunctions));
    }
    // Weights from nothing to a long time, a few extreme.
    sample.values.push_back(
        in->ConsumeBool()
            ? in->ConsumeIntegralInRange<int64_t>(0, 50000000)
            : in->ConsumeIntegralInRange<int64_t>(0, int64_t{1} << 50));
    if (unit_kind < 2) {
      sample.labels.push_back({unit_kind == 0 ? "run" : "batch", "",
                               in->ConsumeIntegralInRange(0, units - 1), ""});
    }
    if (in->ConsumeIntegralInRange(0, 15) == 0) {
      sample.labels.push_back({"cpu_wait", "true", 0, ""});
    }
    p.samples.push_back(std::move(sample));
  }
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pystrobe;  // NOLINT(build/namespaces): a fuzz harness
  FuzzedDataProvider in(data, size);
  const bool interleave = in.ConsumeIntegralInRange(0, 3) == 0;
  const std::string id = interleave ? "fuzz" : "";
  TableOptions table_options;
  table_options.keep_cpu_wait = in.ConsumeBool();
  table_options.by =
      in.ConsumeBool() ? Granularity::kFunction : Granularity::kLine;

  std::vector<FunctionTable> base;
  const int base_count = interleave ? 1 : in.ConsumeIntegralInRange(1, 3);
  for (int b = 0; b < base_count; ++b) {
    absl::StatusOr<FunctionTable> t =
        BuildFunctionTable(FuzzProfile(&in, id, "base"), table_options);
    if (!t.ok()) return 0;
    base.push_back(*std::move(t));
  }
  absl::StatusOr<FunctionTable> now =
      BuildFunctionTable(FuzzProfile(&in, id, "new"), table_options);
  if (!now.ok()) return 0;

  CompareOptions options;
  options.threshold_pct = in.ConsumeFloatingPointInRange(0.0, 200.0);
  options.alpha = in.ConsumeFloatingPointInRange(1e-6, 0.5);
  options.min_share = in.ConsumeFloatingPointInRange(0.0, 0.5);
  options.min_samples = in.ConsumeFloatingPointInRange(0.0, 100.0);
  options.metric =
      in.PickValueInArray({Metric::kSelf, Metric::kTotal, Metric::kBoth});
  options.normalize =
      in.PickValueInArray({Normalize::kAuto, Normalize::kTime,
                           Normalize::kShare, Normalize::kNone});
  options.fail_on_new = in.ConsumeBool();

  absl::StatusOr<Comparison> c = Compare(base, *now, options);
  if (!c.ok()) {
    Check(c.status().code() == absl::StatusCode::kInvalidArgument,
          "a comparison that cannot be made is not InvalidArgument");
    return 0;
  }
  int regression_rows = 0, heads = 0;
  for (const FunctionDiff& d : c->rows) {
    Check(!(d.p_value < 0) && !(d.p_value > 1), "a p-value outside [0, 1]");
    if (d.verdict == Verdict::kRegression) {
      ++regression_rows;
      if (!d.affected) ++heads;
    }
  }
  Check(heads == c->regressions, "regressions are not their groups' heads");
  Check(c->regressions <= regression_rows, "more regressions than rows");
  Check(!c->failed || c->regressions > 0 ||
            (options.fail_on_new && c->new_functions > 0),
        "failed without a regression");
  Check(!(c->overloaded && c->failed), "failed on an overloaded machine");

  ReportOptions report;
  report.compare = options;
  (void)RenderTable(*c, report);
  (void)RenderJson(*c, report);
  (void)RenderCsv(*c, report);
  (void)RenderMarkdown(*c, report);
  (void)VerdictLine(*c);
  return 0;
}
