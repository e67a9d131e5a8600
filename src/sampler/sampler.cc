#include "pystrobe/sampler/sampler.h"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/ptrace.h"

namespace pystrobe {
namespace {

int64_t Now(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepUntil(int64_t deadline_ns) {
  timespec ts{static_cast<time_t>(deadline_ns / 1'000'000'000),
              static_cast<long>(deadline_ns % 1'000'000'000)};
  // EINTR (SIGINT to stop) just ends the sleep early: the caller checks its
  // stop flag before the next tick.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

Sampler::Sampler(PythonProcess* python, SamplerOptions options)
    : python_(python),
      options_(options),
      monitor_(python->pid()),
      // Time batches of 1 s, doubled whenever a recording outgrows 32 of
      // them. pystrobe-diff estimates variance from them; shorter batches
      // (tried: 100 ms) made its A/B gate test flaky, so recordings shorter
      // than a few seconds give it little power (docs/statistics.md).
      table_(1'000'000'000) {}

absl::Status Sampler::TakeSample(int64_t elapsed_ns, int64_t interval_ns) {
  std::optional<PtraceSuspension> stop;
  if (options_.blocking) {
    // Sleeping threads are left running (interrupting their system calls
    // has effects the target can see; see ptrace.h) and vouched for below.
    absl::StatusOr<PtraceSuspension> s =
        PtraceSuspension::Suspend(python_->pid(), {.leave_sleepers = true});
    if (!s.ok()) return s.status();
    stop.emplace(*std::move(s));
  }
  // Scheduling state is read after the stacks (and after resuming in
  // blocking mode, where a thread may still read as stopped, 't': whether
  // it ran comes from its CPU time instead, below).
  absl::Status read = python_->ReadThreads(&threads_);
  woke_.clear();
  if (stop) {
    woke_ = stop->SleepersThatRan();
    stop->Resume();
  }
  if (!read.ok()) return read;
  ++stats_.ticks;
  const uint32_t batch = table_.BatchFor(elapsed_ns);
  for (const PyThread& t : threads_) {
    if (options_.gil_only && !t.holds_gil) continue;
    if (!woke_.empty() &&
        std::find(woke_.begin(), woke_.end(), t.native_id) != woke_.end()) {
      ++stats_.errors;  // it ran while its stack was read: maybe torn
      continue;
    }
    // One procfs read per thread and tick, of what the mode needs: with
    // many threads these reads are most of a tick's cost.
    int64_t weight = interval_ns;
    bool idle = false;
    if (options_.mode == WeightMode::kCpu) {
      // Weighed by the CPU time the thread used since its previous sample;
      // one that used none adds nothing (so it is never idle here).
      if (t.native_id == 0) continue;
      absl::StatusOr<uint64_t> cpu = monitor_.ReadCpu(t.native_id);
      if (!cpu.ok()) continue;
      auto [it, first] = last_cpu_ns_.try_emplace(t.native_id, *cpu);
      const uint64_t previous = it->second;
      it->second = *cpu;
      if (first || *cpu <= previous) continue;
      weight = static_cast<int64_t>(*cpu - previous);
    } else if (options_.blocking) {
      // A stopped thread reads as 't'; whether it ran since the last tick
      // is what its CPU time says.
      absl::StatusOr<uint64_t> cpu = t.native_id != 0
                                         ? monitor_.ReadCpu(t.native_id)
                                         : absl::StatusOr<uint64_t>();
      if (cpu.ok()) {
        auto [it, first] = last_cpu_ns_.try_emplace(t.native_id, *cpu);
        idle = !first && *cpu == it->second;
        it->second = *cpu;
      }
    } else if (t.native_id != 0) {
      absl::StatusOr<char> state = monitor_.ReadState(t.native_id);
      idle = state.ok() && *state != 'R';
    }
    if (options_.mode == WeightMode::kWall && idle && !options_.include_idle) {
      continue;
    }
    if (!t.status.ok()) {
      ++stats_.errors;
      continue;
    }
    if (t.frames.empty()) continue;
    uint32_t thread = table_.InternThread(t.native_id, t.thread_id,
                                          monitor_.Name(t.native_id));
    uint32_t stack = table_.InternThreadStack(thread, t.frames, options_.lines);
    uint8_t flags = (t.holds_gil ? kFlagGil : 0) | (idle ? kFlagIdle : 0);
    table_.Add(StackKey{stack, thread, batch, flags}, 1, weight);
    ++stats_.samples;
  }
  if (stats_.ticks % 64 == 0) monitor_.ForgetUnused();
  return absl::OkStatus();
}

absl::Status Sampler::Run(
    const std::atomic<bool>& stop,
    const std::function<void(const SamplerStats&)>& progress) {
  const int64_t period = static_cast<int64_t>(1e9 / options_.rate_hz);
  const int64_t end = options_.duration_s > 0
                          ? static_cast<int64_t>(options_.duration_s * 1e9)
                          : INT64_MAX;
  std::mt19937_64 rng(std::random_device{}());
  const int64_t jitter_span = static_cast<int64_t>(period * options_.jitter);
  std::uniform_int_distribution<int64_t> jitter(-jitter_span, jitter_span);

  // The kernel may fire a sleeping thread's timer up to its timer slack
  // late (50 us by default, so that wakeups coalesce): at 10 kHz that is
  // half a period. Ask for at most 1/50 of a period; it only affects this
  // thread.
  prctl(PR_SET_TIMERSLACK,
        static_cast<unsigned long>(std::clamp<int64_t>(period / 50, 1, 50'000)),
        0, 0, 0);
  start_unix_ns_ = Now(CLOCK_REALTIME);
  const int64_t start = Now(CLOCK_MONOTONIC);
  const int64_t cpu_start = Now(CLOCK_THREAD_CPUTIME_ID);
  int64_t last_tick = start - period;  // the first tick weighs one period
  int64_t next_progress = start;
  int64_t k = 0;  // index of the next deadline
  while (!stop.load(std::memory_order_relaxed)) {
    const int64_t now = Now(CLOCK_MONOTONIC);
    stats_.elapsed_ns = now - start;
    if (stats_.elapsed_ns >= end) break;
    absl::Status status = TakeSample(stats_.elapsed_ns, now - last_tick);
    last_tick = now;
    if (!status.ok()) {
      if (IsProcessGone(status)) {
        stats_.target_exited = true;
        break;
      }
      if (IsMemoryGone(status) || IsInconsistent(status)) {
        ++stats_.errors;
      } else {
        return status;
      }
    }
    if (progress && now >= next_progress) {
      // Read at the progress rate, not per tick: a syscall per tick shows
      // in the cost per sample.
      stats_.sampling_cpu_ns = Now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
      progress(stats_);
      next_progress = now + 250'000'000;
    }
    // The next deadline after now: absolute, so time spent sampling does
    // not accumulate as drift.
    ++k;
    int64_t deadline = start + k * period;
    const int64_t after = Now(CLOCK_MONOTONIC);
    if (after > deadline + period) {
      const int64_t skip = (after - deadline) / period;
      stats_.missed += static_cast<uint64_t>(skip);
      k += skip;
      deadline = start + k * period;
    }
    if (after > deadline + period / 2) ++stats_.late;
    int64_t wake = deadline + jitter(rng);
    if (end != INT64_MAX) wake = std::min(wake, start + end);
    SleepUntil(wake);
  }
  stats_.elapsed_ns = Now(CLOCK_MONOTONIC) - start;
  stats_.sampling_cpu_ns = Now(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  if (progress) progress(stats_);
  return absl::OkStatus();
}

Profile Sampler::BuildProfile(std::vector<std::string> comments) const {
  ProfileMetadata m;
  m.weight_type = options_.mode == WeightMode::kCpu ? "cpu" : "wall";
  m.period_ns = static_cast<int64_t>(1e9 / options_.rate_hz);
  m.start_unix_ns = start_unix_ns_;
  m.duration_ns = stats_.elapsed_ns;
  m.pid = python_->pid();
  m.comments = std::move(comments);
  m.comments.push_back(
      absl::StrCat("python_version=", python_->version().ToString()));
  m.comments.push_back(absl::StrCat("pystrobe.mode=", m.weight_type));
  m.comments.push_back(absl::StrCat("pystrobe.rate_hz=", options_.rate_hz));
  return table_.ToProfile(m);
}

}  // namespace pystrobe
