// `pystrobe record --pid` accuracy against the target's own accounting.
//
// tests/workloads/record_split.py burns about 20/30/50% of its CPU time in
// three functions and measures the split itself with time.thread_time()
// over the recorded window (from a start file the test creates right before
// it starts pystrobe, to a stop file it creates once pystrobe is done). Each
// function's share of the profile's self CPU time must be within 3
// percentage points of the target's own figure, read both with pystrobe's
// decoder and with `go tool pprof -top`; `go tool pprof -raw` must read the
// file too.
//
// Why --mode cpu: the truth is CPU time. In wall mode a thread that is
// runnable but waiting for a CPU (state R, like a running one) keeps being
// sampled in the function it was preempted in, so on a loaded machine (CI,
// 2 cores shared with builds) wall shares drift from CPU shares by more than
// the tolerance: measured here at load 10, wall mode put 66% on a function
// that had 50% of the CPU. That is what wall time means, not an error of
// pystrobe's; cpu mode weighs each sample by the CPU time the thread really
// used and is what a CPU split is compared with.
#include <signal.h>

#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);
// Percentage points, as the issue sets them.
constexpr double kTolerancePoints = 3.0;
constexpr int64_t kSamples = 4000;
const char* const kFunctions[] = {"burn_twenty", "burn_thirty", "burn_fifty"};

class RecordAccuracyTest : public ::testing::TestWithParam<Interpreter> {};

TEST_P(RecordAccuracyTest, SelfSharesMatchTheTargetsThreadTime) {
  const Interpreter& py = GetParam();
  std::cout << "interpreter: " << py.name << " " << py.path << std::endl;
  ScopedTempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py, "record_split.py", {dir.path()}, dir.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/ready", *target, kTimeout))
      << "workload not ready:\n"
      << target->Log();

  const std::string out = dir.path() + "/split.pb.gz";
  ASSERT_TRUE(TouchFile(dir.path() + "/start"));
  // 1 kHz until 4000 samples are in (about 4 s on an idle machine; on a
  // loaded one the target gets less CPU and cpu mode records fewer samples
  // per second, so stop on a count, not a time): a 20% share is then known
  // to well under a point. SIGINT ends a recording like -d does.
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-d",
                       "100", "-r", "1000", "--mode", "cpu", "-o", out},
                      dir.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  (*rec)->WaitForSamples(kSamples, kTimeout);
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(TouchFile(dir.path() + "/stop"));
  ASSERT_TRUE(done.has_value()) << "pystrobe did not finish\n"
                                << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();

  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/truth.json", *target, kTimeout))
      << target->Log();
  absl::StatusOr<google::protobuf::Struct> truth =
      ReadJsonObject(dir.path() + "/truth.json");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const double total_cpu = NumberField(*truth, "total_cpu_s");
  ASSERT_GT(total_cpu, 0.5) << "the target barely ran: " << target->Log();
  const google::protobuf::Struct& cpu =
      truth->fields().at("cpu_s").struct_value();

  absl::StatusOr<Profile> profile = ReadProfile(out);
  ASSERT_TRUE(profile.ok()) << profile.status();
  ASSERT_EQ(profile->SampleTypeIndex("samples"), 0);
  const int cpu_index = profile->SampleTypeIndex("cpu");
  ASSERT_EQ(cpu_index, 1) << DescribeProfile(*profile);
  int64_t samples = 0, total = 0;
  std::map<std::string, int64_t> self_samples =
      SelfValues(*profile, 0, &samples);
  std::map<std::string, int64_t> self = SelfValues(*profile, cpu_index, &total);
  // Enough samples for the tolerance to mean something.
  ASSERT_GE(samples, kSamples) << DescribeProfile(*profile);
  // Single-threaded: every sample is the main thread, whose TID is the PID.
  for (const Sample& s : profile->samples) {
    EXPECT_EQ(NumberLabel(s, "thread_id"), target->pid());
    EXPECT_EQ(NumberLabel(s, "pid"), target->pid());
  }

  CommandResult top = GoPprof({"-top", "-sample_index=cpu", out}, dir.path());
  ASSERT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
  std::map<std::string, double> go_flat = ParsePprofTop(top.out);
  CommandResult raw = GoPprof({"-raw", out}, dir.path());
  ASSERT_TRUE(raw.exited && raw.exit_code == 0) << raw.Describe();

  for (const char* f : kFunctions) {
    auto it = cpu.fields().find(f);
    ASSERT_TRUE(it != cpu.fields().end()) << f << " missing from the truth";
    const double want = 100.0 * it->second.number_value() / total_cpu;
    const double got =
        100.0 * static_cast<double>(self[f]) / static_cast<double>(total);
    const double by_count = 100.0 * static_cast<double>(self_samples[f]) /
                            static_cast<double>(samples);
    std::cout << absl::StreamFormat(
                     "%s %-12s truth %5.2f%%  pystrobe cpu %5.2f%% (decoder),"
                     " %5.2f%% (go tool pprof -top); by count %5.2f%% of %d"
                     " samples",
                     py.name, f, want, got, go_flat[f], by_count, samples)
              << std::endl;
    EXPECT_NEAR(got, want, kTolerancePoints) << f;
    EXPECT_NEAR(go_flat[f], want, kTolerancePoints)
        << f << " in go tool pprof -top:\n"
        << top.out;
    EXPECT_THAT(raw.out, ::testing::HasSubstr(f));
  }
  if (HasFailure()) std::cout << (*rec)->Output() << std::endl;
}

std::string ParamName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, RecordAccuracyTest,
                         ::testing::ValuesIn(AccuracyInterpreters()),
                         ParamName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RecordAccuracyTest);

TEST(RecordAccuracySetup, FindsTheIssuesInterpreters) {
  std::vector<Interpreter> found = AccuracyInterpreters();
  std::cout << "pystrobe record accuracy: interpreters tested: "
            << DescribeInterpreters(found) << std::endl;
  EXPECT_FALSE(found.empty())
      << "none of 3.8, 3.10, 3.12, 3.13 (pyenv) or /usr/bin/python3.11 found";
}

// The checks must be able to fail: the -top parser reads shares, and a
// profile whose split is off by more than the tolerance would be caught.
TEST(RecordAccuracySetup, TopParserReadsFlatShares) {
  const std::string top =
      "      flat  flat%   sum%        cum   cum%\n"
      "      1985 50.46% 50.46%       1985 50.46%  burn_fifty\n"
      "       746 18.96% 99.06%        746 18.96%  Outer.burn twenty\n";
  std::map<std::string, double> flat = ParsePprofTop(top);
  EXPECT_DOUBLE_EQ(flat["burn_fifty"], 50.46);
  EXPECT_DOUBLE_EQ(flat["Outer.burn twenty"], 18.96);
  EXPECT_EQ(flat.size(), 2u);
}

}  // namespace
}  // namespace pystrobe::integration
