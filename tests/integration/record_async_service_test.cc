// `pystrobe record --async all` on a real asyncio service under load.
//
// tests/workloads/async_service/app.py is an aiohttp service (Debian's
// python3-aiohttp) with a fast endpoint and a slow one, whose handler
// (slow_endpoint) awaits slow_query() (a semaphore, then a sleep). wrk loads
// both on 127.0.0.1 with 4 connections while pystrobe records the service by
// PID. The service measures itself (perf_counter around the handler and
// around `await slow_query()`), and names the handler's task "slow-request"
// while it runs, so the profile's `task` label marks the handler's time.
//
// With --async all every in-flight request is one sample per tick, running
// or waiting: the share of slow-request samples whose stack holds
// slow_query must be the service's own share of the handler's wall time
// within kTolerancePoints, and slow_query must sit under slow_endpoint and
// aiohttp's request task in one stack (and, but for the moment between the
// request task's eager start and its first await by the connection's task,
// under the connection's task too). The same check on `record --async` (the
// running task only: a request waiting in slow_query is not sampled) must fail
// by far — the control that shows the check can fail.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

// The interpreters this test runs on, by Interpreter::name: those whose
// asyncio tasks pystrobe reads and that have Debian's python3-aiohttp.
// Forky's is installed into the forky root by scripts/install-deps.sh,
// Debian 12's (for /usr/bin/python3.11) on the machine.
std::vector<Interpreter> ServiceInterpreters() {
  return InterpretersNamed({"Debian3_11", "Forky3_14", "Forky3_15"});
}

constexpr absl::Duration kTimeout = absl::Seconds(120);
constexpr int kRecordSeconds = 5;
constexpr int kLoadSeconds = kRecordSeconds + 4;  // covers pystrobe's start
constexpr int kRate = 200;
// About 4 slow requests are in flight at any time (4 connections, /slow
// taking ~20 ms against ~0.3 ms for /fast), so 5 s at 200 Hz give ~4,000
// slow-request samples; at least kMinSamples are required.
constexpr int64_t kMinSamples = 2000;
// The truth is ~70%. Were the samples independent, the share's standard
// error would be sqrt(p(1-p)/n): 1.0 point at n = 2,000, 0.7 at 4,000
// (ticks at a fixed period over ~1,000 requests err less than that: each
// request's query and handler counts are off by under one tick each).
// 3 points is 3 standard errors at the minimum, 4 at the usual count.
constexpr double kTolerancePoints = 3.0;
// The control (--async, no waiting tasks) must miss by at least this much.
constexpr double kControlMissPoints = 20.0;

// One window: the service's own accounting and what the profile says.
struct Window {
  double truth_points = 0;  // 100 * query_s / handler_s
  int64_t truth_requests = 0;
  int64_t requests = 0;     // samples labelled task=slow-request
  int64_t query = 0;        // ... whose stack holds slow_query
  int64_t broken_path = 0;  // ... holding slow_query not under slow_endpoint
  int64_t no_awaiter = 0;   // ... without the connection's task below
  std::string example;      // one stack through slow_query
  std::string output;       // pystrobe's
  double Points() const {
    return requests == 0 ? 0
                         : 100.0 * static_cast<double>(query) /
                               static_cast<double>(requests);
  }
  // The check the --async all recording must pass.
  bool Matches() const {
    return requests >= kMinSamples && broken_path == 0 &&
           no_awaiter * 100 <= query &&
           std::abs(Points() - truth_points) <= kTolerancePoints;
  }
  std::string Describe() const {
    return absl::StrFormat(
        "slow_query: truth %.2f%% of slow_endpoint's wall time (%d "
        "requests), pystrobe %.2f%% (%d of %d slow-request samples; %d off "
        "the handler's path, %d without the connection's task)",
        truth_points, truth_requests, Points(), query, requests, broken_path,
        no_awaiter);
  }
};

class RecordAsyncServiceTest : public ::testing::TestWithParam<Interpreter> {
 protected:
  void SetUp() override {
    const Interpreter& py = GetParam();
    std::cout << "interpreter: " << py.name << " " << py.root << py.path
              << std::endl;
    if (access("/usr/bin/wrk", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/wrk";
    std::string why;
    if (!CanImport(py, "aiohttp", &why)) {
      GTEST_SKIP() << py.name << " cannot import aiohttp (python3-aiohttp, "
                   << "scripts/install-deps.sh): " << why;
    }
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(dir_.path() + "/async_service");
    const std::string app =
        StageWorkload(py, dir_.path(), "async_service/app.py");
    ASSERT_FALSE(app.empty());
    absl::StatusOr<ChildProcess> service = ChildProcess::Start(
        py.Command({"-E", app, py.TargetPath(dir_.path())}),
        {{"LC_ALL", "C.UTF-8"}}, dir_.path() + "/service.log");
    ASSERT_TRUE(service.ok()) << service.status();
    service_.emplace(std::move(*service));
    ASSERT_TRUE(WaitForFileOrExit(dir_.path() + "/ready", *service_, kTimeout))
        << "service not ready:\n"
        << service_->Log();
    absl::StatusOr<std::string> port = ReadFileToString(dir_.path() + "/ready");
    ASSERT_TRUE(port.ok() &&
                absl::SimpleAtoi(absl::StripAsciiWhitespace(*port), &port_))
        << "no port in " << dir_.path() << "/ready";
  }

  void TearDown() override {
    if (service_) {
      TouchFile(dir_.path() + "/exit");
      service_->WaitForExit(absl::Seconds(10));
      service_->KillAndReap();
    }
  }

  // Window `k`: wrk on both endpoints, and `pystrobe record MODE...` of the
  // service in wall mode while it runs.
  void Measure(int k, const std::vector<std::string>& mode, Window* w) {
    const std::string d = dir_.path();
    absl::StatusOr<ChildProcess> wrk = ChildProcess::Start(
        WrkCommand(port_, 4, kLoadSeconds,
                   PYSTROBE_SOURCE_DIR
                   "/tests/workloads/async_service/load.lua"),
        {}, absl::StrCat(d, "/wrk-", k, ".log"));
    ASSERT_TRUE(wrk.ok()) << wrk.status();
    ASSERT_TRUE(TouchFile(absl::StrCat(d, "/start-", k)));
    const std::string out = absl::StrCat(d, "/window-", k, ".pb.gz");
    std::vector<std::string> args = {"record",
                                     "--pid",
                                     std::to_string(service_->pid()),
                                     "-d",
                                     std::to_string(kRecordSeconds),
                                     "-r",
                                     std::to_string(kRate),
                                     "--mode",
                                     "wall",
                                     "-o",
                                     out};
    args.insert(args.end(), mode.begin(), mode.end());
    absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(args, d);
    ASSERT_TRUE(rec.ok()) << rec.status();
    std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
    ASSERT_TRUE(TouchFile(absl::StrCat(d, "/stop-", k)));
    w->output = (*rec)->Output();
    ASSERT_TRUE(done.has_value() && done->exited && done->exit_code == 0)
        << w->output;
    ASSERT_TRUE(wrk->WaitForExit(kTimeout)) << "wrk did not end";
    const std::string truth_path = absl::StrCat(d, "/truth-", k, ".json");
    ASSERT_TRUE(WaitForFileOrExit(truth_path, *service_, kTimeout))
        << service_->Log();
    absl::StatusOr<google::protobuf::Struct> truth = ReadJsonObject(truth_path);
    ASSERT_TRUE(truth.ok()) << truth.status();
    const double handler_s = NumberField(*truth, "handler_s");
    w->truth_requests = static_cast<int64_t>(NumberField(*truth, "requests"));
    ASSERT_GT(handler_s, 1.0) << "too little load:\n" << wrk->Log();
    w->truth_points = 100.0 * NumberField(*truth, "query_s") / handler_s;

    absl::StatusOr<Profile> profile = ReadProfile(out);
    ASSERT_TRUE(profile.ok()) << profile.status();
    for (const Sample& s : profile->samples) {
      if (StringLabel(s, "task") != "slow-request") continue;
      w->requests += s.values[0];
      const std::vector<std::string> names = FunctionNames(*profile, s);
      auto at = [&](const std::string& name) {
        return std::find(names.begin(), names.end(), name) - names.begin();
      };
      const long depth = static_cast<long>(names.size());
      if (at("slow_query") == depth) continue;
      w->query += s.values[0];
      // The handler -> awaited coroutine path as one stack: slow_query
      // under slow_endpoint, under aiohttp's per-request coroutine
      // (_handle_request, the request task's own).
      if (!(at("slow_query") < at("slow_endpoint") &&
            at("slow_endpoint") < at("RequestHandler._handle_request") &&
            at("RequestHandler._handle_request") < depth)) {
        w->broken_path += s.values[0];
        if (w->broken_path == s.values[0]) {
          std::cout << "off the handler's path: "
                    << absl::StrJoin(names, " <- ") << std::endl;
        }
        continue;
      }
      // Then the connection's task that awaits the request task
      // (RequestHandler.start). aiohttp starts the request task eagerly
      // (3.12+) and awaits it only once it first suspends, so a sample
      // taken in between has no awaiter to follow yet: counted, bounded.
      if (at("RequestHandler._handle_request") >= at("RequestHandler.start")) {
        w->no_awaiter += s.values[0];
      } else if (w->example.empty()) {
        w->example = absl::StrJoin(names, " <- ");
      }
    }
  }

  ScopedTempDir dir_{GetParam().TempParent()};
  std::optional<ChildProcess> service_;
  int port_ = 0;
};

TEST_P(RecordAsyncServiceTest, SlowEndpointsQueryAtItsWallShare) {
  Window all;
  ASSERT_NO_FATAL_FAILURE(Measure(1, {"--async", "all"}, &all));
  if (SaysOverloaded(all.output)) {
    GTEST_SKIP() << "the machine was overloaded while recording:\n"
                 << all.output;
  }
  std::cout << GetParam().name << " --async all: " << all.Describe()
            << std::endl;
  std::cout << "  one stack: " << all.example << std::endl;
  EXPECT_GE(all.requests, kMinSamples) << all.output;
  EXPECT_EQ(all.broken_path, 0);
  EXPECT_LE(all.no_awaiter * 100, all.query)
      << "over 1% of slow_query's samples lacked the connection's task";
  EXPECT_FALSE(all.example.empty()) << "no stack through slow_query";
  EXPECT_NEAR(all.Points(), all.truth_points, kTolerancePoints)
      << all.Describe();
  EXPECT_TRUE(all.Matches());

  // The control: the running task only. A request waiting in slow_query
  // (most of its time) is not sampled, so the same check must fail.
  Window running;
  ASSERT_NO_FATAL_FAILURE(Measure(2, {"--async"}, &running));
  std::cout << GetParam().name << " --async (control): " << running.Describe()
            << std::endl;
  EXPECT_FALSE(running.Matches()) << running.Describe();
  EXPECT_GT(std::abs(running.Points() - running.truth_points),
            kControlMissPoints)
      << running.Describe();
  if (HasFailure()) std::cout << all.output << std::endl;
}

std::string ParamName(const ::testing::TestParamInfo<Interpreter>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Interpreters, RecordAsyncServiceTest,
                         ::testing::ValuesIn(ServiceInterpreters()), ParamName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RecordAsyncServiceTest);

}  // namespace
}  // namespace pystrobe::integration
