// `pystrobe top` in a real terminal: a tmux pane of 80x24 on a private
// tmux server, driven with send-keys and read with capture-pane. The
// workload (tests/workloads/top_hot.py) spins in hot_function_for_top on
// its main thread and sleeps in nap_in_helper on a thread whose OS name is
// "napper"; it counts its own loops in DIR/beats, so the test sees it keep
// running. After top exits, the pane runs `stty -a`: canonical mode and
// echo must be back (the terminal is sane), whether top ended by `q` or by
// SIGTERM. With --subprocesses (tests/workloads/top_tree.py: a sleeping
// parent whose children spin in hot_child_for_top, one forked before top
// starts and one started while it runs) the children's function and every
// process are on the screen, the pid filter selects one process, and no
// target is ever seen stopped (/proc/PID/stat).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "native_support.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(60);
constexpr char kTmux[] = "/usr/bin/tmux";

// A tmux server of its own (-L), killed with everything in it at the end.
class TmuxPane {
 public:
  explicit TmuxPane(std::string socket) : socket_(std::move(socket)) {}
  ~TmuxPane() { Tmux({"kill-server"}); }

  CommandResult Tmux(std::vector<std::string> args) const {
    args.insert(args.begin(), {kTmux, "-L", socket_, "-f", "/dev/null"});
    return RunCommand(args, absl::Seconds(20));
  }
  // A detached 80x24 session running `command` (through sh).
  bool Start(const std::string& command) const {
    CommandResult r = Tmux(
        {"new-session", "-d", "-x", "80", "-y", "24", "-s", "top", command});
    if (!(r.exited && r.exit_code == 0)) std::cerr << r.Describe();
    return r.exited && r.exit_code == 0;
  }
  std::string Capture() const {
    return Tmux({"capture-pane", "-p", "-t", "top"}).out;
  }
  void Keys(const std::vector<std::string>& keys) const {
    std::vector<std::string> args = {"send-keys", "-t", "top"};
    args.insert(args.end(), keys.begin(), keys.end());
    Tmux(args);
  }
  // The pid of the pane's shell.
  pid_t ShellPid() const {
    int pid = 0;
    std::string out =
        Tmux({"list-panes", "-t", "top", "-F", "#{pane_pid}"}).out;
    return absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &pid) ? pid : 0;
  }
  // Waits until the pane shows a match of `re`; the screen in `*screen`.
  bool WaitForScreen(const std::string& re, absl::Duration timeout,
                     std::string* screen) const {
    const std::regex pattern(re);
    return WaitFor(
        [&] {
          *screen = Capture();
          return std::regex_search(*screen, pattern);
        },
        timeout);
  }

 private:
  std::string socket_;
};

// The %Own of the row of `function` on the screen, -1 when absent.
double OwnShare(const std::string& screen, const std::string& function) {
  std::smatch m;
  const std::regex row(R"(^\s*([\d.]+)%\s+[\d.]+%.*\b)" + function + R"( \()");
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(screen, '\n'))) {
    if (std::regex_search(line, m, row)) return std::stod(m[1]);
  }
  return -1;
}

// stty -a output says canonical mode and echo are on ("-icanon": off).
void ExpectSaneTerminal(const std::string& screen) {
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"((^|\s)icanon(\s|$))")))
      << screen;
  EXPECT_TRUE(std::regex_search(screen, std::regex(R"((^|\s)echo(\s|$))")))
      << screen;
  EXPECT_FALSE(std::regex_search(screen, std::regex(R"((^|\s)-icanon\b)")))
      << screen;
  EXPECT_FALSE(std::regex_search(screen, std::regex(R"((^|\s)-echo(\s|$))")))
      << screen;
}

int64_t Beats(const std::string& dir) {
  int64_t n = -1;
  absl::StatusOr<std::string> s = ReadFileToString(dir + "/beats");
  if (s.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*s), &n);
  return n;
}

class TopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kTmux, X_OK) != 0) GTEST_SKIP() << "no tmux";
    std::optional<Interpreter> py = DefaultInterpreter();
    if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
    std::cout << "interpreter: " << py->name << " " << py->path << std::endl;
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<ChildProcess> t =
        StartWorkload(*py, "top_hot.py", {dir_.path()}, dir_.path());
    ASSERT_TRUE(t.ok()) << t.status();
    target_.emplace(*std::move(t));
    ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *target_, kTimeout))
        << target_->Log();
    pane_.emplace(absl::StrCat("pystrobe-top-test-", getpid()));
  }
  // top in the pane, then its exit status and `stty -a`.
  std::string TopCommand(const std::string& args) const {
    return absl::StrCat("sh -c '", PystrobeBinary(), " top --pid ",
                        target_->pid(), " ", args,
                        "; echo top-exit=$?; stty -a; exec sleep 120'");
  }

  ScopedTempDir dir_;
  std::optional<ChildProcess> target_;
  std::optional<TmuxPane> pane_;
};

TEST_F(TopTest, ShowsTheHotFunctionFiltersThreadsAndQuitsCleanly) {
  ASSERT_TRUE(pane_->Start(TopCommand("--idle")));
  std::string screen;
  ASSERT_TRUE(pane_->WaitForScreen(
      absl::StrCat("pystrobe top  pid ", target_->pid()), kTimeout, &screen))
      << screen;
  // Within 3 s of the first screen: each tick samples both threads, so the
  // spinning main thread's function holds about half the samples.
  ASSERT_TRUE(pane_->WaitForScreen(R"(hot_function_for_top \(top_hot\.py)",
                                   absl::Seconds(3), &screen))
      << screen;
  const double hot = OwnShare(screen, "hot_function_for_top");
  EXPECT_GT(hot, 35) << screen;
  EXPECT_LT(hot, 65) << screen;
  EXPECT_THAT(screen, HasSubstr("nap_in_helper"));
  EXPECT_THAT(screen, HasSubstr("napper"));
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(screen, '\n'))) {
    EXPECT_LE(line.size(), 80u) << line;
  }
  // At least one refresh a second: the elapsed seconds move.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(screen, m, std::regex(R"(\) +(\d+) s\n)")));
  const std::string first = m[1];
  ASSERT_TRUE(
      pane_->WaitForScreen(R"(\) +(\d+) s\n)", absl::Seconds(2), &screen) &&
      WaitFor(
          [&] {
            screen = pane_->Capture();
            return std::regex_search(screen, m,
                                     std::regex(R"(\) +(\d+) s\n)")) &&
                   m[1] != first;
          },
          absl::Seconds(2.5)))
      << screen;

  // Filter by the thread's OS name: only its functions, at its whole share.
  pane_->Keys({"/", "napper", "Enter"});
  ASSERT_TRUE(pane_->WaitForScreen(R"(threads: 'napper' \(1 of 2\))",
                                   absl::Seconds(5), &screen))
      << screen;
  EXPECT_EQ(OwnShare(screen, "hot_function_for_top"), -1) << screen;
  EXPECT_GT(OwnShare(screen, "nap_in_helper"), 90) << screen;
  pane_->Keys({"a"});
  ASSERT_TRUE(pane_->WaitForScreen(R"(threads: all \(2 of 2\))",
                                   absl::Seconds(5), &screen))
      << screen;

  // Pause: the rows stop changing.
  pane_->Keys({"p"});
  ASSERT_TRUE(pane_->WaitForScreen("PAUSED", absl::Seconds(5), &screen));
  absl::SleepFor(absl::Milliseconds(300));
  const std::string paused_rows = pane_->Capture().substr(screen.find('\n'));
  absl::SleepFor(absl::Seconds(1.5));
  std::string later = pane_->Capture();
  later = later.substr(later.find('\n'));
  // The status line has PAUSED and the same sample count; rows identical.
  EXPECT_EQ(later, paused_rows);

  const int64_t beats_before = Beats(dir_.path());
  pane_->Keys({"q"});
  ASSERT_TRUE(pane_->WaitForScreen("top-exit=", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  ASSERT_TRUE(pane_->WaitForScreen("icanon", kTimeout, &screen)) << screen;
  ExpectSaneTerminal(screen);
  EXPECT_THAT(screen, Not(HasSubstr("hot_function_for_top")))
      << "the alternate screen was left";
  // The target was never stopped and still runs.
  EXPECT_TRUE(WaitFor([&] { return Beats(dir_.path()) > beats_before + 2; },
                      absl::Seconds(10)));
  EXPECT_FALSE(target_->HasExited()) << target_->Log();
}

TEST_F(TopTest, SigtermRestoresTheTerminal) {
  ASSERT_TRUE(pane_->Start(TopCommand("--mode cpu")));
  std::string screen;
  ASSERT_TRUE(
      pane_->WaitForScreen(R"(hot_function_for_top \()", kTimeout, &screen))
      << screen;
  // In cpu mode only the spinning thread uses CPU.
  EXPECT_GT(OwnShare(screen, "hot_function_for_top"), 80) << screen;
  // top is the child of the pane's shell.
  const pid_t shell = pane_->ShellPid();
  ASSERT_GT(shell, 0);
  absl::StatusOr<std::string> children = ReadFileToString(
      absl::StrCat("/proc/", shell, "/task/", shell, "/children"));
  ASSERT_TRUE(children.ok()) << children.status();
  int top = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*children), &top))
      << *children;
  ASSERT_EQ(kill(top, SIGTERM), 0);
  ASSERT_TRUE(pane_->WaitForScreen("icanon", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  ExpectSaneTerminal(screen);
  EXPECT_FALSE(target_->HasExited()) << target_->Log();
}

TEST_F(TopTest, BadTargetsGetOneLineAndTheirExitCode) {
  // No such process: exit 3, the terminal untouched.
  ASSERT_TRUE(pane_->Start(absl::StrCat(
      "sh -c '", PystrobeBinary(),
      " top --pid 999999999; echo top-exit=$?; stty -a; exec sleep 120'")));
  std::string screen;
  ASSERT_TRUE(pane_->WaitForScreen("icanon", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=3")) << screen;
  EXPECT_THAT(screen, HasSubstr("pystrobe: ")) << screen;
  ExpectSaneTerminal(screen);
  // Not a terminal: exit 2, one line.
  CommandResult r = RunCommand(
      {PystrobeBinary(), "top", "--pid", std::to_string(target_->pid())});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("needs a terminal")) << r.Describe();
  r = RunCommand({PystrobeBinary(), "top"});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  // Several pids parse (then the terminal is missing); a bad one is named.
  const std::string pid = std::to_string(target_->pid());
  r = RunCommand({PystrobeBinary(), "top", "--pid", pid + "," + pid, "--pid",
                  pid, "--subprocesses"});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("needs a terminal")) << r.Describe();
  r = RunCommand({PystrobeBinary(), "top", "--pid", pid + ",abc"});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("--pid wants a process ID, not 'abc'"))
      << r.Describe();
  r = RunCommand({PystrobeBinary(), "top", "--pid", pid, "--rate", "0.5"});
  EXPECT_TRUE(r.exited && r.exit_code == 2) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("[1, 10000]")) << r.Describe();
}

// The state letter of /proc/PID/stat ('R', 'S', 'T' stopped, 't' traced),
// 0 when the process is gone.
char ProcessState(pid_t pid) {
  absl::StatusOr<std::string> stat =
      ReadFileToString(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return 0;
  const size_t paren = stat->rfind(')');  // the command may hold spaces
  if (paren == std::string::npos || paren + 2 >= stat->size()) return 0;
  return (*stat)[paren + 2];
}

// Reads the state of `pids` every few milliseconds until destroyed; every
// time one was stopped is kept.
class StopWatcher {
 public:
  StopWatcher() : thread_([this] { Run(); }) {}
  ~StopWatcher() {
    done_.store(true);
    thread_.join();
  }
  void Watch(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    pids_.insert(pid);
  }
  std::string Stops() {
    std::lock_guard<std::mutex> lock(mu_);
    return stops_;
  }

 private:
  void Run() {
    while (!done_.load()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (pid_t pid : pids_) {
          const char state = ProcessState(pid);
          if (state == 'T' || state == 't') {
            absl::StrAppend(&stops_, pid, " was '", std::string(1, state),
                            "'\n");
          }
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  std::mutex mu_;
  std::set<pid_t> pids_;
  std::string stops_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The screen's line of process `pid` in the foot ("  PID COMMAND SHARE:
// threads..."), "" when absent.
std::string ProcessLine(const std::string& screen, int64_t pid) {
  const std::regex line(absl::StrCat(R"(^ *)", pid, R"( \S.* \d+%:)"));
  for (const std::string& l :
       std::vector<std::string>(absl::StrSplit(screen, '\n'))) {
    if (std::regex_search(l, line)) return l;
  }
  return "";
}

// The recent span of the status line ("recent 4.6 s: 1080 samples") is at
// most the time top has run (the title's "  12 s"), and holds samples of
// `processes` busy processes at about `rate_hz` each (at least a third).
void ExpectSpanWithinElapsed(const std::string& screen, int processes,
                             double rate_hz) {
  std::smatch span, elapsed;
  ASSERT_TRUE(std::regex_search(
      screen, span, std::regex(R"(recent ([\d.]+) s: (\d+) samples)")))
      << screen;
  ASSERT_TRUE(std::regex_search(screen, elapsed, std::regex(R"( (\d+) s\n)")))
      << screen;
  const double seconds = std::stod(span[1]);
  // The title's seconds are rounded: half a second of slack, and a window.
  EXPECT_LE(seconds, std::stod(elapsed[1]) + 1.0) << screen;
  EXPECT_GE(std::stod(span[2]), seconds * rate_hz * processes / 3) << screen;
}

std::vector<int64_t> Children(const std::string& dir) {
  std::vector<int64_t> out;
  absl::StatusOr<std::string> s = ReadFileToString(dir + "/children");
  if (!s.ok()) return out;
  for (absl::string_view part :
       absl::StrSplit(*s, absl::ByAnyChar("[], "), absl::SkipEmpty())) {
    int64_t pid = 0;
    if (absl::SimpleAtoi(part, &pid)) out.push_back(pid);
  }
  return out;
}

class TopTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kTmux, X_OK) != 0) GTEST_SKIP() << "no tmux";
    std::optional<Interpreter> py = DefaultInterpreter();
    if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
    if (py->chrooted()) GTEST_SKIP() << "the workload's children need a host";
    std::cout << "interpreter: " << py->name << " " << py->path << std::endl;
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<ChildProcess> t =
        StartWorkload(*py, "top_tree.py", {dir_.path()}, dir_.path());
    ASSERT_TRUE(t.ok()) << t.status();
    parent_.emplace(*std::move(t));
    ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *parent_, kTimeout))
        << parent_->Log();
    ASSERT_EQ(Children(dir_.path()).size(), 1u);
    watcher_.Watch(parent_->pid());
    watcher_.Watch(static_cast<pid_t>(Children(dir_.path())[0]));
    pane_.emplace(absl::StrCat("pystrobe-top-tree-test-", getpid()));
  }
  void TearDown() override {
    // The children leave when their parent does; these are sure to.
    for (int64_t pid : Children(dir_.path())) {
      kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  std::string TopCommand(const std::string& args) const {
    return absl::StrCat("sh -c '", PystrobeBinary(), " top ", args,
                        "; echo top-exit=$?; stty -a; exec sleep 120'");
  }

  ScopedTempDir dir_;
  std::optional<ChildProcess> parent_;
  std::optional<TmuxPane> pane_;
  StopWatcher watcher_;
};

TEST_F(TopTreeTest, SubprocessesShowsEveryProcessAndTheChildrensFunction) {
  const pid_t parent = parent_->pid();
  const int64_t first = Children(dir_.path())[0];
  // --idle: the parent only sleeps.
  ASSERT_TRUE(pane_->Start(
      TopCommand(absl::StrCat("--subprocesses --idle --pid ", parent))));
  std::string screen;
  ASSERT_TRUE(pane_->WaitForScreen(
      absl::StrCat("pystrobe top  pid ", parent, " \\+children: "), kTimeout,
      &screen))
      << screen;
  // Within a few seconds of the first screen: the child forked before top
  // started, and the parent, each on its line.
  ASSERT_TRUE(WaitFor(
      [&] {
        screen = pane_->Capture();
        return OwnShare(screen, "hot_child_for_top") > 0 &&
               !ProcessLine(screen, first).empty() &&
               !ProcessLine(screen, parent).empty();
      },
      absl::Seconds(5)))
      << screen;
  EXPECT_THAT(screen, HasSubstr("parent_waits_for_children"));
  EXPECT_THAT(screen, HasSubstr(": 2 processes")) << screen;
  EXPECT_THAT(ProcessLine(screen, first), HasSubstr("top_tree.py"));
  EXPECT_THAT(ProcessLine(screen, first),
              HasSubstr(absl::StrCat("%: ", first, " ")))
      << "its main thread";
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(screen, '\n'))) {
    EXPECT_LE(line.size(), 80u) << line;
  }

  // A child started while top runs joins the view.
  ASSERT_TRUE(TouchFile(dir_.path() + "/more"));
  ASSERT_TRUE(
      WaitFor([&] { return Children(dir_.path()).size() == 2; }, kTimeout));
  const int64_t second = Children(dir_.path())[1];
  watcher_.Watch(static_cast<pid_t>(second));
  ASSERT_TRUE(WaitFor(
      [&] {
        screen = pane_->Capture();
        return !ProcessLine(screen, second).empty();
      },
      absl::Seconds(10)))
      << screen;
  ASSERT_TRUE(pane_->WaitForScreen(": 3 processes", absl::Seconds(5), &screen))
      << screen;
  // Each window is its own half second (not the time since start), so the
  // samples of the recent seconds are those of about 3 processes.
  absl::SleepFor(absl::Seconds(2));
  screen = pane_->Capture();
  ExpectSpanWithinElapsed(screen, 3, 100);

  // The filter by pid: that process's threads only.
  pane_->Keys({"/", absl::StrCat("pid:", second), "Enter"});
  ASSERT_TRUE(pane_->WaitForScreen(
      absl::StrCat(R"(threads: 'pid:)", second, R"(' \(1 of \d+\))"),
      absl::Seconds(5), &screen))
      << screen;
  EXPECT_THAT(screen, Not(HasSubstr("parent_waits_for_children"))) << screen;
  // All of its time (once its start-up leaves the recent seconds).
  EXPECT_TRUE(WaitFor(
      [&] {
        screen = pane_->Capture();
        return OwnShare(screen, "hot_child_for_top") > 90;
      },
      absl::Seconds(10)))
      << screen;

  pane_->Keys({"q"});
  ASSERT_TRUE(pane_->WaitForScreen("top-exit=", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  ASSERT_TRUE(pane_->WaitForScreen("icanon", kTimeout, &screen)) << screen;
  ExpectSaneTerminal(screen);
  // Every target still runs, and none was ever stopped.
  for (int64_t pid : {static_cast<int64_t>(parent), first, second}) {
    const char state = ProcessState(static_cast<pid_t>(pid));
    EXPECT_TRUE(state == 'R' || state == 'S') << pid << " is '" << state << "'";
  }
  EXPECT_EQ(watcher_.Stops(), "");
  EXPECT_FALSE(parent_->HasExited()) << parent_->Log();
}

// Several --pid without --subprocesses: those processes, no others.
TEST_F(TopTreeTest, SeveralPidsAreWatchedTogether) {
  const pid_t parent = parent_->pid();
  const int64_t first = Children(dir_.path())[0];
  ASSERT_TRUE(pane_->Start(
      TopCommand(absl::StrCat("--idle --pid ", parent, " --pid ", first))));
  std::string screen;
  ASSERT_TRUE(WaitFor(
      [&] {
        screen = pane_->Capture();
        return !ProcessLine(screen, first).empty() &&
               !ProcessLine(screen, parent).empty();
      },
      kTimeout))
      << screen;
  EXPECT_THAT(screen, HasSubstr(absl::StrCat("pids ", parent, ",", first,
                                             ": 2 processes")));
  // A child started now is not watched.
  ASSERT_TRUE(TouchFile(dir_.path() + "/more"));
  ASSERT_TRUE(
      WaitFor([&] { return Children(dir_.path()).size() == 2; }, kTimeout));
  const int64_t second = Children(dir_.path())[1];
  // Two refreshes at least (4 a second) after the child runs Python.
  absl::SleepFor(absl::Seconds(2));
  screen = pane_->Capture();
  EXPECT_EQ(ProcessLine(screen, second), "") << screen;
  EXPECT_THAT(screen, HasSubstr(": 2 processes")) << screen;
  pane_->Keys({"q"});
  ASSERT_TRUE(pane_->WaitForScreen("top-exit=", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  EXPECT_EQ(watcher_.Stops(), "");
}

// top --async on tests/workloads/async_record.py: its `request` task (a
// TaskGroup child of the `server` task, itself awaited by the main task)
// loops over handle() -> burn(), which spins on the CPU, and nap(), which
// sleeps. In cpu mode burn holds most of the thread's CPU (the workload
// measures how much). With --async a sample of burn is taken at the
// task's logical stack, so `server` and `main` (suspended coroutines of
// other tasks, never on the thread's stack while burn runs) are on the
// stack of every sample of the request task: on screen their %Total is
// handle's. Without --async they are not on any stack that burns.
std::vector<Interpreter> TopAsyncInterpreters() {
  std::vector<Interpreter> out;
  for (const Interpreter& py : FindInterpreters()) {
    // pyenv's 3.12.1 (tasks through asyncio.tasks' containers), forky's
    // 3.14 and 3.15 (the _asyncio module's debug offsets).
    if (py.name == "Py3_12_1" || py.name == "Forky3_14" ||
        py.name == "Forky3_15") {
      out.push_back(py);
    }
  }
  return out;
}

// The %Own and %Total of the row of `function` of async_record.py, -1
// each when absent.
std::pair<double, double> AsyncRecordShares(const std::string& screen,
                                            const std::string& function) {
  std::smatch m;
  const std::regex row(R"(^\s*([\d.]+)%\s+([\d.]+)%.*\b)" + function +
                       R"( \(async_record\.py)");
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(screen, '\n'))) {
    if (std::regex_search(line, m, row)) {
      return {std::stod(m[1]), std::stod(m[2])};
    }
  }
  return {-1, -1};
}

class TopAsyncTest : public ::testing::TestWithParam<Interpreter> {};

TEST_P(TopAsyncTest, TheRunningTasksAwaitersAreOnItsStackOnlyWithAsync) {
  if (access(kTmux, X_OK) != 0) GTEST_SKIP() << "no tmux";
  const Interpreter& py = GetParam();
  std::cout << "interpreter: " << py.name << " " << py.root << py.path
            << std::endl;
  ScopedTempDir dir(py.TempParent());
  ASSERT_FALSE(dir.path().empty());
  const std::string workload = StageWorkload(py, dir.path(), "async_record.py");
  ASSERT_FALSE(workload.empty());
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      py.Command({"-S", "-E", workload, py.TargetPath(dir.path())}),
      {{"LC_ALL", "C.UTF-8"}}, dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/ready", *target, kTimeout))
      << target->Log();
  ASSERT_TRUE(TouchFile(dir.path() + "/start"));

  struct Seen {
    std::pair<double, double> burn, handle, server, main;
  };
  Seen seen[2];
  for (const bool async : {false, true}) {
    SCOPED_TRACE(async ? "top --async" : "top");
    // A tmux server of its own each: the first one may still be shutting
    // down when the second starts.
    TmuxPane pane(absl::StrCat("pystrobe-top-async-test-", getpid(),
                               async ? "-async" : "-plain"));
    ASSERT_TRUE(pane.Start(
        absl::StrCat("sh -c '", PystrobeBinary(), " top --pid ", target->pid(),
                     " --mode cpu", async ? " --async" : "",
                     "; echo top-exit=$?; stty -a; exec sleep 120'")));
    std::string screen;
    ASSERT_TRUE(
        pane.WaitForScreen(R"(burn \(async_record\.py)", kTimeout, &screen))
        << screen << target->Log();
    if (async) {
      EXPECT_THAT(screen, HasSubstr(" cpu async ")) << screen;
    } else {
      EXPECT_THAT(screen, Not(HasSubstr("async "))) << screen;
    }
    // By total: the stack's outer functions first, then main, server,
    // handle and burn, all within the 18 rows of the pane.
    pane.Keys({"s"});
    ASSERT_TRUE(pane.WaitForScreen("sort: total", absl::Seconds(5), &screen))
        << screen;
    // A few seconds of samples (100 a second) for steady shares.
    absl::SleepFor(absl::Seconds(3));
    screen = pane.Capture();
    std::cout << screen << std::endl;
    Seen& s = seen[async ? 1 : 0];
    s.burn = AsyncRecordShares(screen, "burn");
    s.handle = AsyncRecordShares(screen, "handle");
    s.server = AsyncRecordShares(screen, "server");
    s.main = AsyncRecordShares(screen, "main");
    // burn's own share is most of the CPU either way, under handle (both
    // run in the request task, on the thread's stack).
    EXPECT_GT(s.burn.first, 50) << screen;
    EXPECT_GE(s.handle.second, s.burn.first - 0.5) << screen;
    if (async) {
      // Every sample of the request task carries its awaiters' chains:
      // server (whose TaskGroup awaits it) and main (awaiting server).
      EXPECT_GE(s.server.second, s.handle.second - 1) << screen;
      EXPECT_GE(s.main.second, s.server.second - 1) << screen;
      EXPECT_LE(s.server.first, 1) << screen;
    } else {
      // Suspended in other tasks: at most a sliver (server and main run
      // only at start-up, long before top).
      EXPECT_LT(s.server.second, 2) << screen;
      EXPECT_LT(s.main.second, 2) << screen;
    }
    pane.Keys({"q"});
    ASSERT_TRUE(pane.WaitForScreen("top-exit=", kTimeout, &screen)) << screen;
    EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  }
  // The workload's own accounting of the window both views watched:
  // burn's share of its thread's CPU.
  ASSERT_TRUE(TouchFile(dir.path() + "/stop"));
  ASSERT_TRUE(WaitForFileOrExit(dir.path() + "/truth.json", *target, kTimeout))
      << target->Log();
  absl::StatusOr<google::protobuf::Struct> truth =
      ReadJsonObject(dir.path() + "/truth.json");
  ASSERT_TRUE(truth.ok()) << truth.status();
  const double total_cpu = NumberField(*truth, "total_cpu_s");
  ASSERT_GT(total_cpu, 0.5) << target->Log();
  const double want = 100 * NumberField(*truth, "burn_cpu_s") / total_cpu;
  std::cout << py.name << ": burn " << want << "% of the thread's CPU (truth); "
            << "top " << seen[0].burn.first << "%, top --async "
            << seen[1].burn.first << "%; server's total "
            << seen[0].server.second << "% and " << seen[1].server.second << "%"
            << std::endl;
  // top's recent seconds against the workload's whole window: loose.
  EXPECT_NEAR(seen[0].burn.first, want, 10);
  EXPECT_NEAR(seen[1].burn.first, want, 10);
}

std::string TopAsyncName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, TopAsyncTest,
                         ::testing::ValuesIn(TopAsyncInterpreters()),
                         TopAsyncName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TopAsyncTest);

// The interpreters top --async is tested on must all be here.
TEST(TopAsyncInterpreters, EveryOneIsPresent) {
  EXPECT_EQ(TopAsyncInterpreters().size(), 3u)
      << DescribeInterpreters(FindInterpreters());
}

}  // namespace
// top --native: the C function the extension spins in shows on screen under
// its Python caller's process, and the target runs on after q.
TEST(TopNativeTest, ShowsTheCFunctionAndLeavesTheTargetRunning) {
  if (access(kTmux, X_OK) != 0) GTEST_SKIP() << "no tmux";
  std::optional<Interpreter> py = DefaultInterpreter();
  if (!py) GTEST_SKIP() << "no interpreter";
  ScopedTempDir dir(py->TempParent());
  absl::StatusOr<Started> target =
      StartNativeBurn(*py, dir, {"burn", "120", "READY"});
  ASSERT_TRUE(target.ok()) << target.status();
  const pid_t pid = target->child.pid();
  TmuxPane pane(absl::StrCat("pystrobe-top-native-", getpid()));
  ASSERT_TRUE(pane.Start(
      absl::StrCat("sh -c '", PystrobeBinary(), " top --pid ", pid,
                   " --native; echo top-exit=$?; stty -a; exec sleep 120'")));
  std::string screen;
  ASSERT_TRUE(pane.WaitForScreen(R"(burn_spin \()", kTimeout, &screen))
      << screen;
  EXPECT_THAT(screen, HasSubstr("native")) << screen;
  pane.Keys({"q"});
  ASSERT_TRUE(pane.WaitForScreen("top-exit=", kTimeout, &screen)) << screen;
  EXPECT_THAT(screen, HasSubstr("top-exit=0")) << screen;
  ASSERT_TRUE(pane.WaitForScreen("icanon", kTimeout, &screen)) << screen;
  ExpectSaneTerminal(screen);
  // Never left stopped: it keeps burning (R) or is between bursts (S).
  char state = 0;
  for (int i = 0; i < 20 && state != 'R'; ++i) {
    state = ProcessState(pid);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(state == 'R' || state == 'S') << state;
}

}  // namespace pystrobe::integration
