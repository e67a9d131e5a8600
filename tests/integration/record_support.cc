#include "record_support.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
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

std::vector<std::string> FunctionNames(const Profile& p, const Sample& s) {
  std::vector<std::string> names;
  names.reserve(s.location_ids.size());
  for (uint64_t id : s.location_ids) {
    names.push_back(p.FunctionOf(p.LocationAt(id)).name);
  }
  return names;
}

std::vector<Interpreter> InterpretersNamed(
    const std::vector<std::string>& names) {
  std::vector<Interpreter> out;
  for (Interpreter& py : FindInterpreters()) {
    if (std::find(names.begin(), names.end(), py.name) != names.end()) {
      out.push_back(std::move(py));
    }
  }
  return out;
}

bool CanImport(const Interpreter& py, const std::string& module,
               std::string* why) {
  CommandResult r =
      RunCommand(py.Command({"-E", "-c", absl::StrCat("import ", module)}));
  if (r.exited && r.exit_code == 0) return true;
  if (why != nullptr) *why = r.Describe();
  return false;
}

bool SaysOverloaded(const std::string& output) {
  return absl::StrContains(output, "overloaded machine") ||
         absl::StrContains(output, "the machine was overloaded") ||
         absl::StrContains(output, "did not get the CPU it needed");
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::map<pid_t, std::string> FilesByPid(const std::string& dir,
                                        const std::string& prefix) {
  std::map<pid_t, std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (!absl::StartsWith(name, prefix)) continue;
    absl::string_view rest = absl::string_view(name).substr(prefix.size());
    absl::ConsumeSuffix(&rest, ".json");
    int pid = 0;
    if (absl::SimpleAtoi(rest, &pid)) out[pid] = dir + "/" + name;
  }
  closedir(d);
  return out;
}

std::vector<std::string> WrkCommand(int port, int connections, int seconds,
                                    const std::string& script) {
  return {"/usr/bin/wrk",
          "-t1",
          absl::StrCat("-c", connections),
          absl::StrCat("-d", seconds, "s"),
          "-s",
          script,
          absl::StrCat("http://127.0.0.1:", port, "/")};
}

std::string WrkReport::Describe() const {
  if (!parsed) return "wrk's report not found";
  return absl::StrCat(requests, " requests; socket errors: connect ",
                      connect_errors, ", read ", read_errors, ", write ",
                      write_errors, ", timeout ", timeouts, "; non-2xx/3xx ",
                      non_2xx);
}

WrkReport ParseWrk(const std::string& output) {
  // "  12345 requests in 9.00s, 1.79MB read"
  // "  Socket errors: connect 0, read 3, write 0, timeout 0"
  // "  Non-2xx or 3xx responses: 7"
  WrkReport r;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" ,:"), absl::SkipEmpty());
    if (words.size() >= 3 && words[1] == "requests" && words[2] == "in" &&
        absl::SimpleAtoi(words[0], &r.requests)) {
      r.parsed = true;
    } else if (absl::StartsWith(line, "Socket errors:") && words.size() >= 10) {
      (void)absl::SimpleAtoi(words[3], &r.connect_errors);
      (void)absl::SimpleAtoi(words[5], &r.read_errors);
      (void)absl::SimpleAtoi(words[7], &r.write_errors);
      (void)absl::SimpleAtoi(words[9], &r.timeouts);
    } else if (absl::StartsWith(line, "Non-2xx or 3xx responses:")) {
      (void)absl::SimpleAtoi(words.back(), &r.non_2xx);
    }
  }
  return r;
}

std::optional<Gunicorn> Gunicorn::Start(const std::string& dir,
                                        const GunicornOptions& options) {
  const int port = FreePort();
  if (port <= 0) return std::nullopt;
  std::vector<std::string> argv = {options.python, "/usr/bin/gunicorn"};
  if (!options.config.empty()) argv.insert(argv.end(), {"-c", options.config});
  if (!options.worker_class.empty()) {
    argv.insert(argv.end(), {"--worker-class", options.worker_class});
  }
  argv.insert(argv.end(), {"-w", absl::StrCat(options.workers), "-b",
                           absl::StrCat("127.0.0.1:", port), "--chdir",
                           options.chdir, "--timeout", "60"});
  if (options.max_requests > 0) {
    argv.insert(argv.end(),
                {"--max-requests", absl::StrCat(options.max_requests)});
  }
  if (options.max_requests_jitter > 0) {
    argv.insert(argv.end(), {"--max-requests-jitter",
                             absl::StrCat(options.max_requests_jitter)});
  }
  argv.push_back(options.app);
  absl::StatusOr<ChildProcess> c =
      ChildProcess::Start(argv,
                          {{"PYSTROBE_APP_DIR", dir},
                           {"LC_ALL", "C.UTF-8"},
                           {"PYTHONDONTWRITEBYTECODE", "1"}},
                          dir + "/gunicorn.log");
  if (!c.ok()) return std::nullopt;
  Gunicorn g(std::move(*c), dir, port);
  if (!WaitFor(
          [&] {
            return g.ReadyFiles().size() >=
                   static_cast<size_t>(options.workers);
          },
          absl::Seconds(60))) {
    std::cerr << g.master_.Log();
    return std::nullopt;
  }
  return g;
}

std::map<pid_t, std::string> Gunicorn::ReadyFiles() const {
  return FilesByPid(dir_, "ready.");
}

std::set<int64_t> Gunicorn::Workers() const {
  std::set<int64_t> out;
  for (const auto& [pid, path] : ReadyFiles()) out.insert(pid);
  return out;
}

bool Gunicorn::Stop() {
  if (master_.pid() <= 0) return false;
  bool by_itself = master_.HasExited();
  if (!by_itself) {
    kill(master_.pid(), SIGTERM);
    by_itself = master_.WaitForExit(absl::Seconds(30));
  }
  for (int64_t w : Workers()) kill(static_cast<pid_t>(w), SIGKILL);
  master_.KillAndReap();
  return by_itself;
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
