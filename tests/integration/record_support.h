// Support for the `pystrobe record` integration tests: running the profiler
// as a child whose stderr is a terminal (so that its live status line says
// how many samples it took), reading what it wrote, the ground truth the
// workloads (tests/workloads/record_*.py) report about themselves, and the
// servers and load of the service tests (Debian's gunicorn, wrk).
//
//   ScopedTempDir dir;
//   auto target = StartWorkload(py, "record_split.py", dir.path());
//   TouchFile(dir.path() + "/start");
//   auto rec = Recorder::Start({"record", "--pid", pid, "-o", out},
//   dir.path()); ASSERT_TRUE(rec.ok()) << rec.status();
//   ASSERT_TRUE((*rec)->WaitForSamples(1, absl::Seconds(60)));
//   std::optional<RecorderExit> done = (*rec)->Wait(absl::Seconds(60));
#ifndef PYSTROBE_TESTS_INTEGRATION_RECORD_SUPPORT_H_
#define PYSTROBE_TESTS_INTEGRATION_RECORD_SUPPORT_H_

#include <google/protobuf/struct.pb.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "pystrobe/profile/profile.h"
#include "subprocess.h"

namespace pystrobe::integration {

// How a recorder ended, from wait4().
struct RecorderExit {
  bool exited = false;  // exit_code is valid
  int exit_code = -1;
  int term_signal = 0;
  int64_t max_rss_kib = 0;  // its peak resident set (ru_maxrss)
  std::string Describe() const;
};

// A `pystrobe` child with stdout in a log file and stderr on a
// pseudo-terminal read by a background thread. SIGKILLed and reaped when it
// goes away, and it dies with the test process (PR_SET_PDEATHSIG).
class Recorder {
 public:
  // `args` follow the binary ("record", ...). Files go into `dir`.
  static absl::StatusOr<std::unique_ptr<Recorder>> Start(
      const std::vector<std::string>& args, const std::string& dir);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return !exit_.has_value(); }
  // Sends `sig` if it has not been reaped yet.
  void Signal(int sig);
  // The largest sample count its status line showed so far (-1: none yet).
  int64_t SamplesShown() const;
  // Waits until the status line shows at least `n` samples; false if it
  // exited or `timeout` passed first.
  bool WaitForSamples(int64_t n, absl::Duration timeout);
  // Waits for it to exit and reaps it; nullopt on timeout.
  std::optional<RecorderExit> Wait(absl::Duration timeout);
  // Everything it wrote: stdout, then the terminal (status lines, summary).
  std::string Output() const;

 private:
  Recorder() = default;
  void ReadTerminal();

  pid_t pid_ = -1;
  int terminal_fd_ = -1;
  std::string log_path_;
  std::optional<RecorderExit> exit_;
  std::atomic<bool> stop_reading_{false};
  std::atomic<bool> eof_{false};  // the terminal has no writer left
  std::thread reader_;
  mutable std::mutex mu_;
  std::string terminal_text_;  // guarded by mu_
};

// The interpreters the issue names for the accuracy test (3.8, 3.10, 3.12,
// 3.13 from pyenv and Debian's 3.11; release builds only), those installed.
// A test of `pystrobe record` on the default interpreter (CPython 3.8+;
// skipped without one) in a fresh temporary folder.
class DefaultInterpreterTest : public ::testing::Test {
 protected:
  void SetUp() override;

  Interpreter py_;
  ScopedTempDir dir_;
};

std::vector<Interpreter> AccuracyInterpreters();
// The interpreter for the tests that are not per interpreter: Debian's
// /usr/bin/python3.11 when present, else the newest found; nullopt if none.
std::optional<Interpreter> DefaultInterpreter();

// Starts tests/workloads/WORKLOAD with `args` after it, logging to
// DIR/target.log.
absl::StatusOr<ChildProcess> StartWorkload(const Interpreter& py,
                                           const std::string& workload,
                                           const std::vector<std::string>& args,
                                           const std::string& dir);
// Waits until `path` exists; false when `child` exited first or timeout.
bool WaitForFileOrExit(const std::string& path, const ChildProcess& child,
                       absl::Duration timeout);
bool TouchFile(const std::string& path);

// Parses a JSON object (protobuf's JSON parser into a Struct).
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(
    const std::string& json);
// Reads and parses a JSON object file.
absl::StatusOr<google::protobuf::Struct> ReadJsonObject(
    const std::string& path);
// A number field of `s` (NaN when missing or not a number).
double NumberField(const google::protobuf::Struct& s, const std::string& key);

// Reads a pprof file with pystrobe's decoder.
absl::StatusOr<Profile> ReadProfile(const std::string& path);
// The string label `key` of a sample, or "" when absent.
std::string StringLabel(const Sample& s, const std::string& key);
// The value of the profile's comment "KEY=N" (pystrobe.errors.torn=3), or
// -1 when absent or not a number.
int64_t CommentValue(const Profile& p, absl::string_view key);
// The numeric label `key` of a sample, or nullopt.
std::optional<int64_t> NumberLabel(const Sample& s, const std::string& key);
// Sum of value `index` per leaf function name (Function.name of the
// innermost frame), and the total over all samples in `*total`.
std::map<std::string, int64_t> SelfValues(const Profile& p, int index,
                                          int64_t* total);
// One line per sample: labels and frames, for failure messages (truncated).
std::string DescribeProfile(const Profile& p, size_t max_samples = 20);

// Function names of a sample (Function.name, the qualified name),
// innermost first.
std::vector<std::string> FunctionNames(const Profile& p, const Sample& s);

// The interpreters found (FindInterpreters) whose `name` is one of `names`.
std::vector<Interpreter> InterpretersNamed(
    const std::vector<std::string>& names);
// Whether `py` imports `module` (python -E -c "import MODULE"); when not,
// `*why` says what it printed.
bool CanImport(const Interpreter& py, const std::string& module,
               std::string* why);
// Whether a recorder's output says the machine was overloaded while it
// recorded (the words SKIP_IF_OVERLOADED looks for).
bool SaysOverloaded(const std::string& output);

// A TCP port on 127.0.0.1 nobody listens on now (the kernel's pick for
// port 0), or -1.
int FreePort();
// The files of `dir` named PREFIX<pid> or PREFIX<pid>.json, by that pid.
std::map<pid_t, std::string> FilesByPid(const std::string& dir,
                                        const std::string& prefix);

// wrk (Debian's /usr/bin/wrk, one thread) on http://127.0.0.1:PORT/ with
// `connections` connections for `seconds`, requests made by the Lua
// `script`.
std::vector<std::string> WrkCommand(int port, int connections, int seconds,
                                    const std::string& script);
// What wrk reported: requests completed, socket errors, and responses
// that were not 2xx or 3xx.
struct WrkReport {
  bool parsed = false;  // the "N requests in" line was found
  int64_t requests = 0;
  int64_t connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
  int64_t non_2xx = 0;
  int64_t SocketErrors() const {
    return connect_errors + read_errors + write_errors + timeouts;
  }
  std::string Describe() const;
};
WrkReport ParseWrk(const std::string& output);

// Debian's gunicorn serving an application that touches
// $PYSTROBE_APP_DIR/ready.<pid> in each worker once it serves
// (tests/workloads/servers/gunicorn_conf.py does it for the Flask app,
// async_service/prefork_app.py itself).
struct GunicornOptions {
  std::string python = "/usr/bin/python3";
  std::string chdir;         // the application's folder
  std::string app;           // "module:variable"
  std::string config;        // -c FILE; "" for none
  std::string worker_class;  // "" for gunicorn's sync workers
  int workers = 1;
  int max_requests = 0;  // 0: workers are never recycled
  int max_requests_jitter = 0;
};
class Gunicorn {
 public:
  // Starts the master with its log in DIR/gunicorn.log, and waits until
  // `options.workers` workers are ready (nullopt if they are not in 60 s).
  static std::optional<Gunicorn> Start(const std::string& dir,
                                       const GunicornOptions& options);
  Gunicorn(Gunicorn&&) = default;
  ~Gunicorn() { Stop(); }

  pid_t master() const { return master_.pid(); }
  int port() const { return port_; }
  const ChildProcess& process() const { return master_; }
  // Every worker that got ready so far: its ready file, by pid.
  std::map<pid_t, std::string> ReadyFiles() const;
  std::set<int64_t> Workers() const;
  // A graceful stop (SIGTERM: workers finish and write their truth), then
  // SIGKILL for whatever is left. Whether the master exited by itself.
  bool Stop();

 private:
  Gunicorn(ChildProcess master, std::string dir, int port)
      : master_(std::move(master)), dir_(std::move(dir)), port_(port) {}

  ChildProcess master_;
  std::string dir_;
  int port_ = 0;
};

// Runs `go tool pprof ARGS...` with a private GOCACHE and HOME under `dir`.
CommandResult GoPprof(const std::vector<std::string>& args,
                      const std::string& dir);
// The flat% column of `go tool pprof -top` per function name.
std::map<std::string, double> ParsePprofTop(const std::string& top);

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_RECORD_SUPPORT_H_
