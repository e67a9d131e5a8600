// `pystrobe dump` on bad input: every failure has its exit code and exactly
// one line on stderr starting with "pystrobe: ", and nothing on stdout.
//
//   0 ok, 1 other error, 2 usage, 3 no such process, 4 permission denied,
//   5 not a CPython process, 6 unsupported CPython version, 7 the target
//   exited during the operation.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dump_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr absl::Duration kStartTimeout = absl::Seconds(60);

std::string ExitingWorkload() {
  return PYSTROBE_SOURCE_DIR "/tests/workloads/exiting.py";
}

// Asserts the shape every error must have, then returns the message.
void ExpectOneErrorLine(const CommandResult& r) {
  EXPECT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.out, "") << "an error prints nothing on stdout";
  EXPECT_TRUE(absl::StartsWith(r.err, "pystrobe: ")) << r.Describe();
  EXPECT_TRUE(absl::EndsWith(r.err, "\n")) << r.Describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
      << "exactly one line on stderr:\n"
      << r.Describe();
}

std::vector<std::string> Dump(pid_t pid) {
  return {PystrobeBinary(), "dump", "--pid", std::to_string(pid)};
}

// A Python process that stays alive (exiting.py with an hour's delay), ready
// once the returned process exists. `py` must not be null.
absl::StatusOr<ChildProcess> StartPythonTarget(const Interpreter& py,
                                               const ScopedTempDir& dir) {
  const std::string ready = dir.path() + "/ready";
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      {py.path, "-S", "-E", ExitingWorkload(), ready, "3600000", "3600000"}, {},
      dir.path() + "/target.log");
  if (!target.ok()) return target.status();
  if (!WaitFor([&] { return FileExists(ready) || target->HasExited(); },
               kStartTimeout) ||
      target->HasExited()) {
    return absl::InternalError("python target did not start: " + target->Log());
  }
  return target;
}

// The path /proc/PID/exe points to once `pid` has exec'd `path`.
bool HasExeced(pid_t pid, const std::string& path) {
  std::error_code ec;
  std::filesystem::path exe =
      std::filesystem::read_symlink(absl::StrCat("/proc/", pid, "/exe"), ec);
  std::filesystem::path want = std::filesystem::canonical(path, ec);
  return !ec && exe == want;
}

TEST(DumpErrorsTest, UsageErrorsExit2) {
  const std::vector<std::vector<std::string>> cases = {
      {PystrobeBinary(), "dump"},
      {PystrobeBinary(), "dump", "--json"},
      {PystrobeBinary(), "dump", "--pid"},
      {PystrobeBinary(), "dump", "--pid", "abc"},
      {PystrobeBinary(), "dump", "--pid", "12x"},
      {PystrobeBinary(), "dump", "--pid", ""},
      {PystrobeBinary(), "dump", "--pid", "99999999999999999999999"},
      {PystrobeBinary(), "dump", "--pid", "1", "--no-such-flag"},
      {PystrobeBinary(), "no-such-command"},
  };
  for (const std::vector<std::string>& argv : cases) {
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 2) << r.Describe();
    ExpectOneErrorLine(r);
  }
}

TEST(DumpErrorsTest, NoSuchProcessExits3) {
  // A PID that existed a moment ago and is now free: a child we reaped.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  ASSERT_NE(kill(pid, 0), 0) << "pid " << pid << " was reused already";
  for (bool json : {false, true}) {
    std::vector<std::string> argv = Dump(pid);
    if (json) argv.push_back("--json");
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 3) << r.Describe();
    ExpectOneErrorLine(r);
    EXPECT_THAT(r.err, HasSubstr(std::to_string(pid)));
  }
}

TEST(DumpErrorsTest, NonPythonProcessExits5AndSaysWhatItFound) {
  std::string sleep_path =
      FileExists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep";
  ScopedTempDir dir;
  absl::StatusOr<ChildProcess> target =
      ChildProcess::Start({sleep_path, "1000"}, {}, dir.path() + "/log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitFor([&] { return HasExeced(target->pid(), sleep_path); },
                      kStartTimeout));
  CommandResult r = RunCommand(Dump(target->pid()));
  EXPECT_EQ(r.exit_code, 5) << r.Describe();
  ExpectOneErrorLine(r);
  EXPECT_THAT(r.err, HasSubstr("sleep")) << "name what was found instead";
  EXPECT_FALSE(target->HasExited());
}

// A version newer than pystrobe knows (3.16), and a 3.15 pre-release whose
// _Py_DebugOffsets do not validate: refused, naming the version and why.
TEST(DumpErrorsTest, UnsupportedVersionExits6AndNamesIt) {
  struct Case {
    const char* binary;
    const char* version;
    const char* reason;
  };
  for (const Case& c :
       {Case{PYSTROBE_FAKE_PYTHON316, "3.16.0", "does not support"},
        Case{PYSTROBE_FAKE_PYTHON315, "3.15.0",
             "_Py_DebugOffsets do not validate"}}) {
    SCOPED_TRACE(c.binary);
    ScopedTempDir dir;
    const std::string ready = dir.path() + "/ready";
    absl::StatusOr<ChildProcess> target =
        ChildProcess::Start({c.binary, ready}, {}, dir.path() + "/log");
    ASSERT_TRUE(target.ok()) << target.status();
    ASSERT_TRUE(WaitFor([&] { return FileExists(ready); }, kStartTimeout))
        << target->Log();
    for (bool json : {false, true}) {
      std::vector<std::string> argv = Dump(target->pid());
      if (json) argv.push_back("--json");
      SCOPED_TRACE(absl::StrJoin(argv, " "));
      CommandResult r = RunCommand(argv);
      EXPECT_EQ(r.exit_code, 6) << r.Describe();
      ExpectOneErrorLine(r);
      EXPECT_THAT(r.err, HasSubstr(c.version));
      EXPECT_THAT(r.err, HasSubstr(c.reason));
      EXPECT_EQ(r.out, "") << "nothing on stdout, never a stack";
    }
  }
}

TEST(DumpErrorsTest, PermissionDeniedExits4AndSaysWhatToDo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run pystrobe as nobody";
  if (!FileExists("/usr/bin/setpriv")) GTEST_SKIP() << "no /usr/bin/setpriv";
  const std::vector<std::string> as_nobody = {
      "/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
      "--clear-groups"};
  std::vector<std::string> probe = as_nobody;
  probe.insert(probe.end(), {"/usr/bin/test", "-x", PystrobeBinary()});
  CommandResult can_run = RunCommand(probe);
  if (!(can_run.exited && can_run.exit_code == 0)) {
    GTEST_SKIP() << "user nobody cannot execute " << PystrobeBinary()
                 << " (the build folder or a parent is not world-readable)";
  }
  std::vector<Interpreter> all = FindInterpreters();
  const Interpreter* py = NewestInterpreter(all);
  if (py == nullptr) GTEST_SKIP() << "no Python 3 interpreter found";
  std::cout << "target interpreter: " << py->path << std::endl;

  ScopedTempDir dir;
  absl::StatusOr<ChildProcess> target = StartPythonTarget(*py, dir);
  ASSERT_TRUE(target.ok()) << target.status();
  for (bool json : {false, true}) {
    std::vector<std::string> argv = as_nobody;
    for (const std::string& arg : Dump(target->pid())) argv.push_back(arg);
    if (json) argv.push_back("--json");
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 4) << r.Describe();
    ExpectOneErrorLine(r);
    EXPECT_THAT(r.err,
                AnyOf(HasSubstr("CAP_SYS_PTRACE"), HasSubstr("ptrace_scope")))
        << "tell the user what to do";
  }
  EXPECT_FALSE(target->HasExited());
}

// A target that has already exited but is not yet reaped (a zombie) when
// the dump starts. Its PID exists (kill(pid, 0) succeeds), so "no such
// process" (3) would be false: this is "the target exited" (7).
TEST(DumpErrorsTest, ZombieTargetExits7) {
  std::vector<Interpreter> all = FindInterpreters();
  const Interpreter* py = NewestInterpreter(all);
  if (py == nullptr) GTEST_SKIP() << "no Python 3 interpreter found";
  ScopedTempDir dir;
  const std::string ready = dir.path() + "/ready";
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      {py->path, "-S", "-E", ExitingWorkload(), ready, "0", "0"}, {},
      dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(target->WaitForExit(kStartTimeout)) << target->Log();
  ASSERT_TRUE(FileExists(ready)) << "the target failed:\n" << target->Log();
  ASSERT_EQ(kill(target->pid(), 0), 0) << "the zombie must still exist";
  for (bool json : {false, true}) {
    std::vector<std::string> argv = Dump(target->pid());
    if (json) argv.push_back("--json");
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 7) << r.Describe();
    ExpectOneErrorLine(r);
  }
}

// Targets that exit at a random moment right after they are ready: each dump
// must either succeed with a well-formed dump or report exit 7, never crash,
// hang or claim anything else. Which of the two happens depends on timing,
// so the counts are printed, not asserted. A failing run does not stop the
// loop: the distribution of outcomes is the useful report.
TEST(DumpErrorsTest, TargetExitingDuringDumpExits0Or7) {
  std::vector<Interpreter> all = FindInterpreters();
  const Interpreter* py = NewestInterpreter(all);
  if (py == nullptr) GTEST_SKIP() << "no Python 3 interpreter found";
  std::cout << "target interpreter: " << py->path << std::endl;
  constexpr int kRuns = 30;
  std::map<std::string, int> outcomes;
  for (int i = 0; i < kRuns; ++i) {
    ScopedTempDir dir;
    const std::string ready = dir.path() + "/ready";
    // The target is our unreaped child: its PID stays valid (at worst a
    // zombie) for the whole dump, so "no such process" is never right here.
    absl::StatusOr<ChildProcess> target = ChildProcess::Start(
        {py->path, "-S", "-E", ExitingWorkload(), ready, "0", "60"}, {},
        dir.path() + "/target.log");
    ASSERT_TRUE(target.ok()) << target.status();
    ASSERT_TRUE(
        WaitFor([&] { return FileExists(ready) || target->HasExited(); },
                kStartTimeout))
        << target->Log();
    std::vector<std::string> argv = Dump(target->pid());
    argv.push_back("--json");
    if (i % 2 == 1) argv.push_back("--nonblocking");
    SCOPED_TRACE(absl::StrCat("run ", i, ": ", absl::StrJoin(argv, " ")));
    CommandResult r = RunCommand(argv);
    ++outcomes[r.exited ? absl::StrCat("exit ", r.exit_code)
                        : absl::StrCat("signal ", r.term_signal)];
    EXPECT_TRUE(r.exited) << r.Describe();
    EXPECT_THAT(r.exit_code, AnyOf(0, 7)) << r.Describe();
    if (r.exit_code == 0) {
      absl::StatusOr<ProcessDump> dump = ParseDump(r.out);
      ASSERT_TRUE(dump.ok()) << dump.status() << "\n" << r.Describe();
      EXPECT_EQ(dump->pid, target->pid());
    } else {
      ExpectOneErrorLine(r);
    }
    // However the dump ended, the target must not be left stopped: it exits
    // on its own, which it cannot do from a ptrace stop.
    EXPECT_TRUE(target->WaitForExit(kStartTimeout))
        << "target did not exit on its own after the dump";
  }
  std::cout << "target exiting during dump, outcomes of " << kRuns << " runs: "
            << absl::StrJoin(outcomes, ", ", absl::PairFormatter(": "))
            << std::endl;
}

}  // namespace
}  // namespace pystrobe::integration
