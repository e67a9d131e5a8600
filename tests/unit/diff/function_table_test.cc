#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/profile/profile.h"
#include "simulated_runs.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// main -> fib -> fib (leaf fib), main -> parse; two batches; a few lines.
Profile Hand() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.default_sample_type = "wall";
  uint64_t main_f = p.AddFunction({"main", "main", "/a.py", 1});
  uint64_t fib = p.AddFunction({"Calc.fib", "fib", "/a.py", 10});
  uint64_t parse = p.AddFunction({"parse", "parse", "/b.py", 1});
  uint64_t main_l = p.AddLocation({main_f, 3});
  uint64_t fib_11 = p.AddLocation({fib, 11});
  uint64_t fib_12 = p.AddLocation({fib, 12});
  uint64_t parse_5 = p.AddLocation({parse, 5});
  uint64_t parse_6 = p.AddLocation({parse, 6});
  auto batch = [](int64_t b) {
    return std::vector<Label>{{"thread_name", "MainThread", 0, ""},
                              {"batch", "", b, ""}};
  };
  p.samples.push_back({{fib_12, fib_11, main_l}, {3, 300}, batch(0)});
  p.samples.push_back({{parse_5, main_l}, {1, 100}, batch(0)});
  p.samples.push_back({{parse_6, main_l}, {2, 200}, batch(1)});
  p.samples.push_back({{main_l}, {1, 50}, batch(1)});
  return p;
}

TEST(FunctionTableTest, SelfTotalAndBatches) {
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->value_type, (ValueType{"wall", "nanoseconds"}));
  EXPECT_EQ(t->grand_total, 650);
  EXPECT_EQ(t->sample_count, 7);
  EXPECT_THAT(t->total_by_unit, ElementsAre(400, 250));
  ASSERT_EQ(t->functions.size(), 3u);
  const FunctionStats& fib = t->functions.at({"Calc.fib", "/a.py", 0});
  EXPECT_EQ(fib.self, 300);
  EXPECT_EQ(fib.total, 300);  // recursion counted once per sample
  EXPECT_THAT(fib.total_by_unit, ElementsAre(300, 0));
  const FunctionStats& main_f = t->functions.at({"main", "/a.py", 0});
  EXPECT_EQ(main_f.self, 50);
  EXPECT_EQ(main_f.total, 650);
  EXPECT_THAT(main_f.self_by_unit, ElementsAre(0, 50));
  const FunctionStats& parse = t->functions.at({"parse", "/b.py", 0});
  EXPECT_EQ(parse.self, 300);
  EXPECT_THAT(parse.self_by_unit, ElementsAre(100, 200));
}

TEST(FunctionTableTest, SampleTypeByName) {
  TableOptions options;
  options.sample_type = "samples";
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), options);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->grand_total, 7);
  EXPECT_EQ(t->functions.at({"parse", "/b.py", 0}).self, 3);
  options.sample_type = "cpu";
  EXPECT_THAT(BuildFunctionTable(Hand(), options),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FunctionTableTest, ByLine) {
  TableOptions options;
  options.by = Granularity::kLine;
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), options);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->functions.size(), 5u);
  EXPECT_EQ(t->functions.at({"parse", "/b.py", 5}).self, 100);
  EXPECT_EQ(t->functions.at({"parse", "/b.py", 6}).self, 200);
  EXPECT_EQ(t->functions.at({"Calc.fib", "/a.py", 12}).self, 300);
  EXPECT_EQ(t->functions.at({"Calc.fib", "/a.py", 11}).self, 0);
  EXPECT_EQ(t->functions.at({"Calc.fib", "/a.py", 11}).total, 300);
}

TEST(FunctionTableTest, IgnoreDropsWholeSamples) {
  TableOptions options;
  options.ignore = {"^Calc\\.fib "};
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), options);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->grand_total, 350);  // as pprof -ignore: fib's samples go
  EXPECT_EQ(t->sample_count, 4);
  EXPECT_FALSE(t->functions.contains({"Calc.fib", "/a.py", 0}));
  EXPECT_EQ(t->functions.at({"main", "/a.py", 0}).total, 350);
  // On the file part too.
  options.ignore = {"/b\\.py$"};
  t = BuildFunctionTable(Hand(), options);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->grand_total, 350);
  EXPECT_FALSE(t->functions.contains({"parse", "/b.py", 0}));
}

TEST(FunctionTableTest, BadIgnoreAndEverythingIgnored) {
  TableOptions options;
  options.ignore = {"(unclosed"};
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), options);
  EXPECT_THAT(t, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("(unclosed"));
  options.ignore = {"main"};
  EXPECT_THAT(BuildFunctionTable(Hand(), options),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FunctionTableTest, EmptyProfiles) {
  Profile empty;
  empty.sample_types = {{"wall", "nanoseconds"}};
  EXPECT_THAT(BuildFunctionTable(empty, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  Profile zeros = Hand();
  for (Sample& s : zeros.samples) s.values = {0, 0};
  EXPECT_THAT(BuildFunctionTable(zeros, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BuildFunctionTable(Profile{}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Go's runtime/pprof shape: no batch labels, no samples/count, a period.
TEST(FunctionTableTest, ForeignProfileIsOneUnit) {
  testing::Workload w = testing::ServiceWorkload();
  w.samples = 1000;
  w.batch_labels = false;
  w.count_type = false;
  w.weight_type = "cpu";
  Profile p = testing::Simulate(w, 7);
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->value_type, (ValueType{"cpu", "nanoseconds"}));
  EXPECT_EQ(t->total_by_unit.size(), 1u);
  EXPECT_EQ(t->total_by_unit[0], t->grand_total);
  // From the period: about 1000 samples of 10 ms (jitter averages out).
  EXPECT_NEAR(static_cast<double>(t->sample_count), 1000, 30);
  EXPECT_EQ(t->functions.at({"main", "/srv/app.py", 0}).total, t->grand_total);
}

TEST(FunctionTableTest, SimulatedRecordShape) {
  Profile p = testing::Simulate(testing::ServiceWorkload(), 1);
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->sample_count, 100000);
  EXPECT_EQ(t->total_by_unit.size(), 32u);
  int64_t sum = 0;
  for (int64_t w : t->total_by_unit) sum += w;
  EXPECT_EQ(sum, t->grand_total);
  const FunctionStats& fib = t->functions.at({"fib", "/srv/app.py", 0});
  EXPECT_EQ(fib.self, fib.total);
  double share =
      static_cast<double>(fib.total) / static_cast<double>(t->grand_total);
  EXPECT_NEAR(share, 0.12, 0.03);
}

// A --repeat profile: the runs are the units, the comments say how each
// run went; every caller -> callee edge is counted once per sample.
TEST(FunctionTableTest, RunsAndEdges) {
  Profile p = testing::SimulateRuns(testing::ServiceWorkload(), 3, 5);
  p.comments.push_back("pystrobe.run.1=wall_s=2.5 cpu_s=2.25 exit=3");
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->units, UnitKind::kRuns);
  EXPECT_TRUE(t->launched);
  ASSERT_EQ(t->total_by_unit.size(), 3u);
  ASSERT_EQ(t->runs.size(), 3u);
  EXPECT_DOUBLE_EQ(t->runs[1].wall_s, 2.5);
  EXPECT_DOUBLE_EQ(t->runs[1].cpu_s, 2.25);
  EXPECT_EQ(t->runs[1].exit_code, 3);
  EXPECT_EQ(t->runs[0].exit_code, -1);
  const FunctionKey serve{"serve", "/srv/app.py", 0};
  const FunctionKey render{"render", "/srv/app.py", 0};
  const FunctionKey fib{"fib", "/srv/app.py", 0};
  const FunctionStats& edge = t->edges.at({serve, render});
  // serve -> render is on every stack that has render (escape's too).
  EXPECT_EQ(edge.total, t->functions.at(render).total);
  int64_t sum = 0;
  for (int64_t w : edge.total_by_unit) sum += w;
  EXPECT_EQ(sum, edge.total);
  // Recursion makes no self-edge.
  EXPECT_FALSE(t->edges.contains({fib, fib}));
}

TEST(FunctionTableTest, AttachedRecordingsHaveBatches) {
  absl::StatusOr<FunctionTable> t =
      BuildFunctionTable(testing::Simulate(testing::ServiceWorkload(), 2), {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->units, UnitKind::kBatches);
  EXPECT_FALSE(t->launched);
  EXPECT_TRUE(t->runs.empty());
}

// Self time split by the leaf's caller: a partition of the samples (their
// weights sum to the grand total), recursion folded into one caller.
TEST(FunctionTableTest, LeafCallsPartitionTheSamples) {
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(Hand(), {});
  ASSERT_THAT(t, IsOk());
  const FunctionKey main_k{"main", "/a.py", 0};
  const FunctionKey fib_k{"Calc.fib", "/a.py", 0};
  const FunctionKey parse_k{"parse", "/b.py", 0};
  ASSERT_EQ(t->leaf_calls.size(), 3u);
  EXPECT_EQ(t->leaf_calls.at({main_k, fib_k}).self, 300);  // fib <- fib <- main
  EXPECT_THAT(t->leaf_calls.at({main_k, parse_k}).self_by_unit,
              ElementsAre(100, 200));
  EXPECT_EQ(t->leaf_calls.at({FunctionKey{}, main_k}).self, 50);  // a root
  int64_t sum = 0;
  for (const auto& [call, stats] : t->leaf_calls) sum += stats.self;
  EXPECT_EQ(sum, t->grand_total);
}

// One launched run: its time batches are its units (a steady run is judged
// by them, docs/statistics.md); several runs keep runs.
TEST(FunctionTableTest, OneLaunchedRunIsCutIntoItsBatches) {
  testing::Workload w = testing::ServiceWorkload();
  w.samples = 4000;
  w.batches = 8;
  absl::StatusOr<FunctionTable> one =
      BuildFunctionTable(testing::SimulateRuns(w, 1, 3), {});
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->units, UnitKind::kBatches);
  EXPECT_TRUE(one->launched);
  EXPECT_TRUE(one->single_run);
  EXPECT_EQ(one->total_by_unit.size(), 8u);
  absl::StatusOr<FunctionTable> two =
      BuildFunctionTable(testing::SimulateRuns(w, 2, 3), {});
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->units, UnitKind::kRuns);
  EXPECT_FALSE(two->single_run);
}

TEST(FunctionTableTest, InterleavedArms) {
  Profile p = testing::SimulateRuns(testing::ServiceWorkload(), 2, 4);
  p.comments.push_back("pystrobe.interleaved=00ff00ff00ff00ff");
  p.comments.push_back("pystrobe.arm=base");
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->interleaved_id, "00ff00ff00ff00ff");
  EXPECT_EQ(t->arm, "base");
}

// Samples of a thread waiting for a CPU (label cpu_wait=true) are the
// machine's time: left out unless asked for.
TEST(FunctionTableTest, CpuWaitSamplesAreLeftOut) {
  Profile p = Hand();
  p.samples[1].labels.push_back({"cpu_wait", "true", 0, ""});  // parse_5
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p, {});
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->grand_total, 550);
  EXPECT_EQ(t->cpu_wait_samples, 1);
  EXPECT_EQ(t->functions.at({"parse", "/b.py", 0}).self, 200);
  TableOptions keep;
  keep.keep_cpu_wait = true;
  absl::StatusOr<FunctionTable> all = BuildFunctionTable(p, keep);
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(all->grand_total, 650);
}

}  // namespace
}  // namespace pystrobe
