// CpuAttribution on synthetic threads whose every nanosecond is known.
//
// A simulated thread follows a periodic schedule of segments (a function,
// and whether it runs, sleeps, or waits for a CPU after a wake-up); ticks
// are placed as the sampler places them (one at a uniformly random point of
// each period, fixed seeds); at each tick the kernel's view is derived from
// the schedule (state, CPU time, run count) and handed to the estimator.
// Shares are compared with the schedule's own CPU per function. The rule
// the sampler used before (an interval's CPU to the stack at its end) runs
// on the same ticks and must miss, so that these sequences can tell the two
// apart.
#include "pystrobe/sampler/cpu_attribution.h"

#include <cstdint>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

constexpr int64_t kMs = 1'000'000;

// kRunWithoutGil: on a CPU without the GIL (native code, or the way into a
// sleep).
enum class Phase { kRun, kRunWithoutGil, kSleep, kWaitCpu };

struct Segment {
  uint32_t function;  // the stack the thread shows meanwhile
  int64_t ns;
  Phase phase;
};

bool Runs(Phase p) { return p == Phase::kRun || p == Phase::kRunWithoutGil; }

// A thread repeating `cycle` forever from time 0.
class SimulatedThread {
 public:
  explicit SimulatedThread(std::vector<Segment> cycle)
      : cycle_(std::move(cycle)) {
    for (const Segment& s : cycle_) {
      cycle_ns_ += s.ns;
      if (Runs(s.phase)) cycle_cpu_ns_ += s.ns;
    }
  }

  struct View {
    uint32_t function;
    ThreadClock clock;
  };
  View At(int64_t t) const {
    const int64_t cycles = t / cycle_ns_;
    int64_t in = t % cycle_ns_;
    View v{0, {}};
    v.clock.cpu_ns = static_cast<uint64_t>(cycles * cycle_cpu_ns_);
    for (const Segment& s : cycle_) {
      if (in < s.ns) {
        v.function = s.function;
        v.clock.state = s.phase == Phase::kSleep ? 'S' : 'R';
        // Python code runs with the GIL; a thread asleep or waiting for a
        // CPU after a wake-up has not taken it back.
        v.clock.holds_gil = s.phase == Phase::kRun;
        if (Runs(s.phase)) v.clock.cpu_ns += static_cast<uint64_t>(in);
        return v;
      }
      in -= s.ns;
      if (Runs(s.phase)) v.clock.cpu_ns += static_cast<uint64_t>(s.ns);
    }
    return v;
  }
  // CPU per function over [from, to) (whole nanoseconds, by walking).
  std::map<uint32_t, int64_t> CpuBetween(int64_t from, int64_t to) const {
    std::map<uint32_t, int64_t> cpu;
    int64_t t = from - from % cycle_ns_;
    while (t < to) {
      for (const Segment& s : cycle_) {
        const int64_t a = std::max(t, from);
        const int64_t b = std::min(t + s.ns, to);
        if (Runs(s.phase) && b > a) cpu[s.function] += b - a;
        t += s.ns;
      }
    }
    return cpu;
  }

 private:
  std::vector<Segment> cycle_;
  int64_t cycle_ns_ = 0;
  int64_t cycle_cpu_ns_ = 0;
};

StackKey KeyOf(uint32_t function) { return StackKey{function, 0, 0, 0}; }

struct Estimate {
  std::map<uint32_t, int64_t> cpu;  // per function
  std::map<uint32_t, int64_t> count;
  int64_t total = 0;
  std::map<uint32_t, int64_t> truth;
  int64_t truth_total = 0;
  // The old rule on the same ticks: an interval's CPU to the end's stack.
  std::map<uint32_t, int64_t> naive;
  int64_t naive_total = 0;
  // Another rule that fails: the CPU since the previous running sample to
  // each running sample.
  std::map<uint32_t, int64_t> forward;
  int64_t forward_total = 0;

  double Share(uint32_t f) const {
    return 100.0 * static_cast<double>(Get(cpu, f)) /
           static_cast<double>(total);
  }
  double TruthShare(uint32_t f) const {
    return 100.0 * static_cast<double>(Get(truth, f)) /
           static_cast<double>(truth_total);
  }
  double NaiveShare(uint32_t f) const {
    return 100.0 * static_cast<double>(Get(naive, f)) /
           static_cast<double>(naive_total);
  }
  double ForwardShare(uint32_t f) const {
    return 100.0 * static_cast<double>(Get(forward, f)) /
           static_cast<double>(forward_total);
  }
  static int64_t Get(const std::map<uint32_t, int64_t>& m, uint32_t f) {
    auto it = m.find(f);
    return it == m.end() ? 0 : it->second;
  }
};

// Samples `thread` at `rate_hz` for `seconds` with stratified random ticks,
// closing attribution windows every second as the sampler does.
Estimate Sample(const SimulatedThread& thread, double rate_hz, double seconds,
                uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t period = static_cast<int64_t>(1e9 / rate_hz);
  std::uniform_int_distribution<int64_t> phase(0, period - 1);
  const int64_t periods = static_cast<int64_t>(seconds * rate_hz);
  // Start at an arbitrary offset into the schedule.
  const int64_t origin = 123'456'789;
  CpuAttribution cpu;
  Estimate e;
  auto add = [&](const StackKey& key, int64_t count, int64_t w) {
    e.cpu[key.stack] += w;
    e.count[key.stack] += count;
    e.total += w;
  };
  int64_t first = -1, last = -1;
  uint64_t previous_cpu = 0;
  uint64_t previous_running_cpu = 0;
  bool seen_running = false;
  int64_t window_start = 0;
  for (int64_t k = 0; k < periods; ++k) {
    const int64_t t = origin + k * period + phase(rng);
    if (t - window_start >= 1'000'000'000) {
      cpu.CloseWindow(add);
      window_start = t;
    }
    SimulatedThread::View v = thread.At(t);
    v.clock.at_ns = t;
    const StackKey key = KeyOf(v.function);
    if (cpu.Observe(42, v.clock, &key)) {
      if (seen_running) {
        const auto used =
            static_cast<int64_t>(v.clock.cpu_ns - previous_running_cpu);
        e.forward[v.function] += used;
        e.forward_total += used;
      }
      seen_running = true;
      previous_running_cpu = v.clock.cpu_ns;
    }
    if (first >= 0) {
      e.naive[v.function] +=
          static_cast<int64_t>(v.clock.cpu_ns - previous_cpu);
      e.naive_total += static_cast<int64_t>(v.clock.cpu_ns - previous_cpu);
    }
    previous_cpu = v.clock.cpu_ns;
    if (first < 0) first = t;
    last = t;
  }
  cpu.Finish(add);
  e.truth = thread.CpuBetween(first, last);
  for (const auto& [f, ns] : e.truth) e.truth_total += ns;
  return e;
}

constexpr uint32_t kBurn = 1, kNap = 2, kWarm = 3, kTail = 4;

std::string Describe(const Estimate& e) {
  std::string out;
  for (const auto& [f, ns] : e.truth) {
    absl::StrAppendFormat(
        &out, "f%d truth %.2f%% got %.2f%% (old rule %.2f%%, forward %.2f%%); ",
        f, e.TruthShare(f), e.Share(f), e.NaiveShare(f), e.ForwardShare(f));
  }
  absl::StrAppendFormat(&out, "total %d vs truth %d", e.total, e.truth_total);
  return out;
}

// The case: burn 5 ms, nap 5 ms at 100 Hz. Exact CPU total; the
// nap gets nothing; the old rule gave it about half.
TEST(CpuAttributionTest, BurnNapChargesTheBurn) {
  for (double rate : {100.0, 1000.0}) {
    SimulatedThread thread(
        {{kBurn, 5 * kMs, Phase::kRun}, {kNap, 5 * kMs, Phase::kSleep}});
    Estimate e = Sample(thread, rate, 20, 1);
    SCOPED_TRACE(Describe(e));
    EXPECT_EQ(e.total, e.truth_total);
    EXPECT_NEAR(e.Share(kBurn), 100.0, 0.01);
    EXPECT_EQ(Estimate::Get(e.count, kNap), 0);
    EXPECT_GT(Estimate::Get(e.count, kBurn), 0);
    EXPECT_GT(e.NaiveShare(kNap), rate == 100 ? 30.0 : 10.0)
        << "the old rule should be fooled";
  }
}

// Two functions share the running time, one right before the sleep: each
// running sample stands for the same CPU, so neither is favoured. (Charging
// a running sample with the CPU since the previous running sample favours
// `tail`, whose samples follow busy gaps, and shortchanges `warm`, whose
// samples follow the sleep: about 11% for 7.7% and 11.5% for 15.4%.)
TEST(CpuAttributionTest, FunctionBeforeOrAfterSleepIsNotFavoured) {
  SimulatedThread thread({{kBurn, 10 * kMs, Phase::kRun},
                          {kTail, 1 * kMs, Phase::kRun},
                          {kNap, 9 * kMs, Phase::kSleep},
                          {kWarm, 2 * kMs, Phase::kRun},
                          {kNap, 8 * kMs, Phase::kSleep}});
  for (uint64_t seed : {1, 2, 3}) {
    Estimate e = Sample(thread, 100, 300, seed);
    SCOPED_TRACE(Describe(e));
    std::cout << Describe(e) << std::endl;
    EXPECT_EQ(e.total, e.truth_total);
    for (uint32_t f : {kBurn, kTail, kWarm}) {
      EXPECT_NEAR(e.Share(f), e.TruthShare(f), 1.0) << "f" << f;
    }
    EXPECT_EQ(Estimate::Get(e.cpu, kNap), 0);
    EXPECT_GT(e.ForwardShare(kTail) - e.TruthShare(kTail), 2.0)
        << "the forward rule should favour tail";
  }
}

// Woken but waiting for a CPU: state R, stack still the sleep's, GIL not
// taken back: not running yet. (Counted, the wait would be nap's CPU.)
TEST(CpuAttributionTest, WokenThreadWaitingForACpuIsNotRunning) {
  SimulatedThread thread({{kBurn, 3 * kMs, Phase::kRun},
                          {kNap, 6 * kMs, Phase::kSleep},
                          {kNap, 1 * kMs, Phase::kWaitCpu}});
  Estimate e = Sample(thread, 1000, 20, 4);
  SCOPED_TRACE(Describe(e));
  EXPECT_EQ(e.total, e.truth_total);
  EXPECT_NEAR(e.Share(kBurn), 100.0, 0.01);
  EXPECT_EQ(Estimate::Get(e.count, kNap), 0);
}

// Periodic work locked to the sampling period (3 ms of 10 at 100 Hz): with
// ticks at random phases the counts are unbiased, and so are the shares.
TEST(CpuAttributionTest, WorkLockedToThePeriod) {
  SimulatedThread thread({{kWarm, 3 * kMs, Phase::kRun},
                          {kBurn, 3 * kMs, Phase::kRun},
                          {kNap, 4 * kMs, Phase::kSleep}});
  Estimate e = Sample(thread, 100, 200, 5);
  SCOPED_TRACE(Describe(e));
  EXPECT_EQ(e.total, e.truth_total);
  EXPECT_NEAR(e.Share(kWarm), 50.0, 3.0);
  EXPECT_NEAR(e.Share(kBurn), 50.0, 3.0);
}

TEST(CpuAttributionTest, SharesAddUpToTheWindowsCpu) {
  CpuAttribution cpu;
  std::map<uint32_t, int64_t> got, counts;
  auto add = [&](const StackKey& k, int64_t n, int64_t w) {
    got[k.stack] += w;
    counts[k.stack] += n;
  };
  const StackKey a = KeyOf(1), b = KeyOf(2), c = KeyOf(3);
  cpu.Observe(7, {'R', 1000, true}, &a);
  cpu.Observe(7, {'R', 1004, true}, &b);
  cpu.Observe(7, {'R', 1010, true}, &c);
  EXPECT_EQ(cpu.pending_ns(), 10u);
  cpu.CloseWindow(add);
  EXPECT_EQ(cpu.pending_ns(), 0u);
  EXPECT_EQ(got[1] + got[2] + got[3], 10);
  for (uint32_t f : {1, 2, 3}) {
    EXPECT_GE(got[f], 3);
    EXPECT_LE(got[f], 4);
    EXPECT_EQ(counts[f], 1);
  }
}

// CPU used in a window where the thread was never seen running is carried
// to the next window; at the end, to where the thread last ran.
TEST(CpuAttributionTest, CarriesCpuOfWindowsWithoutRunningSamples) {
  CpuAttribution cpu;
  std::map<uint32_t, int64_t> got, counts;
  auto add = [&](const StackKey& k, int64_t n, int64_t w) {
    got[k.stack] += w;
    counts[k.stack] += n;
  };
  const StackKey run = KeyOf(1), nap = KeyOf(2);
  cpu.Observe(7, {'S', 100, false}, &nap);
  cpu.Observe(7, {'S', 300, false}, &nap);
  cpu.CloseWindow(add);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(cpu.pending_ns(), 200u);
  cpu.Observe(7, {'R', 400, true}, &run);
  cpu.CloseWindow(add);
  EXPECT_EQ(got[1], 300);
  EXPECT_EQ(counts[1], 1);
  cpu.Observe(7, {'S', 450, false}, &nap);
  cpu.Finish(add);
  EXPECT_EQ(got[1], 350) << "the tail goes to the last running stack";
  EXPECT_EQ(got.count(2), 0u);
  EXPECT_EQ(counts[1], 1) << "and adds no sample";
}

// A thread never seen running still has its CPU charged, to its last stack;
// one that exits is settled at the next window and forgotten.
TEST(CpuAttributionTest, ThreadsNeverSeenRunningOrGone) {
  CpuAttribution cpu;
  std::map<uint32_t, int64_t> got;
  auto add = [&](const StackKey& k, int64_t, int64_t w) { got[k.stack] += w; };
  const StackKey nap = KeyOf(2), other = KeyOf(5);
  cpu.Observe(7, {'S', 100, false}, &nap);
  cpu.Observe(7, {'S', 180, false}, &nap);
  cpu.Observe(8, {'R', 0, true}, &other);
  cpu.CloseWindow(add);
  cpu.Observe(8, {'R', 50, true}, &other);
  cpu.CloseWindow(add);  // 7 was not observed in this window: it exited
  EXPECT_EQ(got[2], 80);
  EXPECT_EQ(got[5], 50);
  EXPECT_EQ(cpu.pending_ns(), 0u);
  cpu.Finish(add);
  EXPECT_EQ(got[2], 80);
}

// A stack that could not be read adds no sample, but its CPU is not lost.
TEST(CpuAttributionTest, UnreadableStacksKeepTheirCpu) {
  CpuAttribution cpu;
  std::map<uint32_t, int64_t> got;
  auto add = [&](const StackKey& k, int64_t, int64_t w) { got[k.stack] += w; };
  const StackKey run = KeyOf(1);
  EXPECT_TRUE(cpu.Observe(7, {'R', 0, true}, &run));
  EXPECT_FALSE(cpu.Observe(7, {'R', 60, true}, nullptr));
  EXPECT_TRUE(cpu.Observe(7, {'R', 100, true}, &run));
  cpu.Finish(add);
  EXPECT_EQ(got[1], 100);
}

// State R without the GIL at a stack the thread slept at (this window or the
// one before) is a wake-up, not work; with the GIL, or at another stack
// (native code that released the GIL), it is work. Looks 10 ms apart, as
// at 100 Hz: too far apart for the previous one to say anything.
TEST(CpuAttributionTest, RunnableWithoutTheGilWhereItSleptIsNotRunning) {
  CpuAttribution cpu;
  std::map<uint32_t, int64_t> got;
  auto add = [&](const StackKey& k, int64_t, int64_t w) { got[k.stack] += w; };
  const StackKey nap = KeyOf(2), native = KeyOf(3), burn = KeyOf(1);
  auto at = [](char state, uint64_t cpu_ns, bool gil, int64_t look) {
    ThreadClock c{state, cpu_ns, gil};
    c.at_ns = look * 10 * kMs;
    return c;
  };
  EXPECT_TRUE(cpu.Observe(7, at('R', 0, false, 0), &nap))
      << "never seen asleep";
  cpu.CloseWindow(add);
  got.clear();
  EXPECT_FALSE(cpu.Observe(7, at('S', 10, false, 1), &nap));
  EXPECT_FALSE(cpu.Observe(7, at('R', 10, false, 2), &nap)) << "woken, waiting";
  EXPECT_TRUE(cpu.Observe(7, at('R', 20, true, 3), &nap))
      << "back with the GIL";
  EXPECT_TRUE(cpu.Observe(7, at('R', 30, false, 4), &native)) << "native code";
  cpu.CloseWindow(add);
  EXPECT_FALSE(cpu.Observe(7, at('R', 40, false, 5), &nap))
      << "seen asleep in the window before";
  EXPECT_TRUE(cpu.Observe(7, at('R', 50, true, 6), &burn));
  cpu.CloseWindow(add);
  EXPECT_TRUE(cpu.Observe(7, at('R', 60, false, 7), &nap))
      << "asleep there two windows ago only";
  cpu.Finish(add);
  EXPECT_EQ(got[2] + got[3] + got[1], 60);
}

// The same, but seen running a moment before: on its way into the sleep
// (the GIL dropped, the system call entered), which is work.
TEST(CpuAttributionTest, RunningJustBeforeItIsOnItsWayIntoTheSleep) {
  CpuAttribution cpu;
  const StackKey nap = KeyOf(2), burn = KeyOf(1);
  constexpr int64_t kSoon = CpuAttribution::kJustAfterNs;
  auto at = [](char state, uint64_t cpu_ns, bool gil, int64_t ns) {
    ThreadClock c{state, cpu_ns, gil};
    c.at_ns = ns;
    return c;
  };
  EXPECT_FALSE(cpu.Observe(7, at('S', 0, false, 0), &nap));
  EXPECT_TRUE(cpu.Observe(7, at('R', 10, true, kMs), &burn));
  EXPECT_TRUE(cpu.Observe(7, at('R', 20, false, kMs + kSoon), &nap))
      << "running a moment ago: on its way in";
  EXPECT_FALSE(cpu.Observe(7, at('S', 30, false, 2 * kMs + kSoon), &nap));
  EXPECT_FALSE(cpu.Observe(7, at('R', 30, false, 3 * kMs + kSoon), &nap))
      << "asleep at the look before: woken";
  EXPECT_TRUE(cpu.Observe(7, at('R', 40, true, 4 * kMs + kSoon), &burn));
  EXPECT_FALSE(
      cpu.Observe(7, at('R', 50, false, 4 * kMs + 2 * kSoon + 1), &nap))
      << "running too long ago to tell";
}

// The way into a sleep costs CPU without the GIL at the sleep's own stack
// (dropping the GIL, entering the system call: tens of microseconds per
// sleep on a VM), and so does the way out once on a CPU; the wait for a CPU
// after the wake-up does not. Counted only where the thread was seen asleep
// at the look before, the way in keeps its share: nap reads its true CPU
// within a point, where a rule that drops every runnable look at a stack it
// slept at read it near zero.
TEST(CpuAttributionTest, TheWayIntoASleepIsWork) {
  SimulatedThread thread({{kBurn, 3 * kMs, Phase::kRun},
                          {kNap, kMs / 2, Phase::kRunWithoutGil},
                          {kNap, 6 * kMs, Phase::kSleep},
                          {kNap, kMs / 2, Phase::kWaitCpu}});
  for (uint64_t seed : {6, 7}) {
    Estimate e = Sample(thread, 1000, 20, seed);
    SCOPED_TRACE(Describe(e));
    EXPECT_EQ(e.total, e.truth_total);
    EXPECT_NEAR(e.TruthShare(kNap), 100.0 / 7, 0.01);
    EXPECT_NEAR(e.Share(kNap), e.TruthShare(kNap), 1.5);
  }
}

}  // namespace
}  // namespace pystrobe
