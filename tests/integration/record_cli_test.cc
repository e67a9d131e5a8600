// `pystrobe record` as a command: launch mode and its exit status, SIGINT
// in both modes, a target killed mid-record, and every output format from a
// real recording, each read by an independent reader (go tool pprof,
// protobuf's JSON parser, xmllint).
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(120);
const char* const kFunctions[] = {"burn_twenty", "burn_thirty", "burn_fifty"};

std::string Workload(const std::string& name) {
  return PYSTROBE_SOURCE_DIR "/tests/workloads/" + name;
}

// A workload launched by pystrobe is pystrobe's child, not ours: if a test
// fails half-way, kill it by the PID it wrote to DIR/ready (after checking
// that this PID still runs that workload).
class LaunchedWorkloadGuard {
 public:
  LaunchedWorkloadGuard(std::string dir, std::string workload)
      : dir_(std::move(dir)), workload_(std::move(workload)) {}
  ~LaunchedWorkloadGuard() {
    absl::StatusOr<std::string> ready = ReadFileToString(dir_ + "/ready");
    int pid = 0;
    if (!ready.ok() ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(*ready), &pid) ||
        pid <= 0) {
      return;
    }
    absl::StatusOr<std::string> cmdline =
        ReadFileToString(absl::StrCat("/proc/", pid, "/cmdline"));
    if (cmdline.ok() && absl::StrContains(*cmdline, workload_) &&
        absl::StrContains(*cmdline, dir_)) {
      kill(pid, SIGKILL);
    }
  }

 private:
  std::string dir_, workload_;
};

class RecordCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<Interpreter> py = DefaultInterpreter();
    if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
    py_ = *py;
    std::cout << "interpreter: " << py_.name << " " << py_.path << std::endl;
    ASSERT_FALSE(dir_.path().empty());
  }

  // A pprof file that pystrobe's decoder and go tool pprof both read, with
  // samples whose leaves include `function`.
  void ExpectValidPprof(const std::string& path, const std::string& function) {
    absl::StatusOr<Profile> p = ReadProfile(path);
    ASSERT_TRUE(p.ok()) << p.status();
    int64_t total = 0;
    std::map<std::string, int64_t> self = SelfValues(*p, 0, &total);
    EXPECT_GT(total, 0) << DescribeProfile(*p);
    EXPECT_GT(self[function], 0) << DescribeProfile(*p);
    for (const char* mode : {"-raw", "-top"}) {
      CommandResult r = GoPprof({mode, path}, dir_.path());
      ASSERT_TRUE(r.exited && r.exit_code == 0) << mode << " " << r.Describe();
      EXPECT_THAT(r.out, HasSubstr(function)) << mode;
    }
  }

  Interpreter py_;
  ScopedTempDir dir_;
};

TEST_F(RecordCliTest, LaunchModePassesTheExitStatusThrough) {
  const std::string out = dir_.path() + "/launch.pb.gz";
  // Two seconds of its own CPU time, so it is sampled however loaded the
  // machine is, then exit 3.
  const std::string script =
      "import sys, time\n"
      "def spin_then_exit():\n"
      "    end = time.thread_time() + 2\n"
      "    while time.thread_time() < end: pass\n"
      "    sys.exit(3)\n"
      "spin_then_exit()\n";
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "-r", "200", "-o", out, "--", py_.path, "-c", script},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  EXPECT_TRUE(done->exited && done->exit_code == 3) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  ExpectValidPprof(out, "spin_then_exit");
}

TEST_F(RecordCliTest, SigintInLaunchModeReachesTheChildAndWritesTheProfile) {
  LaunchedWorkloadGuard guard(dir_.path(), "record_split.py");
  const std::string out = dir_.path() + "/launch-int.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "-r", "200", "-o", out, "--", py_.path, "-S",
                       "-E", Workload("record_split.py"), dir_.path()},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE(
      WaitFor([&] { return FileExists(dir_.path() + "/ready"); }, kTimeout))
      << (*rec)->Output();
  ASSERT_TRUE((*rec)->WaitForSamples(50, kTimeout)) << (*rec)->Output();
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  // The workload turns KeyboardInterrupt into exit 42; pystrobe passes it on.
  EXPECT_TRUE(done->exited && done->exit_code == 42) << done->Describe() << "\n"
                                                     << (*rec)->Output();
  EXPECT_TRUE(FileExists(dir_.path() + "/interrupted"))
      << "the child got no KeyboardInterrupt";
  ExpectValidPprof(out, "burn_fifty");
}

TEST_F(RecordCliTest, SigintInPidModeWritesTheProfileAndSparesTheTarget) {
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py_, "record_split.py", {dir_.path()}, dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *target, kTimeout))
      << target->Log();
  const std::string out = dir_.path() + "/pid-int.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                       "200", "-o", out},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(50, kTimeout)) << (*rec)->Output();
  (*rec)->Signal(SIGINT);
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  EXPECT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  ExpectValidPprof(out, "burn_fifty");
  EXPECT_FALSE(target->HasExited()) << target->Log();
  EXPECT_FALSE(FileExists(dir_.path() + "/interrupted"))
      << "SIGINT to pystrobe --pid must not reach the target";
}

// The target dies under pystrobe: it stops, writes what it has, exits 0.
// Both while the dead target is still a zombie (its parent has not reaped
// it yet) and once it is gone from /proc.
TEST_F(RecordCliTest, TargetKilledMidRecordLeavesAValidProfile) {
  for (const bool reap : {true, false}) {
    SCOPED_TRACE(reap ? "target reaped at once" : "target left a zombie");
    ScopedTempDir dir;
    absl::StatusOr<ChildProcess> target =
        StartWorkload(py_, "record_split.py", {dir.path()}, dir.path());
    ASSERT_TRUE(target.ok()) << target.status();
    ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/ready", *target, kTimeout))
        << target->Log();
    const std::string out = dir.path() + "/killed.pb.gz";
    absl::StatusOr<std::unique_ptr<Recorder>> rec =
        Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                         "200", "-o", out},
                        dir.path());
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_TRUE((*rec)->WaitForSamples(50, kTimeout)) << (*rec)->Output();
    if (reap) {
      target->KillAndReap();
    } else {
      kill(target->pid(), SIGKILL);
      ASSERT_TRUE(target->WaitForExit(kTimeout));
    }
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    ASSERT_TRUE(done.has_value()) << "pystrobe did not notice\n"
                                  << (*rec)->Output();
    EXPECT_TRUE(done->exited && done->exit_code == 0)
        << done->Describe() << "\n"
        << (*rec)->Output();
    absl::StatusOr<Profile> p = ReadProfile(out);
    ASSERT_TRUE(p.ok()) << p.status() << "\n" << (*rec)->Output();
    int64_t total = 0;
    std::map<std::string, int64_t> self = SelfValues(*p, 0, &total);
    EXPECT_GE(total, 50) << DescribeProfile(*p);
    EXPECT_GT(self["burn_fifty"], 0) << DescribeProfile(*p);
    CommandResult top = GoPprof({"-top", out}, dir.path());
    EXPECT_TRUE(top.exited && top.exit_code == 0) << top.Describe();
  }
}

// Collapsed, speedscope and flame graph files from one live target.
TEST_F(RecordCliTest, EveryFormatFromARealRecording) {
  absl::StatusOr<ChildProcess> target =
      StartWorkload(py_, "record_split.py", {dir_.path()}, dir_.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *target, kTimeout))
      << target->Log();
  auto record = [&](const std::string& format, const std::string& out) {
    absl::StatusOr<std::unique_ptr<Recorder>> rec =
        Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-f",
                         format, "-r", "500", "-d", "1.5", "-o", out},
                        dir_.path());
    if (!rec.ok()) return rec.status().ToString();
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    if (!done || !done->exited || done->exit_code != 0) {
      return absl::StrCat(done ? done->Describe() : "timed out", "\n",
                          (*rec)->Output());
    }
    return std::string();
  };

  // collapsed: "frame;frame;...;leaf count", frames "file:function:line"
  // (":line" left out where the frame has none).
  const std::string collapsed = dir_.path() + "/out.txt";
  ASSERT_EQ(record("collapsed", collapsed), "");
  absl::StatusOr<std::string> text = ReadFileToString(collapsed);
  ASSERT_TRUE(text.ok()) << text.status();
  std::set<std::string> leaves;
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (line.empty()) continue;
    ++lines;
    size_t space = line.rfind(' ');
    ASSERT_NE(space, absl::string_view::npos) << line;
    int64_t count = 0;
    EXPECT_TRUE(absl::SimpleAtoi(line.substr(space + 1), &count) && count > 0)
        << "bad count: " << line;
    std::vector<absl::string_view> frames =
        absl::StrSplit(line.substr(0, space), ';');
    // A frame whose instruction has no line (3.11+ artificial
    // instructions, which traceback shows with lineno None) is
    // "file:function".
    for (absl::string_view f : frames) {
      std::vector<absl::string_view> parts = absl::StrSplit(f, ':');
      int number = 0;
      EXPECT_TRUE(parts.size() == 2 ||
                  (parts.size() == 3 && absl::SimpleAtoi(parts[2], &number) &&
                   number > 0))
          << "not file:function[:line]: " << f;
    }
    std::vector<absl::string_view> parts = absl::StrSplit(frames.back(), ':');
    if (parts.size() >= 2) leaves.insert(std::string(parts[1]));
    // Root first: the workload's entry point is at the bottom.
    EXPECT_THAT(std::string(frames.front()), HasSubstr("record_split.py"));
  }
  EXPECT_GT(lines, 0);
  for (const char* f : kFunctions) {
    EXPECT_TRUE(leaves.count(f)) << f << " is no leaf in\n"
                                 << text->substr(0, 3000);
  }

  // speedscope: valid JSON with the schema's top-level keys.
  const std::string speedscope = dir_.path() + "/out.speedscope.json";
  ASSERT_EQ(record("speedscope", speedscope), "");
  absl::StatusOr<google::protobuf::Struct> json = ReadJsonObject(speedscope);
  ASSERT_TRUE(json.ok()) << json.status();
  const auto& fields = json->fields();
  ASSERT_TRUE(fields.count("profiles") && fields.count("shared"));
  const auto& shared = fields.at("shared").struct_value().fields();
  ASSERT_TRUE(shared.count("frames"));
  const auto& frames = shared.at("frames").list_value();
  std::set<std::string> names;
  for (const auto& f : frames.values()) {
    names.insert(f.struct_value().fields().at("name").string_value());
  }
  for (const char* f : kFunctions) {
    EXPECT_TRUE(std::any_of(
        names.begin(), names.end(),
        [&](const std::string& n) { return absl::StrContains(n, f); }))
        << f << " not among the speedscope frames";
  }
  const auto& profiles = fields.at("profiles").list_value();
  ASSERT_GT(profiles.values_size(), 0);
  for (const auto& v : profiles.values()) {
    const auto& p = v.struct_value().fields();
    ASSERT_TRUE(p.count("type") && p.count("samples") && p.count("weights"));
    EXPECT_EQ(p.at("type").string_value(), "sampled");
    const auto& samples = p.at("samples").list_value();
    EXPECT_EQ(samples.values_size(),
              p.at("weights").list_value().values_size());
    for (const auto& s : samples.values()) {
      for (const auto& index : s.list_value().values()) {
        EXPECT_LT(index.number_value(), frames.values_size());
        EXPECT_GE(index.number_value(), 0);
      }
    }
  }

  // flame graph: well-formed XML naming the functions.
  const std::string svg = dir_.path() + "/out.svg";
  ASSERT_EQ(record("flamegraph", svg), "");
  CommandResult lint = RunCommand({"/usr/bin/xmllint", "--noout", svg});
  EXPECT_TRUE(lint.exited && lint.exit_code == 0) << lint.Describe();
  absl::StatusOr<std::string> svg_text = ReadFileToString(svg);
  ASSERT_TRUE(svg_text.ok()) << svg_text.status();
  EXPECT_THAT(*svg_text, HasSubstr("<svg"));
  for (const char* f : kFunctions) EXPECT_THAT(*svg_text, HasSubstr(f));
}

}  // namespace
}  // namespace pystrobe::integration
