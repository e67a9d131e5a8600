// pystrobe-diff end to end on files built by the test (ground truth: the
// sample counts the test put in): every bad input exits 2 with one line and
// writes nothing; save/list/show, NAME@N, NAME --last K; concurrent saves;
// saves killed with SIGKILL; a profile written by Go's runtime/pprof.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "diff_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/profile.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DiffCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    store_ = dir_.path() + "/store";
    base_ = dir_.path() + "/base.pb.gz";
    now_ = dir_.path() + "/new.pb.gz";
    WriteProfile(MakeProfile({{"parse", 400}, {"render", 400}, {"tiny", 4}}),
                 base_);
    // render 50% slower in time per run (parse unchanged).
    WriteProfile(MakeProfile({{"parse", 400}, {"render", 600}, {"tiny", 8}}),
                 now_);
  }
  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
  // The names in the store's folder for NAME (files of entries included).
  std::vector<std::string> Listing(const std::string& name) const {
    CommandResult r = RunCommand({"/bin/ls", "-A", store_ + "/" + name});
    return absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  }

  ScopedTempDir dir_;
  std::string store_;
  std::string base_;
  std::string now_;
};

// Names in a CSV report with `verdict`.
std::vector<std::string> WithVerdictCsv(const std::string& csv,
                                        const std::string& verdict) {
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(csv, "\r\n")) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() >= 4 && f[3] == verdict) names.push_back(f[0]);
  }
  return names;
}

TEST_F(DiffCliTest, CompareFindsTheRegressionAndGates) {
  CommandResult r = RunDiff({"compare", base_, now_});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();  // not asked to fail
  EXPECT_THAT(r.out, HasSubstr("FAIL: 1 regression (render +50% self, "
                               "affecting main +26% total)"));
  EXPECT_THAT(r.out, Not(HasSubstr("\x1b[")));  // not a TTY
  r = RunDiff({"compare", base_, now_, "--fail-on-regression"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  // tiny doubled but is under the noise floor.
  r = RunDiff({"compare", base_, now_, "--format", "csv"});
  // (4 samples over 5 runs: none in a run of the base, so "new", but under
  // the floor and not counted)
  EXPECT_THAT(r.out, HasSubstr("\r\ntiny,/srv/app.py,0,new,"));
  // The verdict a CI log shows, on stderr: stdout stays CSV.
  EXPECT_THAT(r.err, HasSubstr("pystrobe-diff: FAIL: 1 regression (render "
                               "+50% self"));
  EXPECT_THAT(r.out, Not(HasSubstr("FAIL")));
  // Ignoring the regressed function passes the gate.
  r = RunDiff(
      {"compare", base_, now_, "--fail-on-regression", "--ignore", "^render "});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  // A threshold above the change passes too.
  r = RunDiff(
      {"compare", base_, now_, "--fail-on-regression", "--threshold", "60"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  // Time per run: +50%; parse is unchanged, not "faster".
  r = RunDiff({"compare", base_, now_, "--format", "json"});
  EXPECT_THAT(r.out, HasSubstr("\"function\": \"render\""));
  EXPECT_THAT(r.out, HasSubstr("\"delta_pct\": 50,"));
  EXPECT_THAT(r.out, HasSubstr("\"conclusive\": true"));
  EXPECT_THAT(r.out, HasSubstr("\"runs_base\": 5"));
  EXPECT_THAT(r.out, HasSubstr("\"cause\": \"self time grew in render\""));
  EXPECT_THAT(
      WithVerdictCsv(RunDiff({"compare", base_, now_, "--format", "csv"}).out,
                     "improvement"),
      ::testing::IsEmpty());
  // One run against one: not enough to judge, and --fail-on-inconclusive
  // says so with exit 3.
  WriteProfile(MakeProfile({{"parse", 80}, {"render", 80}}, 1), P("one.pb.gz"));
  WriteProfile(MakeProfile({{"parse", 80}, {"render", 88}}, 1), P("two.pb.gz"));
  r = RunDiff({"compare", P("one.pb.gz"), P("two.pb.gz")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("INCONCLUSIVE: "));
  EXPECT_THAT(r.out, HasSubstr("--repeat"));
  EXPECT_EQ(r.err, "") << "the table has the verdict already";
  r = RunDiff({"compare", P("one.pb.gz"), P("two.pb.gz"), "--format", "json"});
  EXPECT_THAT(r.err, HasSubstr("pystrobe-diff: INCONCLUSIVE: "));
  EXPECT_THAT(r.err, HasSubstr("--repeat"));
  r = RunDiff({"compare", P("one.pb.gz"), P("two.pb.gz"),
               "--fail-on-inconclusive", "--format", "json"});
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("\"conclusive\": false"));
  r = RunDiff({"compare", base_, now_, "--format", "markdown", "--flamegraph",
               P("d.svg")});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("| **regression** | `render` |"));
  ASSERT_TRUE(FileExists(P("d.svg")));
  CommandResult lint = RunCommand({"/usr/bin/xmllint", "--noout", P("d.svg")});
  EXPECT_EQ(lint.exit_code, 0) << lint.Describe();
}

TEST_F(DiffCliTest, EveryBadInputExits2WithOneLineAndWritesNothing) {
  WriteBytes(P("empty.pb.gz"), "");
  WriteBytes(P("text.pb.gz"), "this is not a profile\n");
  std::string random(4096, '\0');
  std::mt19937 rng(42);
  for (char& c : random) c = static_cast<char>(rng());
  WriteBytes(P("random.pb.gz"), random);
  absl::StatusOr<std::string> good = ReadFileToString(now_);
  ASSERT_TRUE(good.ok());
  WriteBytes(P("truncated.pb.gz"), good->substr(0, good->size() / 2));
  ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                        "gzip -c < /etc/hostname > " + P("gzip-text.pb.gz")})
                .exit_code,
            0);
  WriteProfile(MakeProfile({{"parse", 10}}, 1, "cpu"), P("cpu.pb.gz"));
  Profile empty = MakeProfile({});
  empty.samples.clear();
  WriteProfile(empty, P("nosamples.pb.gz"));
  Profile zero = MakeProfile({{"parse", 10}});
  for (Sample& s : zero.samples) s.values = {0, 0};
  WriteProfile(zero, P("zero.pb.gz"));
  ASSERT_EQ(mkdir(P("folder.pb.gz").c_str(), 0755), 0);

  const std::vector<std::string> bad_files = {
      P("missing.pb.gz"),   P("empty.pb.gz"),     P("text.pb.gz"),
      P("random.pb.gz"),    P("truncated.pb.gz"), P("gzip-text.pb.gz"),
      P("nosamples.pb.gz"), P("zero.pb.gz"),      P("folder.pb.gz")};
  const std::string svg = P("out.svg");
  for (const std::string& bad : bad_files) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(IsBadInput(RunDiff(
        {"compare", bad, now_, "--flamegraph", svg, "--store", store_})));
    EXPECT_TRUE(IsBadInput(RunDiff(
        {"compare", base_, bad, "--flamegraph", svg, "--store", store_})));
    EXPECT_TRUE(IsBadInput(RunDiff({"save", "api", bad, "--store", store_})));
  }
  // Sample types that do not match: wall against cpu.
  CommandResult r =
      RunDiff({"compare", base_, P("cpu.pb.gz"), "--flamegraph", svg});
  EXPECT_TRUE(IsBadInput(r));
  EXPECT_THAT(r.err, HasSubstr("sample types do not match"));
  EXPECT_TRUE(IsBadInput(
      RunDiff({"compare", base_, now_, "--sample-type", "alloc_space"})));
  // Unknown baselines and entries.
  EXPECT_TRUE(
      IsBadInput(RunDiff({"compare", "nope", now_, "--store", store_})));
  ASSERT_EQ(RunDiff({"save", "api", base_, "--store", store_}).exit_code, 0);
  r = RunDiff({"compare", "api@9", now_, "--store", store_});
  EXPECT_TRUE(IsBadInput(r));
  EXPECT_THAT(r.err, HasSubstr("entries: 1"));
  EXPECT_TRUE(IsBadInput(RunDiff({"compare", "web", now_, "--store", store_})));
  EXPECT_TRUE(
      IsBadInput(RunDiff({"compare", "api@x", now_, "--store", store_})));
  EXPECT_TRUE(IsBadInput(
      RunDiff({"compare", "api@1", now_, "--last", "2", "--store", store_})));
  EXPECT_TRUE(IsBadInput(RunDiff({"show", "api@3", "--store", store_})));
  EXPECT_TRUE(IsBadInput(RunDiff({"list", "web", "--store", store_})));
  // An unwritable store (under a regular file: root may write anywhere else).
  EXPECT_TRUE(
      IsBadInput(RunDiff({"save", "api", base_, "--store", base_ + "/store"})));
  EXPECT_TRUE(IsBadInput(RunDiff({"save", "../x", base_, "--store", store_})));
  // Usage.
  EXPECT_TRUE(IsBadInput(RunDiff({"compare", base_})));
  EXPECT_TRUE(
      IsBadInput(RunDiff({"compare", base_, now_, "--threshold", "x"})));
  EXPECT_TRUE(IsBadInput(RunDiff({"compare", base_, now_, "--bogus"})));
  EXPECT_TRUE(IsBadInput(RunDiff({"frobnicate"})));
  // An unwritable flame graph: nothing on stdout either.
  EXPECT_TRUE(IsBadInput(
      RunDiff({"compare", base_, now_, "--flamegraph", base_ + "/x.svg"})));

  EXPECT_FALSE(FileExists(svg));
  // The store holds the one good entry and nothing else.
  EXPECT_EQ(Listing("api").size(), 2u);
}

TEST_F(DiffCliTest, SaveListShowAndEntryReferences) {
  for (int i = 0; i < 3; ++i) {
    CommandResult r = RunDiff({"save", "api", base_, "--store", store_});
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("saved api@", i + 1, ": ")));
  }
  ASSERT_EQ(RunDiff({"save", "api", now_, "--store", store_}).exit_code, 0);
  CommandResult r = RunDiff({"list", "--store", store_});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("api: 4 entries"));
  EXPECT_THAT(r.out, HasSubstr("api@4"));
  EXPECT_THAT(r.out, HasSubstr("3.11.2"));
  EXPECT_THAT(r.out, HasSubstr("python3 app.py"));
  r = RunDiff({"show", "api@2", "--store", store_});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("entry:    api@2"));
  EXPECT_THAT(r.out, HasSubstr("render (/srv/app.py)"));
  // api (latest) is the new profile: comparing it with itself is quiet.
  r = RunDiff(
      {"compare", "api", now_, "--store", store_, "--fail-on-regression"});
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("base: api@4"));
  // api@1 is the base: the regression shows.
  r = RunDiff(
      {"compare", "api@1", now_, "--store", store_, "--fail-on-regression"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("base: api@1"));
  // The last 3 merged: @2..@4.
  r = RunDiff({"compare", "api", now_, "--last", "3", "--store", store_,
               "--format", "json"});
  EXPECT_THAT(r.out, HasSubstr("\"base\": \"api@2..@4\""));
  EXPECT_THAT(r.out, HasSubstr("\"base_entries\": 3"));
}

TEST_F(DiffCliTest, ConcurrentSavesNeverShareANumber) {
  constexpr int kSavers = 10;
  std::vector<ChildProcess> savers;
  for (int i = 0; i < kSavers; ++i) {
    absl::StatusOr<ChildProcess> c = ChildProcess::Start(
        {PystrobeDiffBinary(), "save", "api", base_, "--store", store_}, {},
        P(absl::StrCat("save", i, ".log")));
    ASSERT_TRUE(c.ok()) << c.status();
    savers.push_back(*std::move(c));
  }
  for (ChildProcess& c : savers) {
    ASSERT_TRUE(c.WaitForExit(absl::Seconds(60))) << c.Log();
  }
  std::set<std::string> saved;
  for (ChildProcess& c : savers) {
    const std::string log = c.Log();
    ASSERT_TRUE(absl::StartsWith(log, "saved api@")) << log;
    saved.insert(log.substr(0, log.find(':')));
  }
  EXPECT_EQ(saved.size(), static_cast<size_t>(kSavers));
  CommandResult r = RunDiff({"list", "api", "--store", store_});
  EXPECT_THAT(r.out, HasSubstr("api: 10 entries"));
  for (int n = 1; n <= kSavers; ++n) {
    r = RunDiff({"show", absl::StrCat("api@", n), "--store", store_});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
  }
}

TEST_F(DiffCliTest, SavesKilledAtRandomTimesLeaveTheStoreReadable) {
  // A large profile makes a save take long enough to be killed in every
  // phase: reading, decoding, writing the profile, writing the metadata.
  std::vector<std::pair<std::string, int>> functions;
  functions.reserve(20000);
  for (int i = 0; i < 20000; ++i) {
    functions.push_back({absl::StrCat("function_number_", i), 3});
  }
  const std::string big = P("big.pb.gz");
  WriteProfile(MakeProfile(functions, 3), big);
  std::mt19937 rng(7);
  int completed = 0;
  for (int i = 0; i < 25; ++i) {
    absl::StatusOr<ChildProcess> c = ChildProcess::Start(
        {PystrobeDiffBinary(), "save", "api", big, "--store", store_}, {},
        P("kill.log"));
    ASSERT_TRUE(c.ok()) << c.status();
    usleep(std::uniform_int_distribution<useconds_t>(0, 400'000)(rng));
    kill(c->pid(), SIGKILL);
    c->KillAndReap();
    CommandResult list = RunDiff({"list", "--store", store_});
    ASSERT_EQ(list.exit_code, 0) << list.Describe();
  }
  CommandResult list = RunDiff({"list", "api", "--store", store_});
  if (list.exit_code == 0) {
    // Every listed entry is whole.
    for (absl::string_view line : absl::StrSplit(list.out, '\n')) {
      line = absl::StripLeadingAsciiWhitespace(line);
      if (!absl::StartsWith(line, "api@")) continue;
      const std::string ref(line.substr(0, line.find(' ')));
      CommandResult show = RunDiff({"show", ref, "--store", store_});
      EXPECT_EQ(show.exit_code, 0) << show.Describe();
      ++completed;
    }
  }
  // A save after all that works and takes a fresh number.
  CommandResult r = RunDiff({"save", "api", base_, "--store", store_});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  CommandResult after = RunDiff({"list", "api", "--store", store_});
  EXPECT_THAT(after.out,
              HasSubstr(absl::StrCat("api: ", completed + 1, " entr")));
  std::printf("%d of 25 killed saves had completed\n", completed);
}

TEST_F(DiffCliTest, ComparesProfilesWrittenByGo) {
  if (access("/usr/bin/go", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/go not found: install golang-go";
  }
  WriteBytes(P("main.go"), R"go(package main

import (
	"os"
	"runtime/pprof"
	"time"
)

//go:noinline
func burnCycles(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x = x*31 + i
	}
	return x
}

func record(path string) int {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	x := 0
	deadline := time.Now().Add(700 * time.Millisecond)
	for time.Now().Before(deadline) {
		x += burnCycles(100000)
	}
	pprof.StopCPUProfile()
	f.Close()
	return x
}

func main() {
	x := record(os.Args[1]) + record(os.Args[2])
	if x == 42 {
		println(x)
	}
}
)go");
  const std::string d = dir_.path();
  CommandResult go = RunCommand(
      {"/bin/sh", "-c",
       "cd " + d + " && env HOME=" + d + " GOCACHE=" + d + "/gocache GOPATH=" +
           d + "/gopath GOFLAGS=-mod=mod GOPROXY=off GOTELEMETRY=off " +
           "/usr/bin/go run main.go a.pb.gz b.pb.gz"},
      absl::Seconds(300));
  ASSERT_EQ(go.exit_code, 0) << go.Describe();
  CommandResult r =
      RunDiff({"compare", P("a.pb.gz"), P("b.pb.gz"), "--format", "csv"});
  EXPECT_TRUE(r.exited && (r.exit_code == 0 || r.exit_code == 1))
      << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("main.burnCycles,"));
  r = RunDiff(
      {"compare", P("a.pb.gz"), P("b.pb.gz"), "--flamegraph", P("go.svg")});
  EXPECT_TRUE(r.exited && r.exit_code != 2) << r.Describe();
  EXPECT_TRUE(FileExists(P("go.svg")));
}

}  // namespace
}  // namespace pystrobe::integration
