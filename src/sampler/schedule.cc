#include "pystrobe/sampler/schedule.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <random>

#include "pystrobe/base/clock.h"

namespace pystrobe {
namespace {

// The sampling thread's scheduling class while it samples. On a machine
// with more runnable threads than CPUs a normal thread wakes late, and later
// when the target itself holds a CPU: its ticks then fall less often in the
// target's busy phases (measured: a function with 17% of the wall time got
// 11% of the samples at 1 kHz on 2 loaded cores). SCHED_FIFO (or else nice
// -20) wakes it on time. Put back when destroyed, or by Drop() when the
// sampler turns out to be busy most of the time (a rate the machine cannot
// reach), so that it never hogs a CPU at a high priority.
class ScopedTickPriority {
 public:
  explicit ScopedTickPriority(bool raise) {
    if (!raise) return;
    tid_ = static_cast<id_t>(syscall(SYS_gettid));
    policy_ = sched_getscheduler(0);
    if (policy_ < 0 || sched_getparam(0, &param_) != 0) return;
    errno = 0;
    nice_ = getpriority(PRIO_PROCESS, tid_);
    if (errno != 0) return;
    if (policy_ == SCHED_OTHER || policy_ == SCHED_BATCH) {
      sched_param fifo{};
      fifo.sched_priority = 1;
      if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &fifo) == 0) {
        raised_ = TickPriority::kRealtime;
        return;
      }
    }
    if (nice_ > -20 && setpriority(PRIO_PROCESS, tid_, -20) == 0) {
      raised_ = TickPriority::kNice;
    }
  }
  ~ScopedTickPriority() { Drop(); }
  ScopedTickPriority(const ScopedTickPriority&) = delete;
  ScopedTickPriority& operator=(const ScopedTickPriority&) = delete;

  void Drop() {
    if (raised_ == TickPriority::kRealtime) {
      sched_setscheduler(0, policy_, &param_);
    } else if (raised_ == TickPriority::kNice) {
      setpriority(PRIO_PROCESS, tid_, nice_);
    }
    raised_ = TickPriority::kNormal;
  }
  TickPriority raised() const { return raised_; }

 private:
  TickPriority raised_ = TickPriority::kNormal;
  id_t tid_ = 0;
  int policy_ = -1;
  sched_param param_{};
  int nice_ = 0;
};

void SleepUntil(int64_t deadline_ns) {
  timespec ts{static_cast<time_t>(deadline_ns / 1'000'000'000),
              static_cast<long>(deadline_ns % 1'000'000'000)};
  // EINTR (SIGINT to stop) just ends the sleep early: the caller checks its
  // stop flag before the next tick.
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

}  // namespace

TickSchedule::TickSchedule(ScheduleOptions options)
    : options_(options),
      period_ns_(std::max<int64_t>(
          1, static_cast<int64_t>(1e9 / std::max(options.rate_hz, 1e-9)))) {}

absl::Status TickSchedule::Run(const std::atomic<bool>& stop,
                               const TickFn& tick, const ProgressFn& progress) {
  const int64_t period = period_ns_;
  const int64_t end = options_.duration_s > 0
                          ? static_cast<int64_t>(options_.duration_s * 1e9)
                          : INT64_MAX;
  stats_.requested_rate_hz = options_.rate_hz;
  std::mt19937_64 rng(std::random_device{}());
  // Where inside its period a tick falls: uniform, drawn afresh each time.
  std::uniform_int_distribution<int64_t> phase(0, period - 1);

  // The kernel may fire a sleeping thread's timer up to its timer slack
  // late (50 us by default, so that wakeups coalesce): at 10 kHz that is
  // half a period. Ask for at most 1/50 of a period; it only affects this
  // thread.
  prctl(PR_SET_TIMERSLACK,
        static_cast<unsigned long>(std::clamp<int64_t>(period / 50, 1, 50'000)),
        0, 0, 0);
  ScopedTickPriority priority(options_.raise_priority);
  stats_.tick_priority = priority.raised();
  start_unix_ns_ = ClockNs(CLOCK_REALTIME);
  const int64_t start = ClockNs(CLOCK_MONOTONIC);
  int64_t next_duty_check = start + 250'000'000;
  int64_t busy_at_check = 0;
  const int64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  int64_t next_progress = start;
  int64_t k = 0;  // the period of the next tick
  int64_t planned = start + phase(rng);
  int64_t periods_covered = 1;  // by the next tick: 1 + periods skipped
  absl::Status result;
  while (!stop.load(std::memory_order_relaxed)) {
    if (end != INT64_MAX && planned - start >= end) {
      SleepUntil(start + end);
      break;
    }
    SleepUntil(planned);
    if (stop.load(std::memory_order_relaxed)) break;
    const int64_t now = ClockNs(CLOCK_MONOTONIC);
    stats_.elapsed_ns = now - start;
    if (stats_.elapsed_ns >= end) break;
    if (now - planned > period / 2) ++stats_.late;
    ++stats_.ticks;
    // In wall mode each sample stands for the periods since the previous
    // tick: the period it was drawn in, plus any skipped before it. (The
    // time since the previous tick would favour whatever the target does
    // late in each period when its work is periodic.)
    absl::StatusOr<bool> more =
        tick(stats_.elapsed_ns, periods_covered * period);
    if (!more.ok()) {
      result = more.status();
      break;
    }
    if (!*more) break;
    const int64_t after = ClockNs(CLOCK_MONOTONIC);
    stats_.busy_ns += after - now;
    if (after >= next_duty_check) {
      // Busy more than half of the last quarter second: give the priority
      // back for the rest of the recording.
      if (priority.raised() != TickPriority::kNormal &&
          2 * (stats_.busy_ns - busy_at_check) > 250'000'000) {
        priority.Drop();
        stats_.tick_priority = TickPriority::kNormal;
      }
      busy_at_check = stats_.busy_ns;
      next_duty_check = after + 250'000'000;
    }
    int64_t resume = after;
    if (progress && now >= next_progress) {
      // Read at the progress rate, not per tick: a syscall per tick shows
      // in the cost per sample.
      stats_.sampling_cpu_ns = ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
      progress(stats_);
      next_progress = now + 250'000'000;
      resume = ClockNs(CLOCK_MONOTONIC);
    }
    // The next tick: at a random point of the next period. Periods whose
    // point has already passed are skipped (and counted), never bunched up.
    ++k;
    const int64_t behind = (resume - start) / period;
    periods_covered = 1;
    if (behind > k) {
      stats_.missed += static_cast<uint64_t>(behind - k);
      periods_covered += behind - k;
      k = behind;
    }
    planned = start + k * period + phase(rng);
    if (planned < resume) {
      ++stats_.missed;
      ++periods_covered;
      ++k;
      planned = start + k * period + phase(rng);
    }
  }
  stats_.elapsed_ns = ClockNs(CLOCK_MONOTONIC) - start;
  stats_.sampling_cpu_ns = ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  return result;
}

}  // namespace pystrobe
