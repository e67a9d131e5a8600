// `pystrobe record` as a recording session (src/recorder): --repeat runs
// labelled `run` with each run's own accounting, launchers followed to the
// Python behind them, a command without Python refused, an unwritable
// output refused before anything runs, SIGHUP and SIGUSR1, and checkpoints
// that survive a SIGKILL. Ground truth: the scripts' own exit statuses and
// marker files, the profile read back by pystrobe's decoder and Go's pprof.

#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(120);

// Spins for `seconds` of its own CPU time in spin_then_exit, then exits
// with `code`.
std::string SpinScript(double seconds, const std::string& code) {
  return absl::StrCat(
      "import sys, time\n"
      "def spin_then_exit():\n"
      "    end = time.thread_time() + ",
      seconds, "\n",
      "    while time.thread_time() < end: pass\n"
      "    sys.exit(",
      code,
      ")\n"
      "spin_then_exit()\n");
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

std::string Comment(const Profile& p, const std::string& key) {
  for (const std::string& c : p.comments) {
    if (absl::StartsWith(c, key + "=")) return c.substr(key.size() + 1);
  }
  return "";
}

class RecordSessionTest : public DefaultInterpreterTest {
 protected:
  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
};

// Three runs; the second exits 4 (its own count in a file says which run it
// is): pystrobe exits 4, and the one profile has every run, labelled.
TEST_F(RecordSessionTest, RepeatLabelsEveryRunAndKeepsTheFirstFailure) {
  const std::string counter = P("runs");
  const std::string script = absl::StrCat(
      "import os, sys, time\n"
      "n = len(open('",
      counter, "').read()) if os.path.exists('", counter,
      "') else 0\n"
      "open('",
      counter, "', 'a').write('x')\n",
      "def spin():\n"
      "    end = time.thread_time() + 0.5\n"
      "    while time.thread_time() < end: pass\n"
      "spin()\n"
      "sys.exit(4 if n == 1 else 0)\n");
  const std::string out = P("repeat.pb.gz");
  CommandResult r =
      RunCommand({PystrobeBinary(), "record", "--repeat", "3", "-r", "200",
                  "-o", out, "--", py_.path, "-c", script},
                 kTimeout);
  EXPECT_TRUE(r.exited && r.exit_code == 4) << r.Describe();
  absl::StatusOr<std::string> runs = ReadFileToString(counter);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(*runs, "xxx");  // all three ran
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status() << r.Describe();
  std::set<int64_t> labelled;
  for (const Sample& s : p->samples) {
    std::optional<int64_t> run = NumberLabel(s, "run");
    ASSERT_TRUE(run.has_value()) << "a sample without a run label";
    labelled.insert(*run);
  }
  EXPECT_EQ(labelled, (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(Comment(*p, "pystrobe.runs"), "3");
  EXPECT_EQ(Comment(*p, "pystrobe.target"), "launched");
  EXPECT_THAT(Comment(*p, "pystrobe.run.1"), HasSubstr("exit=4"));
  EXPECT_THAT(Comment(*p, "pystrobe.run.0"), HasSubstr("exit=0"));
  // Each run's CPU time, from the kernel (wait4): at least the 0.5 s it
  // spun; the sampled threads' own time on a CPU (schedstat, ran_s) is
  // most of it, and what they waited for one (wait_s) is there.
  auto field = [](const std::string& c, const std::string& name) {
    const size_t at = c.find(" " + name + "=");
    double v = -1;
    if (at == std::string::npos) return v;
    const size_t begin = at + name.size() + 2;
    if (!absl::SimpleAtod(c.substr(begin, c.find(' ', begin) - begin), &v)) {
      return -1.0;
    }
    return v;
  };
  for (int i = 0; i < 3; ++i) {
    const std::string c = " " + Comment(*p, absl::StrCat("pystrobe.run.", i));
    const double cpu = field(c, "cpu_s");
    EXPECT_GE(cpu, 0.45) << c;
    const double ran = field(c, "ran_s");
    EXPECT_GE(ran, 0.45) << c;
    EXPECT_LE(ran, cpu + 0.01) << c;
    EXPECT_GE(field(c, "wait_s"), 0) << c;
  }
  EXPECT_THAT(r.err, HasSubstr("run 2:"));
  CommandResult top = GoPprof({"-top", out}, dir_.path());
  EXPECT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
}

// A shell script that starts Python: the Python is profiled, the script's
// exit status is pystrobe's.
TEST_F(RecordSessionTest, ALauncherScriptIsFollowedToItsPython) {
  const std::string launcher = P("run.sh");
  WriteTextFile(launcher,
                absl::StrCat("#!/bin/sh\necho starting\n", py_.path, " -c '",
                             SpinScript(1, "0"), "'\nexit 6\n"));
  chmod(launcher.c_str(), 0755);
  const std::string out = P("launcher.pb.gz");
  CommandResult r = RunCommand(
      {PystrobeBinary(), "record", "-r", "200", "-o", out, "--", launcher},
      kTimeout);
  EXPECT_TRUE(r.exited && r.exit_code == 6) << r.Describe();
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status() << r.Describe();
  int64_t total = 0;
  std::map<std::string, int64_t> self = SelfValues(*p, 0, &total);
  EXPECT_GT(self["spin_then_exit"], total / 2) << DescribeProfile(*p);
}

// A command in which no Python ever appears: exit 5 with one line, and no
// profile (never exit 0 without one).
TEST_F(RecordSessionTest, ACommandWithoutPythonExits5) {
  const std::string out = P("none.pb.gz");
  CommandResult r = RunCommand({PystrobeBinary(), "record", "-o", out, "--",
                                "/bin/sh", "-c", "sleep 0.3; exit 0"},
                               kTimeout);
  EXPECT_TRUE(r.exited && r.exit_code == 5) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("no Python process appeared"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(FileExists(out));
}

// An output that cannot be written is refused before the command runs.
TEST_F(RecordSessionTest, AnUnwritableOutputFailsBeforeAnythingRuns) {
  const std::string marker = P("ran");
  const absl::Time start = absl::Now();
  CommandResult r =
      RunCommand({PystrobeBinary(), "record", "-d", "600", "-o",
                  P("missing/x.pb.gz"), "--", py_.path, "-c",
                  absl::StrCat("open('", marker, "', 'w').write('x')")},
                 kTimeout);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));  // the promise: at once
  EXPECT_TRUE(r.exited && r.exit_code == 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("cannot write"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(FileExists(marker)) << "the command ran anyway";
}

// SIGHUP (an SSH session that drops) ends the recording and writes it;
// SIGUSR1 writes a checkpoint and recording goes on.
TEST_F(RecordSessionTest, SighupWritesTheProfileAndSigusr1ACheckpoint) {
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py_, "record_split.py", {dir_.path()}, dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(P("ready"), *target, kTimeout))
      << target->Log();
  const std::string out = P("hup.pb.gz");
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                       "200", "-o", out, "--checkpoint", "0"},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(50, kTimeout)) << (*rec)->Output();
  EXPECT_FALSE(FileExists(out));
  (*rec)->Signal(SIGUSR1);
  ASSERT_TRUE(WaitFor([&] { return FileExists(out); }, kTimeout))
      << (*rec)->Output();
  EXPECT_TRUE((*rec)->running());
  ASSERT_TRUE(ReadProfile(out).ok());
  (*rec)->Signal(SIGHUP);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  EXPECT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  int64_t total = 0;
  std::map<std::string, int64_t> self = SelfValues(*p, 0, &total);
  EXPECT_GT(self["burn_fifty"], 0) << DescribeProfile(*p);
  EXPECT_FALSE(target->HasExited()) << target->Log();
}

// SIGKILL loses at most the last checkpoint interval: with --checkpoint 1,
// a recording killed after 3 s leaves a valid profile of >= 1 s.
TEST_F(RecordSessionTest, ACheckpointSurvivesSigkill) {
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py_, "record_split.py", {dir_.path()}, dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(P("ready"), *target, kTimeout))
      << target->Log();
  const std::string out = P("killed.pb.gz");
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                       "200", "-o", out, "-d", "60", "--checkpoint", "1"},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(600, kTimeout)) << (*rec)->Output();
  (*rec)->Signal(SIGKILL);
  ASSERT_TRUE((*rec)->Wait(kTimeout).has_value());
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status() << "\n" << (*rec)->Output();
  EXPECT_GE(p->duration_nanos, 1'000'000'000) << DescribeProfile(*p);
  CommandResult top = GoPprof({"-top", out}, dir_.path());
  EXPECT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
  EXPECT_FALSE(target->HasExited()) << target->Log();
}

}  // namespace
}  // namespace pystrobe::integration
