#include "record_support.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "pystrobe/profile/formats.h"

extern char** environ;

namespace pystrobe::integration {

std::string RecorderExit::Describe() const {
  if (exited) return absl::StrCat("exit ", exit_code);
  return absl::StrCat("killed by signal ", term_signal, " (",
                      strsignal(term_signal), ")");
}

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Start(
    const std::vector<std::string>& args, const std::string& dir) {
  std::unique_ptr<Recorder> r(new Recorder());
  r->log_path_ = dir + "/pystrobe.out";
  int log = open(r->log_path_.c_str(),
                 O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::ErrnoToStatus(errno, "open " + r->log_path_);
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  char slave_name[128];
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
      ptsname_r(master, slave_name, sizeof(slave_name)) != 0) {
    int err = errno;
    close(log);
    if (master >= 0) close(master);
    return absl::ErrnoToStatus(err, "pseudo-terminal");
  }
  int slave = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    int err = errno;
    close(log);
    close(master);
    return absl::ErrnoToStatus(err, absl::StrCat("open ", slave_name));
  }
  std::vector<std::string> argv_strings = {PystrobeBinary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(log);
    close(master);
    close(slave);
    return absl::ErrnoToStatus(err, "fork");
  }
  if (pid == 0) {
    // Async-signal-safe calls only: the test may have threads.
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(slave, STDERR_FILENO);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  close(log);
  close(slave);
  r->pid_ = pid;
  r->terminal_fd_ = master;
  r->reader_ = std::thread([raw = r.get()] { raw->ReadTerminal(); });
  return r;
}

void Recorder::ReadTerminal() {
  char buf[4096];
  while (!stop_reading_.load()) {
    pollfd p{terminal_fd_, POLLIN, 0};
    int ready = poll(&p, 1, 50);
    if (ready <= 0) continue;
    ssize_t n = read(terminal_fd_, buf, sizeof(buf));
    if (n > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      terminal_text_.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      // EIO: every writer closed the terminal; nothing more will come.
      eof_.store(true);
      return;
    }
  }
}

Recorder::~Recorder() {
  if (pid_ > 0 && !exit_) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  stop_reading_.store(true);
  if (reader_.joinable()) reader_.join();
  if (terminal_fd_ >= 0) close(terminal_fd_);
}

void Recorder::Signal(int sig) {
  if (pid_ > 0 && !exit_) kill(pid_, sig);
}

int64_t Recorder::SamplesShown() const {
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mu_);
    text = terminal_text_;
  }
  // Status lines: "\rpystrobe: 1.2 s, 345 samples, 99.8 Hz, 0 errors".
  int64_t best = -1;
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\r\n"))) {
    size_t at = line.find(" samples, ");
    if (at == absl::string_view::npos) continue;
    size_t begin = line.rfind(' ', at - 1);
    if (begin == absl::string_view::npos) continue;
    int64_t n;
    if (absl::SimpleAtoi(line.substr(begin + 1, at - begin - 1), &n)) {
      best = std::max(best, n);
    }
  }
  return best;
}

bool Recorder::WaitForSamples(int64_t n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (SamplesShown() >= n) return true;
    siginfo_t info{};
    if (exit_ ||
        (waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid_)) {
      return SamplesShown() >= n;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return SamplesShown() >= n;
}

std::optional<RecorderExit> Recorder::Wait(absl::Duration timeout) {
  if (exit_) return exit_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    rusage usage{};
    pid_t done = wait4(pid_, &status, WNOHANG, &usage);
    if (done == pid_) {
      RecorderExit e;
      e.exited = WIFEXITED(status);
      e.exit_code = e.exited ? WEXITSTATUS(status) : -1;
      e.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      e.max_rss_kib = usage.ru_maxrss;
      exit_ = e;
      // Let the reader drain what is left on the terminal (a launched
      // command that outlived pystrobe may still hold it open).
      WaitFor([this] { return eof_.load(); }, absl::Seconds(2));
      return exit_;
    }
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (absl::Now() > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::string Recorder::Output() const {
  absl::StatusOr<std::string> out = ReadFileToString(log_path_);
  std::lock_guard<std::mutex> lock(mu_);
  return absl::StrCat("--- pystrobe stdout ---\n",
                      out.ok() ? *out : out.status().ToString(),
                      "\n--- pystrobe terminal ---\n",
                      terminal_text_.size() > 4000
                          ? terminal_text_.substr(terminal_text_.size() - 4000)
                          : terminal_text_);
}

std::vector<Interpreter> AccuracyInterpreters() {
  std::vector<Interpreter> out;
  for (Interpreter& py : FindInterpreters()) {
    const bool pyenv = absl::StartsWith(py.name, "Py");
    const bool wanted_pyenv =
        pyenv && py.major == 3 &&
        (py.minor == 8 || py.minor == 10 || py.minor == 12 || py.minor == 13);
    const bool debian311 = py.path == "/usr/bin/python3.11";
    if (wanted_pyenv || debian311) out.push_back(std::move(py));
  }
  return out;
}

void DefaultInterpreterTest::SetUp() {
  std::optional<Interpreter> py = DefaultInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
  py_ = *py;
  std::cout << "interpreter: " << py_.name << " " << py_.path << std::endl;
  ASSERT_FALSE(dir_.path().empty());
}

std::optional<Interpreter> DefaultInterpreter() {
  std::vector<Interpreter> all = FindInterpreters();
  for (const Interpreter& py : all) {
    if (py.path == "/usr/bin/python3.11") return py;
  }
  const Interpreter* newest = NewestInterpreter(all);
  if (newest == nullptr || newest->major < 3 ||
      (newest->major == 3 && newest->minor < 8)) {
    return std::nullopt;  // the workloads need native_id and thread_time
  }
  return *newest;
}

absl::StatusOr<ChildProcess> StartWorkload(const Interpreter& py,
                                           const std::string& workload,
                                           const std::vector<std::string>& args,
                                           const std::string& dir) {
  std::vector<std::string> argv = {
      py.path, "-S", "-E", PYSTROBE_SOURCE_DIR "/tests/workloads/" + workload};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess::Start(argv, {{"LC_ALL", "C.UTF-8"}},
                             dir + "/target.log");
}

bool WaitForFileOrExit(const std::string& path, const ChildProcess& child,
                       absl::Duration timeout) {
  WaitFor([&] { return FileExists(path) || child.HasExited(); }, timeout);
  return FileExists(path);
}

bool TouchFile(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  close(fd);
  return true;
}

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(
    const std::string& json) {
  google::protobuf::Struct root;
  auto status = google::protobuf::util::JsonStringToMessage(json, &root);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: ", status.ToString()));
  }
  return root;
}

absl::StatusOr<google::protobuf::Struct> ReadJsonObject(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return ParseJsonObject(*text);
}

double NumberField(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() ||
      it->second.kind_case() != google::protobuf::Value::kNumberValue) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return it->second.number_value();
}

absl::StatusOr<Profile> ReadProfile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  return DecodePprof(*bytes);
}

std::string StringLabel(const Sample& s, const std::string& key) {
  for (const Label& l : s.labels) {
    if (l.key == key && !l.is_numeric()) return l.str;
  }
  return "";
}

int64_t CommentValue(const Profile& p, absl::string_view key) {
  for (const std::string& c : p.comments) {
    absl::string_view v = c;
    int64_t n = 0;
    if (absl::ConsumePrefix(&v, key) && absl::ConsumePrefix(&v, "=") &&
        absl::SimpleAtoi(v, &n)) {
      return n;
    }
  }
  return -1;
}

std::optional<int64_t> NumberLabel(const Sample& s, const std::string& key) {
  for (const Label& l : s.labels) {
    if (l.key == key && l.is_numeric()) return l.num;
  }
  return std::nullopt;
}

std::map<std::string, int64_t> SelfValues(const Profile& p, int index,
                                          int64_t* total) {
  std::map<std::string, int64_t> self;
  *total = 0;
  for (const Sample& s : p.samples) {
    if (index < 0 || static_cast<size_t>(index) >= s.values.size()) continue;
    *total += s.values[index];
    if (s.location_ids.empty()) continue;
    const Location& leaf = p.LocationAt(s.location_ids[0]);
    self[p.FunctionOf(leaf).name] += s.values[index];
  }
  return self;
}

std::string DescribeProfile(const Profile& p, size_t max_samples) {
  std::string out = absl::StrCat(p.samples.size(), " samples; types:");
  for (const ValueType& t : p.sample_types) {
    absl::StrAppend(&out, " ", t.type, "/", t.unit);
  }
  out += "\n";
  for (size_t i = 0; i < p.samples.size() && i < max_samples; ++i) {
    const Sample& s = p.samples[i];
    absl::StrAppend(&out, "  [", absl::StrJoin(s.values, ","), "]");
    for (const Label& l : s.labels) {
      absl::StrAppend(&out, " ", l.key, "=",
                      l.is_numeric() ? absl::StrCat(l.num) : l.str);
    }
    out += " :";
    for (size_t j = 0; j < s.location_ids.size() && j < 8; ++j) {
      const Location& loc = p.LocationAt(s.location_ids[j]);
      absl::StrAppend(&out, " ", p.FunctionOf(loc).name, ":", loc.line);
    }
    if (s.location_ids.size() > 8) out += " ...";
    out += "\n";
  }
  return out;
}

CommandResult GoPprof(const std::vector<std::string>& args,
                      const std::string& dir) {
  std::vector<std::string> argv = {"/usr/bin/env",
                                   "GOCACHE=" + dir + "/go-cache",
                                   "HOME=" + dir + "/go-home",
                                   "PPROF_TMPDIR=" + dir + "/go-home",
                                   "/usr/bin/go",
                                   "tool",
                                   "pprof"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

std::map<std::string, double> ParsePprofTop(const std::string& top) {
  // "      1985 50.46% 50.46%       1985 50.46%  burn_fifty"
  std::map<std::string, double> flat;
  for (absl::string_view line : absl::StrSplit(top, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() < 6 || !absl::EndsWith(words[1], "%")) continue;
    double percent;
    absl::string_view number = words[1];
    number.remove_suffix(1);
    if (!absl::SimpleAtod(number, &percent)) continue;
    // The name is the rest of the line after the fifth column.
    std::vector<absl::string_view> rest(words.begin() + 5, words.end());
    flat[absl::StrJoin(rest, " ")] += percent;
  }
  return flat;
}

}  // namespace pystrobe::integration
