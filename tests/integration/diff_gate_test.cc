// The regression gate on real recordings: tests/workloads/diff_gate.py
// recorded by the real `pystrobe record`, compared by the real
// `pystrobe-diff` at its defaults. Ground truth is the workload's own
// construction (iteration counts per function), not pystrobe.
//
// A/A: 20 recordings of the same code against one baseline never fail.
// A/B: beta made 30% slower (30% more iterations) fails the gate and names
// exactly beta; tiny (under the noise floor) doubling does not.

#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "diff_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

std::string Python() {
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  static const std::vector<Interpreter> all = FindInterpreters();
  const Interpreter* py = NewestInterpreter(all);
  return py == nullptr ? "" : py->path;
}

std::string Workload() {
  return std::string(PYSTROBE_SOURCE_DIR) + "/tests/workloads/diff_gate.py";
}

// Records one run of the workload (launch mode: it ends with the workload).
void Record(const std::string& out, double seconds, int rate,
            const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      PystrobeBinary(),     "record", "-o",     out,        "-r",
      std::to_string(rate), "--",     Python(), Workload(), "--seconds",
      absl::StrCat(seconds)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  CommandResult r = RunCommand(argv, absl::Seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_TRUE(FileExists(out)) << r.Describe();
}

// Functions whose CSV verdict is `verdict`.
std::set<std::string> WithVerdict(const std::string& csv,
                                  const std::string& verdict) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(csv, "\r\n")) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() >= 4 && f[3] == verdict) names.insert(f[0]);
  }
  return names;
}

class DiffGateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScopedTempDir();
    store_ = dir_->path() + "/store";
    if (Python().empty()) return;
    // The baseline: three 4 s recordings of the unchanged code.
    for (int i = 1; i <= 3; ++i) {
      const std::string path = absl::StrCat(dir_->path(), "/base", i, ".pb.gz");
      Record(path, 4, 200, {});
      CommandResult r = RunDiff({"save", "gate", path, "--store", store_});
      ASSERT_EQ(r.exit_code, 0) << r.Describe();
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (Python().empty()) GTEST_SKIP() << "no Python 3 interpreter found";
    std::printf("python: %s\n", Python().c_str());
  }

  static ScopedTempDir* dir_;
  static std::string store_;
};

ScopedTempDir* DiffGateTest::dir_ = nullptr;
std::string DiffGateTest::store_;

TEST_F(DiffGateTest, TheSameCodeRecorded20TimesNeverFailsTheGate) {
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string run = absl::StrCat(dir_->path(), "/aa", i, ".pb.gz");
    Record(run, 2, 200, {});
    CommandResult r = RunDiff(
        {"compare", "gate", run, "--store", store_, "--fail-on-regression"});
    ASSERT_TRUE(r.exited && r.exit_code != 2) << r.Describe();
    if (r.exit_code != 0) {
      ++failures;
      ADD_FAILURE() << "A/A run " << i << " failed the gate:\n" << r.out;
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_F(DiffGateTest, ASlowerFunctionFailsTheGateAndIsNamed) {
  const std::string run = dir_->path() + "/slow.pb.gz";
  // 8 s at 250 Hz: enough samples for a 30% slowdown of a function with a
  // quarter of the time to be significant after the correction.
  Record(run, 8, 250, {"--scale", "beta=1.3", "--scale", "tiny=2"});
  CommandResult r =
      RunDiff({"compare", "gate", run, "--last", "3", "--store", store_,
               "--fail-on-regression", "--format", "csv"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_EQ(WithVerdict(r.out, "regression"), std::set<std::string>{"beta"})
      << r.out;
  // tiny doubled, under the noise floor: not a regression (checked above:
  // beta is the only one) and present in the report.
  EXPECT_THAT(r.out, HasSubstr("\r\ntiny,"));
  r = RunDiff({"compare", "gate", run, "--last", "3", "--store", store_,
               "--fail-on-regression", "--flamegraph",
               dir_->path() + "/gate.svg"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("FAIL: 1 regression (beta +"));
  EXPECT_TRUE(FileExists(dir_->path() + "/gate.svg"));
}

}  // namespace
}  // namespace pystrobe::integration
