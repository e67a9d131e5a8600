// `pystrobe record --subprocesses --async all` of a pre-forking asyncio
// server whose workers come and go (issue 20).
//
// Debian's gunicorn, on Debian 12's /usr/bin/python3.11, runs two aiohttp
// workers (aiohttp.GunicornWebWorker) of
// tests/workloads/async_service/prefork_app.py with --max-requests small
// enough that under wrk's load (4 connections on 127.0.0.1, /slow and /cpu
// in turn) each worker is recycled every second or two. pystrobe is
// attached to the master by PID, as a user would: it must find each worker
// as the master forks it and read its asyncio tasks from then on.
//
// The workers write their own truth: per /slow request, the wall-clock
// interval of its handler (slow_endpoint) and of its `await slow_backend()`,
// and how many requests they served. The test judges, in one recording:
// - samples of the slow requests' tasks come from several worker pids, and
//   every worker forked after the recording began that served slow
//   requests for long enough has waiting samples (idle=true) through
//   slow_backend: --async all reaches the workers attached later;
// - slow_backend is on the logical stack under slow_endpoint and aiohttp's
//   request task (RequestHandler._handle_request), then the connection's
//   task awaiting it (RequestHandler.start), labelled task=slow-request;
//   waiting samples carry no event-loop frames, samples of the running task
//   (crunch under cpu_endpoint) the worker's loop below it
//   (GunicornWebWorker.run) and never idle=true;
// - slow_backend's share of the slow requests' samples is the workers' own
//   share of the handler's wall time, both over the recording's interval,
//   within kTolerancePoints, over all workers and over those forked during
//   the recording; each slow request in flight is one sample a tick: the
//   samples' wall time is the requests' (less what ran in a worker before
//   pystrobe attached it);
// - nobody was harmed: no process was left stopped or traced, gunicorn
//   still serves afterwards, wrk got no error responses and no timeouts
//   (socket errors only where a recycled worker closed its keep-alive
//   connections), every request wrk counted was served by a worker that
//   shut down by itself and wrote its truth, the master stopped gracefully;
//   pystrobe exited 0 with its summary of the processes sampled and no
//   worker whose tasks could not be read.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
constexpr int kWorkers = 2;
// aiohttp's worker compares its request count with --max-requests once a
// second (and ignores --max-requests-jitter, which gunicorn applies only
// to its own workers): at ~100 requests a second per worker, each worker
// lives one to two seconds.
constexpr int kMaxRequests = 60;
constexpr int kMaxRequestsJitter = 20;
constexpr int kRecordSeconds = 12;
// wrk starts once pystrobe samples, and ends before it does.
constexpr int kLoadSeconds = 9;
constexpr int kRate = 200;
constexpr int kConnections = 4;  // wrk's
// Workers forked after the recording began: at least this many.
constexpr size_t kMinLaterWorkers = 3;
// A worker forked during the recording is found by pystrobe's next look
// at the process tree (4 a second) and attached then: a worker that spent
// kLaterJudgedS of handler wall time on slow requests past its first
// kAttachGraceS must have samples of them.
constexpr double kAttachGraceS = 0.5;
constexpr double kLaterJudgedS = 0.5;
// slow_backend's share of the slow requests' samples against the workers'
// own: 58-64% here. Were the ~4,500 samples independent, the share's
// standard error would be 0.73 points (0.83 over the ~3,500 of the
// workers forked during the recording); ticks at a fixed period over
// ~1,200 requests err less (each request's counts are off by under a tick
// each). Measured in 20 runs: pystrobe minus the truth -0.19 points on
// average, standard deviation 0.43, at most 0.94 away (0.98 for the later
// workers alone), 11 of them while other builds loaded the machine (load
// 3-5 on 2 CPUs; 7 times pystrobe said "overloaded"). 2 points is twice
// the worst seen, 4 standard deviations.
constexpr double kTolerancePoints = 2.0;
// The samples' wall time over the requests' own: 93.4-100.5% measured
// (what a worker ran before pystrobe attached it is missing). A recycled
// worker whose tasks were not read loses all of its (23% in the control
// run), a running task also counted as waiting would exceed 100%.
constexpr double kMinCoverage = 0.80;
constexpr double kMaxCoverage = 1.05;
// Samples of the slow requests' tasks, at least.
constexpr int64_t kMinSamples = 2000;

std::string Workload(const std::string& name) {
  return absl::StrCat(PYSTROBE_SOURCE_DIR, "/tests/workloads/async_service/",
                      name);
}

double Overlap(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

// What one worker wrote about itself (prefork_app.py).
struct WorkerTruth {
  double started = 0;
  double ended = 0;
  int64_t requests = 0;
  // Per /slow request: handler start, slow_backend's start and end,
  // handler end (time.time()).
  std::vector<std::array<double, 4>> slow;
};

absl::StatusOr<WorkerTruth> ReadTruth(const std::string& path) {
  absl::StatusOr<google::protobuf::Struct> s = ReadJsonObject(path);
  if (!s.ok()) return s.status();
  WorkerTruth t;
  t.started = NumberField(*s, "started");
  t.ended = NumberField(*s, "ended");
  t.requests = static_cast<int64_t>(NumberField(*s, "requests"));
  auto it = s->fields().find("slow");
  if (it == s->fields().end() || !it->second.has_list_value()) {
    return absl::DataLossError(absl::StrCat(path, ": no \"slow\" list"));
  }
  for (const google::protobuf::Value& v : it->second.list_value().values()) {
    const google::protobuf::ListValue& l = v.list_value();
    if (l.values_size() != 4) {
      return absl::DataLossError(absl::StrCat(path, ": a request not of 4"));
    }
    std::array<double, 4> r{};
    for (int i = 0; i < 4; ++i) r[i] = l.values(i).number_value();
    t.slow.push_back(r);
  }
  return t;
}

// The TracerPid of /proc/PID/status (-1 when unreadable).
int64_t TracerPid(pid_t pid) {
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "TracerPid:")) {
      int64_t tracer = -1;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &tracer)) {
        return tracer;
      }
    }
  }
  return -1;
}

// The profile, per pid label.
struct PidTally {
  int64_t slow = 0;          // samples labelled task=slow-request
  int64_t slow_wall_ns = 0;  // their wall weight
  int64_t backend = 0;       // ... whose stack holds slow_backend
  int64_t backend_idle = 0;  // ... of them labelled idle=true
  int64_t crunch = 0;        // cpu-request samples in crunch
};

// The worker's own figures over the recording's interval.
struct PidTruth {
  double started = 0;
  bool later = false;      // forked after the recording began
  double handler_s = 0;    // slow_endpoint's wall time in the interval
  double backend_s = 0;    // `await slow_backend()`'s
  double judged_s = 0;     // handler_s past the worker's first kAttachGraceS
  int64_t requests = 0;    // served, both endpoints, the whole run
  bool has_truth = false;  // wrote its truth file
};

class RecordAsyncPreforkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Interpreter> found = InterpretersNamed({"Debian3_11"});
    if (found.empty()) GTEST_SKIP() << "no Debian /usr/bin/python3.11";
    py_ = found.front();
    std::cout << "interpreter: " << py_.name << " " << py_.path << std::endl;
    if (access("/usr/bin/wrk", X_OK) != 0 ||
        access("/usr/bin/gunicorn", X_OK) != 0) {
      GTEST_SKIP() << "no /usr/bin/wrk or /usr/bin/gunicorn "
                   << "(scripts/install-deps.sh)";
    }
    std::string why;
    if (!CanImport(py_, "aiohttp", &why) || !CanImport(py_, "gunicorn", &why)) {
      GTEST_SKIP() << py_.name << " cannot import aiohttp or gunicorn "
                   << "(python3-aiohttp, gunicorn: scripts/install-deps.sh): "
                   << why;
    }
    ASSERT_FALSE(dir_.path().empty());
  }

  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }

  Interpreter py_;
  ScopedTempDir dir_;
};

TEST_F(RecordAsyncPreforkTest, RecycledWorkersTasksAtTheirWallShare) {
  GunicornOptions options;
  options.python = py_.path;
  options.chdir = Workload("");
  options.app = "prefork_app:make_app";
  options.worker_class = "aiohttp.GunicornWebWorker";
  options.workers = kWorkers;
  options.max_requests = kMaxRequests;
  options.max_requests_jitter = kMaxRequestsJitter;
  std::optional<Gunicorn> g = Gunicorn::Start(dir_.path(), options);
  ASSERT_TRUE(g.has_value()) << "gunicorn did not start";

  const std::string out = P("prefork.pb.gz");
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", absl::StrCat(g->master()), "--subprocesses",
       "--async", "all", "--mode", "wall", "-r", absl::StrCat(kRate), "-d",
       absl::StrCat(kRecordSeconds), "-o", out},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE((*rec)->WaitForSamples(0, absl::Seconds(30))) << (*rec)->Output();
  absl::StatusOr<ChildProcess> wrk =
      ChildProcess::Start(WrkCommand(g->port(), kConnections, kLoadSeconds,
                                     Workload("prefork_load.lua")),
                          {}, P("wrk.log"));
  ASSERT_TRUE(wrk.ok()) << wrk.status();
  ASSERT_TRUE(wrk->WaitForExit(kTimeout)) << "wrk did not end";
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  const std::string output = (*rec)->Output();
  ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
      << (done ? done->Describe() : "still running") << "\n"
      << output;
  EXPECT_THAT(output, HasSubstr("processes sampled:"));

  // Nobody left stopped or traced: the master and the workers alive now.
  std::vector<pid_t> alive = {g->master()};
  for (int64_t w : g->Workers()) {
    if (kill(static_cast<pid_t>(w), 0) == 0) alive.push_back(w);
  }
  for (pid_t pid : alive) {
    absl::StatusOr<std::map<int64_t, char>> states = ThreadStates(pid);
    if (!states.ok()) continue;  // a worker that exited since
    for (const auto& [tid, state] : *states) {
      EXPECT_TRUE(state != 't' && state != 'T')
          << "thread " << tid << " of " << pid << " left in state " << state;
    }
    EXPECT_EQ(TracerPid(pid), 0) << pid << " is still traced";
  }
  // And gunicorn still serves (recycling its workers as it goes).
  const size_t before_probe = g->Workers().size();
  CommandResult after =
      RunCommand(WrkCommand(g->port(), 2, 1, Workload("prefork_load.lua")));
  const WrkReport after_report = ParseWrk(after.out);
  const auto probe_recycled =
      static_cast<int64_t>(g->Workers().size() - before_probe);
  EXPECT_TRUE(after.exited && after.exit_code == 0 && after_report.parsed &&
              after_report.requests > 0 && after_report.non_2xx == 0 &&
              after_report.timeouts == 0 && after_report.connect_errors == 0 &&
              after_report.read_errors + after_report.write_errors <=
                  2 * kConnections * (probe_recycled + 1))
      << after.Describe();
  // The workers shut down by themselves and write their truth.
  EXPECT_TRUE(g->Stop()) << "the master did not stop on SIGTERM";
  const std::string gunicorn_log = g->process().Log();
  for (const char* bad : {"WORKER TIMEOUT", "was sent SIGKILL",
                          "exited with code", "Exception in"}) {
    EXPECT_THAT(gunicorn_log, ::testing::Not(HasSubstr(bad))) << gunicorn_log;
  }
  // No traceback but one: aiohttp 3.8's worker can close its event loop
  // while a connection it accepted as it began to shut down still runs
  // (its RequestHandler.start was not among the connections it waited for):
  // "Exception ignored in: <coroutine object RequestHandler.start ...>",
  // RuntimeError: Event loop is closed. Seen once in 17 recordings, never
  // in 14 runs without pystrobe: a race of aiohttp's shutdown, which
  // pystrobe's CPU use can make likelier, not harm it did. Counted.
  int64_t shutdown_races = 0;
  {
    std::vector<absl::string_view> lines = absl::StrSplit(gunicorn_log, '\n');
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i] != "Traceback (most recent call last):") continue;
      if (i > 0 && absl::StartsWith(lines[i - 1],
                                    "Exception ignored in: <coroutine object "
                                    "RequestHandler.start")) {
        ++shutdown_races;
      } else {
        ADD_FAILURE() << "a traceback in gunicorn's log:\n" << gunicorn_log;
      }
    }
  }
  if (shutdown_races > 0) {
    std::cout << shutdown_races
              << " connection(s) left running by aiohttp's shutdown"
              << std::endl;
  }

  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  const double w0 = static_cast<double>(p->time_nanos) / 1e9;
  const double w1 = w0 + static_cast<double>(p->duration_nanos) / 1e9;

  // The workers' own accounting over the recording's interval.
  std::map<pid_t, PidTruth> truth;
  const std::map<pid_t, std::string> truth_files =
      FilesByPid(dir_.path(), "truth.");
  for (const auto& [pid, path] : g->ReadyFiles()) {
    PidTruth& t = truth[pid];
    absl::StatusOr<std::string> ready = ReadFileToString(path);
    ASSERT_TRUE(
        ready.ok() &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(*ready), &t.started))
        << path;
    t.later = t.started > w0;
    auto file = truth_files.find(pid);
    t.has_truth = file != truth_files.end();
    EXPECT_TRUE(t.has_truth) << "worker " << pid << " wrote no truth: "
                             << "killed, or hung at shutdown";
    if (!t.has_truth) continue;
    absl::StatusOr<WorkerTruth> wt = ReadTruth(file->second);
    ASSERT_TRUE(wt.ok()) << wt.status();
    t.requests = wt->requests;
    for (const std::array<double, 4>& r : wt->slow) {
      t.handler_s += Overlap(r[0], r[3], w0, w1);
      t.backend_s += Overlap(r[1], r[2], w0, w1);
      t.judged_s += Overlap(r[0], r[3], t.started + kAttachGraceS, w1);
    }
  }

  // The profile, per pid, with the paths checked on the way.
  std::map<int64_t, PidTally> tally;
  int64_t broken_path = 0;      // slow_backend not under its handler
  int64_t no_awaiter = 0;       // ... without the connection's task below
  int64_t loop_in_waiting = 0;  // an idle=true sample with loop frames
  int64_t running = 0;          // task samples on the thread
  int64_t running_no_loop = 0;  // ... without the worker's loop below
  int64_t crunch_idle = 0;      // crunch in an idle=true sample
  int64_t other_pid = 0;        // task samples of a pid not a worker
  std::string example;
  for (const Sample& s : p->samples) {
    const std::string task = StringLabel(s, "task");
    if (task != "slow-request" && task != "cpu-request") continue;
    const int64_t pid = NumberLabel(s, "pid").value_or(-1);
    if (truth.count(static_cast<pid_t>(pid)) == 0) other_pid += s.values[0];
    PidTally& t = tally[pid];
    const bool idle = StringLabel(s, "idle") == "true";
    const std::vector<std::string> names = FunctionNames(*p, s);
    const auto depth = static_cast<long>(names.size());
    auto at = [&](const std::string& name) {
      return std::find(names.begin(), names.end(), name) - names.begin();
    };
    if (idle && at("BaseEventLoop._run_once") < depth) {
      loop_in_waiting += s.values[0];
    }
    if (!idle) {
      running += s.values[0];
      if (!(at("RequestHandler.start") < at("GunicornWebWorker.run") &&
            at("GunicornWebWorker.run") < depth)) {
        running_no_loop += s.values[0];
      }
    }
    if (task == "cpu-request") {
      if (at("crunch") < at("cpu_endpoint") && at("cpu_endpoint") < depth) {
        t.crunch += s.values[0];
        if (idle) crunch_idle += s.values[0];
      }
      continue;
    }
    t.slow += s.values[0];
    t.slow_wall_ns += s.values[1];
    if (at("slow_backend") == depth) continue;
    t.backend += s.values[0];
    if (idle) t.backend_idle += s.values[0];
    if (!(at("slow_backend") < at("slow_endpoint") &&
          at("slow_endpoint") < at("RequestHandler._handle_request") &&
          at("RequestHandler._handle_request") < depth)) {
      broken_path += s.values[0];
      if (broken_path == s.values[0]) {
        std::cout << "off the handler's path: " << absl::StrJoin(names, " <- ")
                  << std::endl;
      }
    } else if (at("RequestHandler._handle_request") >=
               at("RequestHandler.start")) {
      no_awaiter += s.values[0];
    } else if (example.empty() && idle) {
      example = absl::StrJoin(names, " <- ");
    }
  }

  // Per worker, and the sums.
  int64_t slow = 0, backend = 0, backend_idle = 0, crunch = 0;
  int64_t slow_wall_ns = 0;
  double handler_s = 0, backend_s = 0;
  int64_t served = 0;
  size_t later = 0, later_sampled = 0;
  // The same sums over the workers forked during the recording.
  int64_t later_slow = 0, later_backend = 0;
  double later_handler_s = 0, later_backend_s = 0;
  std::set<int64_t> sampled;
  std::cout << absl::StrFormat(
                   "recording %.2f s; %d workers; per worker: pid, start "
                   "(s into the recording), slow handler s in it (past its "
                   "first %.1f s), slow_backend s; samples: slow-request, "
                   "slow_backend (idle), crunch",
                   w1 - w0, truth.size(), kAttachGraceS)
            << std::endl;
  for (const auto& [pid, t] : truth) {
    const PidTally& c = tally[pid];
    std::cout << absl::StrFormat(
                     "  %7d %+6.2f %s %6.2f (%5.2f) %6.2f  %5d %5d (%5d) %4d",
                     pid, t.started - w0, t.later ? "later" : "first",
                     t.handler_s, t.judged_s, t.backend_s, c.slow, c.backend,
                     c.backend_idle, c.crunch)
              << std::endl;
    slow += c.slow;
    backend += c.backend;
    backend_idle += c.backend_idle;
    crunch += c.crunch;
    slow_wall_ns += c.slow_wall_ns;
    handler_s += t.handler_s;
    backend_s += t.backend_s;
    served += t.requests;
    if (c.backend_idle > 0) sampled.insert(pid);
    if (t.later) {
      ++later;
      if (c.backend_idle > 0) ++later_sampled;
      later_slow += c.slow;
      later_backend += c.backend;
      later_handler_s += t.handler_s;
      later_backend_s += t.backend_s;
    }
    if (t.later && t.judged_s >= kLaterJudgedS) {
      EXPECT_GT(c.backend_idle, 0)
          << "worker " << pid << ", forked " << t.started - w0
          << " s into the recording, spent " << t.judged_s
          << " s in slow requests past its first " << kAttachGraceS
          << " s, and has no waiting samples of them";
    }
  }
  ASSERT_GE(later, kMinLaterWorkers) << "workers were not recycled enough:\n"
                                     << gunicorn_log;
  EXPECT_GE(later_sampled, kMinLaterWorkers);
  EXPECT_GE(sampled.size(), kMinLaterWorkers + 1);
  EXPECT_EQ(other_pid, 0) << "task samples of processes that are no worker";

  const double truth_points = 100.0 * backend_s / handler_s;
  const double points = slow == 0 ? 0.0
                                  : 100.0 * static_cast<double>(backend) /
                                        static_cast<double>(slow);
  const double coverage = static_cast<double>(slow_wall_ns) / 1e9 / handler_s;
  std::cout << absl::StrFormat(
                   "slow_backend: truth %.2f%% of slow_endpoint's wall time "
                   "(%.2f s), pystrobe %.2f%% (%d of %d slow-request "
                   "samples, %.1f%% of them idle=true); sampled %.2f s of "
                   "the %.2f s of slow requests (%.1f%%); %d crunch samples",
                   truth_points, handler_s, points, backend, slow,
                   backend == 0 ? 0.0
                                : 100.0 * static_cast<double>(backend_idle) /
                                      static_cast<double>(backend),
                   static_cast<double>(slow_wall_ns) / 1e9, handler_s,
                   100.0 * coverage, crunch)
            << std::endl;
  const double later_truth_points = 100.0 * later_backend_s / later_handler_s;
  const double later_points = later_slow == 0
                                  ? 0.0
                                  : 100.0 * static_cast<double>(later_backend) /
                                        static_cast<double>(later_slow);
  std::cout << absl::StrFormat(
                   "  workers forked during the recording: truth %.2f%%, "
                   "pystrobe %.2f%% (%d of %d samples)",
                   later_truth_points, later_points, later_backend, later_slow)
            << std::endl;
  std::cout << "  one stack: " << example << std::endl;
  EXPECT_GE(slow, kMinSamples);
  EXPECT_FALSE(example.empty()) << "no waiting stack through slow_backend";
  EXPECT_EQ(broken_path, 0);
  EXPECT_LE(no_awaiter * 100, backend)
      << "over 1% of slow_backend's samples lacked the connection's task";
  // Waiting in asyncio.sleep is what slow_backend does: nearly all its
  // samples wait.
  EXPECT_GE(backend_idle * 10, backend * 9);
  EXPECT_EQ(loop_in_waiting, 0) << "waiting samples with event-loop frames";
  EXPECT_EQ(crunch_idle, 0) << "the running task's crunch sampled as waiting";
  EXPECT_GT(crunch, 0);
  EXPECT_LE(running_no_loop * 100, running)
      << running_no_loop << " of " << running
      << " samples of a running task lacked the worker's loop below";
  // Each slow request in flight is one sample a tick, running or waiting:
  // the samples' wall time is the requests' (less what ran in a worker
  // before pystrobe attached it: 0-4% here), never more.
  EXPECT_GE(coverage, kMinCoverage);
  EXPECT_LE(coverage, kMaxCoverage);
  // Judged on a loaded machine too (the truth and the samples are of the
  // same wall-clock intervals): said, not skipped.
  if (SaysOverloaded(output)) {
    std::cout << "pystrobe says the machine was overloaded" << std::endl;
  }
  EXPECT_NEAR(points, truth_points, kTolerancePoints);
  EXPECT_NEAR(later_points, later_truth_points, kTolerancePoints);

  // wrk got its answers: errors only where recycling closed connections.
  const WrkReport load = ParseWrk(wrk->Log());
  const int64_t recycled = static_cast<int64_t>(truth.size()) - kWorkers;
  std::cout << "wrk: " << load.Describe() << "; " << recycled
            << " workers recycled; the workers served " << served << " requests"
            << std::endl;
  ASSERT_TRUE(load.parsed) << wrk->Log();
  EXPECT_EQ(load.non_2xx, 0);
  EXPECT_EQ(load.timeouts, 0);
  EXPECT_EQ(load.connect_errors, 0);
  // A recycled aiohttp worker closes its keep-alive connections as it
  // shuts down: without pystrobe, wrk counted 3.4 to 4.0 read errors per
  // recycled worker here (31 for 9, 40 and 44 for 11). Twice that.
  EXPECT_LE(load.read_errors + load.write_errors, 2 * kConnections * recycled);
  // Every request wrk counted was served by a worker that wrote its truth;
  // those it did not count had their connection broken, or were in flight
  // when wrk stopped (4 at most).
  const int64_t counted = load.requests + after_report.requests;
  EXPECT_GE(served, counted);
  EXPECT_LE(served, counted + load.SocketErrors() + 4 + 2);

  // No process's tasks went unread: the master's neither (asyncio
  // imported, no loop: read as no tasks), nor a recycled worker's whose
  // last ticks fell in its interpreter's teardown.
  std::vector<std::string> notes;
  for (absl::string_view line :
       absl::StrSplit(output, absl::ByAnyChar("\r\n"))) {
    if (absl::StartsWith(line, "pystrobe: process ") &&
        !absl::StrContains(line, "did almost no Python work")) {
      notes.emplace_back(line);
    }
  }
  EXPECT_THAT(notes, ::testing::IsEmpty()) << absl::StrJoin(notes, "\n");
  if (HasFailure()) std::cout << output << std::endl;
}

}  // namespace
}  // namespace pystrobe::integration
