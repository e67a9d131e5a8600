// What a new user meets after `pystrobe record`, from real recordings: the
// output's extension names its format (`file` and the first bytes agree),
// a contradicting -f is refused in one line, the flame graph is titled with
// what was recorded, and a target killed before the duration ran out is
// said to have ended early, and how.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "pystrobe/process/cpu_wait.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kTimeout = absl::Seconds(120);

// One second of its own CPU time in a named function, then exit 0.
constexpr char kSpin[] =
    "import time\n"
    "def spin_a_second():\n"
    "    end = time.thread_time() + 1\n"
    "    while time.thread_time() < end: pass\n"
    "spin_a_second()\n";

class RecordFirstUseTest : public DefaultInterpreterTest {
 protected:
  // Records kSpin launched with `args` before `--`; "" or what went wrong.
  std::string RecordSpin(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"record", "-r", "200"};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const std::string& a :
         {std::string("--"), py_.path, std::string("-c"), std::string(kSpin)}) {
      argv.push_back(a);
    }
    absl::StatusOr<std::unique_ptr<Recorder>> rec =
        Recorder::Start(argv, dir_.path());
    if (!rec.ok()) return rec.status().ToString();
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    if (!done || !done->exited || done->exit_code != 0) {
      return absl::StrCat(done ? done->Describe() : "timed out", "\n",
                          (*rec)->Output());
    }
    return "";
  }

  std::string FileSays(const std::string& path) {
    CommandResult r = RunCommand({"/usr/bin/file", "-b", path});
    return r.out;
  }
};

TEST_F(RecordFirstUseTest, TheExtensionNamesTheFormat) {
  const std::string svg = dir_.path() + "/app.svg";
  ASSERT_EQ(RecordSpin({"-o", svg}), "");
  EXPECT_THAT(FileSays(svg), HasSubstr("SVG")) << "file says " << FileSays(svg);
  absl::StatusOr<std::string> text = ReadFileToString(svg);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, StartsWith("<?xml"));
  EXPECT_THAT(*text, HasSubstr("spin_a_second"));

  const std::string speedscope = dir_.path() + "/app.speedscope.json";
  ASSERT_EQ(RecordSpin({"-o", speedscope}), "");
  absl::StatusOr<google::protobuf::Struct> json = ReadJsonObject(speedscope);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(json->fields().count("profiles"));

  const std::string collapsed = dir_.path() + "/app.collapsed";
  ASSERT_EQ(RecordSpin({"-o", collapsed}), "");
  text = ReadFileToString(collapsed);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr(":spin_a_second:"));
  EXPECT_THAT(FileSays(collapsed), HasSubstr("text"));

  const std::string pprof = dir_.path() + "/app.pb.gz";
  ASSERT_EQ(RecordSpin({"-o", pprof}), "");
  EXPECT_THAT(FileSays(pprof), HasSubstr("gzip"));
}

TEST_F(RecordFirstUseTest, AFormatContradictingTheExtensionIsRefused) {
  const std::string svg = dir_.path() + "/x.svg";
  CommandResult r = RunCommand({PystrobeBinary(), "record", "-f", "pprof", "-o",
                                svg, "--", py_.path, "-c", "pass"},
                               kTimeout);
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("-f pprof contradicts -o " + svg));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(FileExists(svg)) << "nothing is recorded or written";
}

TEST_F(RecordFirstUseTest, TheFlameGraphIsTitledWithWhatWasRecorded) {
  const std::string svg = dir_.path() + "/titled.svg";
  ASSERT_EQ(RecordSpin({"-o", svg}), "");
  absl::StatusOr<std::string> text = ReadFileToString(svg);
  ASSERT_TRUE(text.ok()) << text.status();
  const size_t title = text->find("<text id=\"title\"");
  const size_t subtitle = text->find("<text id=\"subtitle\"");
  ASSERT_NE(title, std::string::npos);
  ASSERT_NE(subtitle, std::string::npos);
  const std::string heading = text->substr(title, subtitle - title + 300);
  // The command line the interpreter runs, its version (the target's own
  // sys.version_info), the mode and rate asked.
  EXPECT_THAT(heading, HasSubstr(py_.path));
  CommandResult version = RunCommand(
      {py_.path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"});
  ASSERT_TRUE(version.exited && version.exit_code == 0) << version.Describe();
  EXPECT_THAT(heading,
              HasSubstr("CPython " +
                        std::string(absl::StripAsciiWhitespace(version.out))));
  EXPECT_THAT(heading, HasSubstr("wall mode at 200 Hz"));
  EXPECT_THAT(heading, HasSubstr(" samples, "));
  EXPECT_THAT(heading, HasSubstr(" UTC"));
}

// A target killed 2 s into `record --pid -d 10`: the summary says it ended
// early, after how long, and (the target being our zombie until reaped
// below) that signal 9 killed it; the profile carries no placeholders.
TEST_F(RecordFirstUseTest, AnEarlyEndSaysWhenAndHow) {
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py_, "record_split.py", {dir_.path()}, dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *target, kTimeout))
      << target->Log();
  const std::string out = dir_.path() + "/early.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                       "200", "-d", "10", "-o", out},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(50, kTimeout)) << (*rec)->Output();
  kill(target->pid(), SIGKILL);  // left a zombie: we do not reap it yet
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  EXPECT_TRUE(done->exited && done->exit_code == 0) << done->Describe();
  const std::string output = (*rec)->Output();
  EXPECT_THAT(output, HasSubstr("; the target exited after "));
  EXPECT_THAT(output, HasSubstr(" of the 10 s asked (killed by signal 9 "
                                "(SIGKILL))"));
  target->KillAndReap();

  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  bool run_comment = false;
  for (const std::string& c : p->comments) {
    if (!absl::StartsWith(c, "pystrobe.run.")) continue;
    run_comment = true;
    EXPECT_THAT(c, Not(HasSubstr("cpu_s="))) << c;
    EXPECT_THAT(c, Not(HasSubstr("exit="))) << c;
    EXPECT_THAT(c, Not(HasSubstr("-1"))) << c;
    EXPECT_THAT(c, HasSubstr("wait_s=")) << c;
  }
  EXPECT_TRUE(run_comment) << "no pystrobe.run comment";
}

// Twice as many threads hashing (the GIL released) as the machine has CPUs:
// they wait for a CPU well over a quarter of their runnable time. The summary
// states the share and the kind of waiting that the profile's own
// accounting (its pystrobe.run comment) gives, by the one rule of
// process/cpu_wait.h.
TEST_F(RecordFirstUseTest, WaitingForACpuIsStatedAsTheProfileMeasuredIt) {
  const std::string script =
      "import hashlib, os, threading, time\n"
      "data = b'x' * (1 << 20)\n"
      "def hash_for(seconds):\n"
      "    end = time.time() + seconds\n"
      "    while time.time() < end: hashlib.sha256(data).digest()\n"
      "ts = [threading.Thread(target=hash_for, args=(3,)) for _ in "
      "range(2 * (os.cpu_count() or 2))]\n"
      "for t in ts: t.start()\n"
      "for t in ts: t.join()\n";
  const std::string out = dir_.path() + "/pool.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "-r", "100", "-o", out, "--", py_.path, "-c", script},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
      << (*rec)->Output();
  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  double ran = -1, wait = -1, waits = -1;
  for (const std::string& c : p->comments) {
    if (!absl::StartsWith(c, "pystrobe.run.0=")) continue;
    for (absl::string_view field : absl::StrSplit(c, ' ')) {
      std::vector<std::string> kv = absl::StrSplit(field, '=');
      double* to = kv.size() < 2              ? nullptr
                   : kv.end()[-2] == "ran_s"  ? &ran
                   : kv.end()[-2] == "wait_s" ? &wait
                   : kv.end()[-2] == "waits"  ? &waits
                                              : nullptr;
      if (to != nullptr) {
        ASSERT_TRUE(absl::SimpleAtod(kv.back(), to)) << c;
      }
    }
  }
  ASSERT_GT(ran, 0) << "no run accounting in the profile";
  const double share = wait / (ran + wait);
  ASSERT_GT(share, 0.25) << "2 hashing threads a CPU on "
                         << sysconf(_SC_NPROCESSORS_ONLN)
                         << " CPUs waited only " << share;
  const std::string output = (*rec)->Output();
  const bool long_waits = waits <= 0 || wait / waits >= kOverloadedMeanWaitS;
  EXPECT_THAT(output,
              HasSubstr(absl::StrFormat("waited for a CPU %.0f%% of the time "
                                        "they could run, %.2f ms per wait",
                                        100 * share, 1e3 * wait / waits)));
  if (long_waits) {
    EXPECT_THAT(output, HasSubstr("pystrobe: warning: the machine was "
                                  "overloaded"));
  } else {
    EXPECT_THAT(output, HasSubstr("pystrobe: note: the target's threads"));
    EXPECT_THAT(output, HasSubstr("many short waits"));
  }
  std::cout << "wait share " << share << ", mean wait " << 1e3 * wait / waits
            << " ms" << std::endl;
}

}  // namespace
}  // namespace pystrobe::integration
