#include "subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pystrobe/base/scoped_fd.h"

extern char** environ;

namespace pystrobe::integration {
namespace {

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Only async-signal-safe calls from here on: the test process may have
// threads, and the child of fork() must not touch their locks.
[[noreturn]] void ExecChild(char* const* argv, char* const* envp, int stdout_fd,
                            int stderr_fd, int error_fd) {
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  // A test killed by a timeout must not leave its targets behind.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  execve(argv[0], argv, envp);
  int err = errno;
  ssize_t ignored = write(error_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

// Reads the errno a child reports if its exec failed; 0 if exec succeeded
// (the close-on-exec pipe then reads EOF).
int ExecErrno(int error_read_fd) {
  int err = 0;
  ssize_t n;
  do {
    n = read(error_read_fd, &err, sizeof(err));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(err) ? err : 0;
}

}  // namespace

std::string PystrobeBinary() { return PYSTROBE_BINARY_DIR "/pystrobe"; }

std::string CommandResult::Describe() const {
  std::string how;
  if (timed_out) {
    how = "timed out (killed)";
  } else if (exited) {
    how = absl::StrCat("exit ", exit_code);
  } else {
    how = absl::StrCat("killed by signal ", term_signal, " (",
                       strsignal(term_signal), ")");
  }
  // Truncated: a 250-frame dump would bury the failure it explains.
  return absl::StrCat(how, "\n--- stdout ---\n", out.substr(0, 3000),
                      "\n--- stderr ---\n", err.substr(0, 3000));
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  CommandResult result;
  int out_pipe[2], err_pipe[2], exec_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(exec_pipe, O_CLOEXEC) != 0) {
    result.err = absl::StrCat("pipe2: ", strerror(errno));
    return result;
  }
  ScopedFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  ScopedFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  ScopedFd exec_read(exec_pipe[0]), exec_write(exec_pipe[1]);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv = CStrings(args);

  pid_t pid = fork();
  if (pid < 0) {
    result.err = absl::StrCat("fork: ", strerror(errno));
    return result;
  }
  if (pid == 0) {
    ExecChild(c_argv.data(), environ, out_write.get(), err_write.get(),
              exec_write.get());
  }
  out_write.reset();
  err_write.reset();
  exec_write.reset();
  if (int err = ExecErrno(exec_read.get()); err != 0) {
    waitpid(pid, nullptr, 0);
    result.err = absl::StrCat("cannot execute ", argv[0], ": ", strerror(err));
    return result;
  }

  const absl::Time deadline = absl::Now() + timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0 && !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);  // its pipes close when it dies
    }
    int ready = poll(fds, 2, left_ms > 0 ? static_cast<int>(left_ms) : 1000);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
        fds[i].fd = -1;
        if (i == 0) {
          out_read.reset();
        } else {
          err_read.reset();
        }
      }
    }
  }
  // A command may close its output and still run: keep to the deadline.
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (absl::Now() > deadline && !result.timed_out) {
      result.timed_out = true;
      kill(pid, SIGKILL);
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (WIFEXITED(status)) {
    result.exited = !result.timed_out;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

absl::StatusOr<ChildProcess> ChildProcess::Start(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::string>& env,
    const std::string& log_path) {
  ScopedFd log(
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log) return absl::ErrnoToStatus(errno, "open " + log_path);
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  ScopedFd exec_read(exec_pipe[0]), exec_write(exec_pipe[1]);

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(*e, absl::MaxSplits('=', 1));
    merged.insert(kv);
  }
  for (const auto& [key, value] : env) merged[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : merged) {
    env_strings.push_back(absl::StrCat(key, "=", value));
  }
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv = CStrings(args);
  std::vector<char*> c_env = CStrings(env_strings);

  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    ExecChild(c_argv.data(), c_env.data(), log.get(), log.get(),
              exec_write.get());
  }
  ChildProcess child(pid, log_path);
  exec_write.reset();
  if (int err = ExecErrno(exec_read.get()); err != 0) {
    return absl::ErrnoToStatus(err, "execve " + argv[0]);
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      log_path_(std::move(other.log_path_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    log_path_ = std::move(other.log_path_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

bool ChildProcess::HasExited() const {
  if (pid_ <= 0) return true;
  siginfo_t info{};
  if (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // ECHILD: nothing left to wait for
  }
  return info.si_pid == pid_;
}

bool ChildProcess::WaitForExit(absl::Duration timeout) const {
  return WaitFor([this] { return HasExited(); }, timeout);
}

void ChildProcess::KillAndReap() {
  if (pid_ <= 0) return;
  // SIGKILL also ends a child left in a ptrace stop by a broken tool.
  kill(pid_, SIGKILL);
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string ChildProcess::Log() const {
  absl::StatusOr<std::string> log = ReadFileToString(log_path_);
  return log.ok() ? *log : log.status().ToString();
}

ScopedTempDir::ScopedTempDir() : ScopedTempDir("") {}

ScopedTempDir::ScopedTempDir(const std::string& parent) {
  const char* tmp = getenv("TMPDIR");
  const std::string base = !parent.empty()          ? parent
                           : tmp != nullptr && *tmp ? tmp
                                                    : "/tmp";
  std::string templ = absl::StrCat(base, "/pystrobe-integ-XXXXXX");
  if (mkdtemp(templ.data()) != nullptr) path_ = templ;
}

ScopedTempDir::~ScopedTempDir() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return condition();
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, "open " + path);
  std::string data;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "read " + path);
    if (n == 0) break;
    data.append(buf, n);
  }
  return data;
}

bool FileExists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

absl::StatusOr<std::map<int64_t, char>> ThreadStates(pid_t pid) {
  std::string task_dir = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = opendir(task_dir.c_str());
  if (dir == nullptr) return absl::ErrnoToStatus(errno, "opendir " + task_dir);
  std::map<int64_t, char> states;
  while (dirent* entry = readdir(dir)) {
    int64_t tid;
    if (!absl::SimpleAtoi(entry->d_name, &tid)) continue;
    absl::StatusOr<std::string> stat =
        ReadFileToString(absl::StrCat(task_dir, "/", tid, "/stat"));
    if (!stat.ok()) continue;  // the thread just exited
    // The state follows the command name, which may itself contain ')'.
    size_t paren = stat->rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat->size()) continue;
    states[tid] = (*stat)[paren + 2];
  }
  closedir(dir);
  return states;
}

absl::StatusOr<std::vector<uint64_t>> ThreadSyscall(pid_t pid, int64_t tid) {
  absl::StatusOr<std::string> text =
      ReadFileToString(absl::StrCat("/proc/", pid, "/task/", tid, "/syscall"));
  if (!text.ok()) return text.status();
  std::vector<uint64_t> values;
  for (absl::string_view word :
       absl::StrSplit(absl::StripAsciiWhitespace(*text), ' ')) {
    uint64_t value;
    if (absl::ConsumePrefix(&word, "0x")) {
      if (!absl::SimpleHexAtoi(word, &value)) return values;
    } else if (!absl::SimpleAtoi(word, &value)) {
      return std::vector<uint64_t>();  // "running" (or "-1": not in a syscall)
    }
    values.push_back(value);
  }
  return values;
}

uint64_t ReadSyscallNumber() { return SYS_read; }

}  // namespace pystrobe::integration
