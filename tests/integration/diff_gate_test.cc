// The regression gate on real recordings: tests/workloads/diff_gate.py
// recorded by the real `pystrobe record`, compared by the real
// `pystrobe-diff` at its defaults. Ground truth is the workload's own
// construction (iteration counts per function), not pystrobe.
//
// A/A: 6 recordings of the same code against one baseline fail at most
// once (the gate's alpha).
// A/B: beta made 30% slower (30% more iterations) fails the gate and names
// exactly beta; tiny (under the noise floor) doubling does not.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "diff_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "pystrobe/diff/gate.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

std::string Python() { return GateTestPython(); }

std::string Workload() {
  return std::string(PYSTROBE_SOURCE_DIR) + "/tests/workloads/diff_gate.py";
}

std::string Shapes() {
  return std::string(PYSTROBE_SOURCE_DIR) + "/tests/workloads/gate_shapes.py";
}

// `pystrobe record -o OUT --repeat RUNS --mode cpu [extra] -- python
// SCRIPT ARGS...` at the gate's own rate (about 2,000 samples a run, as the
// README's recipe); returns the result (the tests check the exit status).
CommandResult RecordRuns(const std::string& out, int runs,
                         const std::vector<std::string>& extra,
                         const std::string& script,
                         const std::vector<std::string>& script_args) {
  std::vector<std::string> argv = {
      PystrobeBinary(),     "record", "-o", out, "--repeat",
      std::to_string(runs), "--mode", "cpu"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--");
  argv.push_back(Python());
  argv.push_back(script);
  argv.insert(argv.end(), script_args.begin(), script_args.end());
  return RunCommand(argv, absl::Seconds(300));
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

// Mean CPU seconds per run of each function, from a --truth file of
// gate_shapes.py (a line per run of "function=seconds" pairs).
std::map<std::string, double> TruthPerRun(const std::string& path) {
  std::map<std::string, double> mean;
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return mean;
  int runs = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.empty()) continue;
    ++runs;
    for (absl::string_view pair : absl::StrSplit(line, ' ')) {
      std::vector<std::string> kv = absl::StrSplit(pair, '=');
      double seconds = 0;
      if (kv.size() == 2 && absl::SimpleAtod(kv[1], &seconds)) {
        mean[kv[0]] += seconds;
      }
    }
  }
  for (auto& [name, seconds] : mean) seconds /= std::max(runs, 1);
  return mean;
}

struct GateRun {
  CommandResult gate;
  // Per function: how much its CPU time per run grew from BASE to NEW, in
  // percent, by the workload's own clock (time.thread_time).
  std::map<std::string, double> truth_growth_pct;
};

// Records `prefix`-base.pb.gz (gate_shapes.py with `base_args`) and then
// `prefix`-slow.pb.gz (with `new_args`) compared with it by the gate
// (--threshold 15, --fail-on-regression, --fail-on-inconclusive, CSV), 5
// runs each, each side with the workload's own timing (--truth). When the
// gate says its runs could not have shown a change of the threshold (exit
// 3: the host's speed moved between runs), both sides are recorded again
// with twice the runs, as its message advises a user. Returns nullopt
// with a failure when a baseline recording failed.
std::optional<GateRun> RecordAndGate(const std::string& prefix,
                                     std::vector<std::string> base_args,
                                     std::vector<std::string> new_args) {
  std::optional<GateRun> r;
  const std::string base_truth = prefix + "-base-truth.txt";
  const std::string new_truth = prefix + "-slow-truth.txt";
  base_args.insert(base_args.end(), {"--truth", base_truth});
  new_args.insert(new_args.end(), {"--truth", new_truth});
  for (int runs : {5, 10}) {
    std::remove(base_truth.c_str());
    std::remove(new_truth.c_str());
    const std::string base = prefix + "-base.pb.gz";
    CommandResult b =
        RecordRuns(base, runs, {"-r", "1000"}, Shapes(), base_args);
    if (b.exit_code != 0) {
      ADD_FAILURE() << b.Describe();
      return std::nullopt;
    }
    r.emplace();
    r->gate = RecordRuns(
        prefix + "-slow.pb.gz", runs,
        {"-r", "1000", "--compare", base, "--fail-on-regression",
         "--fail-on-inconclusive", "--format", "csv", "--threshold", "15"},
        Shapes(), new_args);
    const std::map<std::string, double> before = TruthPerRun(base_truth);
    const std::map<std::string, double> after = TruthPerRun(new_truth);
    for (const auto& [name, seconds] : before) {
      auto it = after.find(name);
      if (it != after.end() && seconds > 0) {
        r->truth_growth_pct[name] = 100 * (it->second / seconds - 1);
      }
    }
    if (r->gate.exit_code != kGateInconclusive) break;
    std::cout << "the gate found " << runs
              << " runs too few; recording again:\n"
              << r->gate.err << std::endl;
  }
  return r;
}

// A function the code change did not touch may still be flagged when the
// machine itself got slower between the two recordings (a VM's host does
// that, within a run too): then the workload's own clock says its time
// grew as well. Flagged with its own time grown by less than half the
// threshold is a false positive of the gate.
void ExpectNotFlaggedUnlessItSlowed(const GateRun& run,
                                    const std::set<std::string>& regressed,
                                    const std::string& function) {
  if (!regressed.count(function)) return;
  auto it = run.truth_growth_pct.find(function);
  ASSERT_NE(it, run.truth_growth_pct.end()) << function << " has no truth";
  std::cout << function << " flagged; by its own clock its CPU time per "
            << "run grew " << it->second << "% (the machine slowed)"
            << std::endl;
  EXPECT_GT(it->second, 7.5) << function << " flagged but did not slow\n"
                             << run.gate.out;
}

class DiffGateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScopedTempDir();
    store_ = dir_->path() + "/store";
    if (Python().empty()) return;
    // The baseline: 5 runs of the unchanged code, saved by the recording.
    CommandResult r = RecordRuns(dir_->path() + "/base.pb.gz", 5,
                                 {"--save", "gate", "--store", store_},
                                 Workload(), {"--rounds", "60"});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    ASSERT_THAT(r.err, HasSubstr("saved baseline gate@1"));
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

// The same code, recorded again and again against the baseline, in the one
// command CI runs: FAIL no more often than alpha allows. The gate's level
// is a family-wise 5% per comparison (Holm), so "never in 6" would itself
// fail about a quarter of the time on a correct gate (measured: 1 of 6 at
// beta +22%, p = 0.037, on a quiet machine); at most 1 of 6 fails a
// correct gate 3% of the time and a gate that fails A/A most of the time
// nearly always. Every other run is OK or INCONCLUSIVE with exit 0.
TEST_F(DiffGateTest, TheSameCodeFailsTheGateNoMoreThanAlphaAllows) {
  int failed = 0;
  std::string failures;
  for (int i = 0; i < 6; ++i) {
    const std::string run = absl::StrCat(dir_->path(), "/aa", i, ".pb.gz");
    CommandResult r = RecordRuns(
        run, 5,
        {"--compare", "gate", "--store", store_, "--fail-on-regression"},
        Workload(), {"--rounds", "60"});
    ASSERT_TRUE(r.exited && (r.exit_code == 0 || r.exit_code == 1))
        << r.Describe();
    if (r.exit_code == 1) {
      ++failed;
      absl::StrAppend(&failures, "A/A run ", i, ":\n", r.out, "\n");
      EXPECT_THAT(r.out, HasSubstr("\nFAIL: "));
      continue;
    }
    EXPECT_THAT(r.out, ::testing::AnyOf(HasSubstr("\nOK: "),
                                        HasSubstr("\nINCONCLUSIVE: ")));
  }
  EXPECT_LE(failed, 1) << failures;
}

// One command: record 5 runs, compare with the stored baseline, exit 1 and
// name the function; the Markdown report carries the cause.
TEST_F(DiffGateTest, ASlowerFunctionFailsTheOneCommandGateAndIsNamed) {
  CommandResult r = RecordRuns(
      dir_->path() + "/slow.pb.gz", 5,
      {"--compare", "gate", "--store", store_, "--fail-on-regression",
       "--threshold", "15", "--format", "csv"},
      Workload(),
      {"--rounds", "60", "--scale", "beta=1.5", "--scale", "tiny=2"});
  SKIP_IF_OVERLOADED(r);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  const std::set<std::string> regressed = WithVerdict(r.out, "regression");
  EXPECT_TRUE(regressed.count("beta")) << r.out;
  for (const char* unchanged : {"alpha", "gamma", "tiny"}) {
    EXPECT_FALSE(regressed.count(unchanged)) << unchanged << "\n" << r.out;
  }
  EXPECT_TRUE(WithVerdict(r.out, "improvement").empty()) << r.out;
  r = RunDiff({"compare", "gate", dir_->path() + "/slow.pb.gz", "--store",
               store_, "--threshold", "15", "--format", "markdown",
               "--flamegraph", dir_->path() + "/gate.svg"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();  // not asked to fail
  EXPECT_THAT(r.out, HasSubstr("### pystrobe-diff: FAIL: "));
  EXPECT_THAT(r.out, HasSubstr("beta +"));
  EXPECT_THAT(r.out, HasSubstr("self time grew in beta"));
  EXPECT_TRUE(FileExists(dir_->path() + "/gate.svg"));
}

// Five handlers do all their work through spin(); render_page calls it 50%
// more. Self time is all in spin: the gate names render_page and the path.
TEST_F(DiffGateTest, GrowthInASharedHelperIsChargedToItsCaller) {
  std::optional<GateRun> run =
      RecordAndGate(dir_->path() + "/helper", {"helper", "--scale", "4"},
                    {"helper", "--scale", "4", "--grow", "render_page=1.5"});
  ASSERT_TRUE(run.has_value());
  const CommandResult& r = run->gate;
  SKIP_IF_OVERLOADED(r);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  const std::set<std::string> regressed = WithVerdict(r.out, "regression");
  EXPECT_TRUE(regressed.count("render_page")) << r.out;
  // The change asked for (+50%) must be there by the workload's own clock,
  // against the handlers it did not touch in the same recordings: a VM's
  // host speed moves between two recordings and every function's CPU time
  // with it (render_page alone once read +24%, while the machine was
  // slower for the base).
  const std::vector<std::string> siblings = {"parse_request", "load_user",
                                             "format_reply", "log_access"};
  std::vector<double> others;
  for (const std::string& sibling : siblings) {
    auto it = run->truth_growth_pct.find(sibling);
    if (it != run->truth_growth_pct.end()) others.push_back(it->second);
  }
  ASSERT_EQ(others.size(), siblings.size()) << "a handler has no truth";
  std::sort(others.begin(), others.end());
  const double machine = (others[1] + others[2]) / 2;  // their median
  const double touched = run->truth_growth_pct["render_page"];
  const double relative = 100 * ((1 + touched / 100) / (1 + machine / 100) - 1);
  std::cout << "render_page grew " << touched << "% by its own clock, the "
            << "handlers it did not touch " << machine
            << "% (median): " << relative << "% relative" << std::endl;
  EXPECT_GT(relative, 25)
      << "the workload's own clock: the change asked for is not there";
  EXPECT_THAT(r.err, HasSubstr("pystrobe-diff: FAIL: ")) << "for the CI log";
  EXPECT_THAT(r.out, HasSubstr("time grew in spin called from render_page"));
  for (const std::string& sibling : siblings) {
    ExpectNotFlaggedUnlessItSlowed(*run, regressed, sibling);
  }
  EXPECT_TRUE(WithVerdict(r.out, "improvement").empty()) << r.out;
}

// A test suite's phases: compute_stats does twice the work (on a loaded
// 2-core machine the runs of 5 s spread by ~15%, so 30% needs more runs
// than a test can afford: docs/statistics.md); the other
// phases' functions are unchanged.
TEST_F(DiffGateTest, ASlowerPhaseOfASuiteIsNamed) {
  std::optional<GateRun> run =
      RecordAndGate(dir_->path() + "/suite", {"suite", "--scale", "4"},
                    {"suite", "--scale", "4", "--grow", "compute_stats=2"});
  ASSERT_TRUE(run.has_value());
  const CommandResult& r = run->gate;
  SKIP_IF_OVERLOADED(r);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  const std::set<std::string> regressed = WithVerdict(r.out, "regression");
  EXPECT_TRUE(regressed.count("compute_stats")) << r.out;
  EXPECT_GT(run->truth_growth_pct["compute_stats"], 50)
      << "the workload's own clock: the change asked for is not there";
  for (const char* other : {"parse_inputs", "render_report", "check_invariants",
                            "export_results"}) {
    ExpectNotFlaggedUnlessItSlowed(*run, regressed, other);
  }
}

// Busy loops on every core (twice over) beside the workload: the recording
// says how long the target waited for a CPU, as the target's own schedstat
// does, and the gate does not judge it: beta 50% slower is INCONCLUSIVE,
// exit 0 even with --fail-on-regression.
TEST_F(DiffGateTest, AnOverloadedMachineIsSaidAndNotJudged) {
  std::vector<ChildProcess> hogs;
  for (long i = 0; i < 2 * sysconf(_SC_NPROCESSORS_ONLN); ++i) {
    absl::StatusOr<ChildProcess> hog = ChildProcess::Start(
        {Python(), "-c", "while True: pass"}, {}, dir_->path() + "/hog.log");
    ASSERT_TRUE(hog.ok()) << hog.status();
    hogs.push_back(*std::move(hog));
  }
  const std::string truth = dir_->path() + "/overloaded-truth.json";
  CommandResult r = RecordRuns(
      dir_->path() + "/overloaded.pb.gz", 3,
      {"--compare", "gate", "--store", store_, "--fail-on-regression",
       "--format", "json"},
      Workload(), {"--rounds", "30", "--scale", "beta=1.5", "--truth", truth});
  hogs.clear();  // killed and reaped
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("the machine was overloaded"));
  // (BASE too, when the machine was loaded while the suite saved it.)
  EXPECT_THAT(r.out, HasSubstr("was recorded on an overloaded machine"));
  EXPECT_THAT(r.out, HasSubstr("\"verdict\": \"INCONCLUSIVE: "));
  // The target's own account, summed over its runs.
  absl::StatusOr<std::string> sched = ReadFileToString(truth + ".sched");
  ASSERT_TRUE(sched.ok()) << sched.status();
  double ran = 0, wait = 0;
  for (absl::string_view line :
       absl::StrSplit(*sched, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    double a = 0, b = 0;
    ASSERT_TRUE(f.size() == 2 && absl::SimpleAtod(f[0], &a) &&
                absl::SimpleAtod(f[1], &b))
        << line;
    ran += a;
    wait += b;
  }
  const double truth_share = wait / (ran + wait);
  EXPECT_GT(truth_share, 0.25) << "the hogs did not load the machine";
  const size_t at = r.out.find("\"new_wait_share\": ");
  ASSERT_NE(at, std::string::npos) << r.out;
  double share = -1;
  ASSERT_TRUE(absl::SimpleAtod(
      r.out.substr(at + 18, r.out.find_first_of(",}", at) - at - 18), &share))
      << r.out.substr(at, 40);
  EXPECT_NEAR(share, truth_share, 0.1) << *sched;
}

// One short run on each side cannot show a 10% change: INCONCLUSIVE, with
// the detectable change and the advice, exit 3 when asked.
TEST_F(DiffGateTest, ASingleShortRunIsInconclusive) {
  const std::string one = dir_->path() + "/one.pb.gz";
  ASSERT_EQ(RecordRuns(one, 1, {}, Workload(), {"--rounds", "20"}).exit_code,
            0);
  CommandResult r = RecordRuns(
      dir_->path() + "/two.pb.gz", 1,
      {"--compare", one, "--fail-on-inconclusive", "--format", "json"},
      Workload(), {"--rounds", "20"});
  SKIP_IF_OVERLOADED(r);
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("\"conclusive\": false"));
  EXPECT_THAT(r.out, HasSubstr("\"verdict\": \"INCONCLUSIVE: "));
  EXPECT_THAT(r.out, HasSubstr("--repeat"));
}

// The same code at 100 Hz and at 250 Hz: time per run, not sample counts,
// so nothing but unchanged. (Threshold 15: the point is the rates; two
// recordings on a loaded machine saw gamma +26% at p = 0.025 once, an
// A/A excursion the default 10% lets through about as often as alpha
// says.)
TEST_F(DiffGateTest, DifferentRatesChangeNothing) {
  const std::string slow_rate = dir_->path() + "/r100.pb.gz";
  std::vector<std::string> argv100 = {
      PystrobeBinary(), "record",   "-o", slow_rate, "--repeat", "5",
      "--mode",         "cpu",      "-r", "100",     "--",       Python(),
      Workload(),       "--rounds", "60"};
  ASSERT_EQ(RunCommand(argv100, absl::Seconds(300)).exit_code, 0);
  std::vector<std::string> argv250 = {PystrobeBinary(),
                                      "record",
                                      "-o",
                                      dir_->path() + "/r250.pb.gz",
                                      "--repeat",
                                      "5",
                                      "--mode",
                                      "cpu",
                                      "-r",
                                      "250",
                                      "--compare",
                                      slow_rate,
                                      "--format",
                                      "csv",
                                      "--",
                                      Python(),
                                      Workload(),
                                      "--rounds",
                                      "60"};
  CommandResult r = RunCommand(argv250, absl::Seconds(300));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(WithVerdict(r.out, "regression").empty()) << r.out;
  EXPECT_TRUE(WithVerdict(r.out, "improvement").empty()) << r.out;
}

}  // namespace
}  // namespace pystrobe::integration
