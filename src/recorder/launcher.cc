#include "launcher.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/process_tree.h"

namespace pystrobe {
namespace {

double CpuSeconds(const rusage& r) {
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

// Errors after which trying again later may succeed: the command has not
// exec'd its interpreter yet, or the interpreter is still starting.
bool WorthRetrying(const absl::Status& s) {
  return !IsUnsupportedVersion(s) && !IsNoPermission(s);
}

}  // namespace

absl::StatusOr<LaunchedCommand> LaunchedCommand::Start(
    std::vector<std::string> argv, const std::string& working_dir) {
  if (argv.empty()) return absl::InvalidArgumentError("no command to run");
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) return absl::ErrnoToStatus(errno, "fork");
  if (child == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) {
      std::fprintf(stderr, "pystrobe: cannot enter %s: %s\n",
                   working_dir.c_str(), std::strerror(errno));
      _exit(127);
    }
    execvp(cargv[0], cargv.data());
    std::fprintf(stderr, "pystrobe: cannot run %s: %s\n", cargv[0],
                 std::strerror(errno));
    _exit(127);
  }
  return LaunchedCommand(child);
}

LaunchedCommand::LaunchedCommand(LaunchedCommand&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)), outcome_(std::move(other.outcome_)) {}

LaunchedCommand::~LaunchedCommand() {
  if (pid_ > 0 && !outcome_) Terminate();
}

bool LaunchedCommand::Reap(int options) {
  if (outcome_) return true;
  int status = 0;
  rusage usage{};
  pid_t r;
  do {
    r = wait4(pid_, &status, options, &usage);
  } while (r < 0 && errno == EINTR && (options & WNOHANG) == 0);
  if (r != pid_) return false;
  outcome_ = Outcome{status, ExitCodeOf(status), CpuSeconds(usage)};
  return true;
}

absl::StatusOr<std::unique_ptr<PythonProcess>> LaunchedCommand::FindPython(
    const std::atomic<bool>& stop) {
  ProcFs proc;
  absl::Status last = NotPythonError("the command has not started yet");
  // Processes found not to be Python, by pid and executable, so that a
  // long-running launcher is not re-probed on every poll.
  absl::flat_hash_set<std::string> not_python;
  const auto start = std::chrono::steady_clock::now();
  while (!stop.load()) {
    std::vector<pid_t> candidates = {pid_};
    const std::vector<pid_t> below = Descendants(proc, pid_);
    candidates.insert(candidates.end(), below.begin(), below.end());
    for (pid_t p : candidates) {
      absl::StatusOr<std::string> exe = proc.ExePath(p);
      const std::string key = absl::StrCat(p, " ", exe.value_or(""));
      if (not_python.contains(key)) continue;
      absl::StatusOr<std::unique_ptr<PythonProcess>> python =
          PythonProcess::Attach(p);
      if (python.ok()) return python;
      if (!WorthRetrying(python.status())) return python.status();
      last = python.status();
      // A process that has exec'd something that is not Python, and is not
      // CMD right after fork (its exe is then pystrobe's own), stays so
      // until it execs again (which changes its exe).
      if (IsNotPython(python.status()) && exe.ok() && p != pid_) {
        not_python.insert(key);
      }
    }
    if (Reap(WNOHANG)) {
      return NotPythonError(absl::StrCat(
          "the command exited (status ", outcome_->exit_code,
          ") and no Python process appeared in it or its children (",
          last.message(), "); no profile written"));
    }
    // Poll fast at first (a short script may be done in 20 ms), then at a
    // pace that costs a launcher like `make` nothing.
    const bool early =
        std::chrono::steady_clock::now() - start < std::chrono::seconds(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(early ? 5 : 50));
  }
  return absl::CancelledError("stopped before a Python process was found");
}

LaunchedCommand::Outcome LaunchedCommand::Wait() {
  Reap(0);
  return outcome_.value_or(Outcome{});
}

LaunchedCommand::Outcome LaunchedCommand::Terminate() {
  if (!outcome_) {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200 && !Reap(WNOHANG); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!outcome_) {
      kill(pid_, SIGKILL);
      Reap(0);
    }
  }
  return outcome_.value_or(Outcome{});
}

}  // namespace pystrobe
