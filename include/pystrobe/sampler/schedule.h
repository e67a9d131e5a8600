// The tick schedule of a recording: one wake-up per tick serves every
// target, so 8 workers at 100 Hz cost one timer, not 8 (design.md).
//
// Ticks are stratified: one at a uniformly random point inside each period
// [start + k * period, start + (k + 1) * period), so the mean rate is exact,
// nothing drifts, and the phase of the ticks against any periodic work in
// the target is uniform (no aliasing; docs/sampling.md). A tick taken more
// than half a period after its planned time counts as late; periods missed
// entirely are skipped (never bunched up) and counted too.
//
//   TickSchedule schedule({.rate_hz = 100, .duration_s = 10});
//   RETURN_IF_ERROR(schedule.Run(
//       stop,
//       [&](int64_t elapsed_ns, int64_t weight_ns) -> absl::StatusOr<bool> {
//         for (Sampler* s : samplers) RETURN_IF_ERROR(s->Tick(...));
//         return true;  // false: nothing left to sample
//       },
//       [&](const ScheduleStats& s) { /* ~4 times a second */ }));
#ifndef PYSTROBE_SAMPLER_SCHEDULE_H_
#define PYSTROBE_SAMPLER_SCHEDULE_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pystrobe {

// The scheduling class the sampling thread got (ScheduleOptions::
// raise_priority).
enum class TickPriority { kNormal, kNice, kRealtime };

struct ScheduleOptions {
  double rate_hz = 100;
  double duration_s = 0;  // 0: until stopped or the tick function says so
  // Run the sampling thread at a real-time priority (SCHED_FIFO, else nice
  // -20) where permitted, so that ticks are on time on a loaded machine
  // (docs/sampling.md); dropped if sampling keeps it busy.
  bool raise_priority = true;
};

struct ScheduleStats {
  uint64_t ticks = 0;   // wake-ups that called the tick function
  uint64_t late = 0;    // ticks taken > period/2 after the planned time
  uint64_t missed = 0;  // periods skipped because we fell behind
  int64_t elapsed_ns = 0;
  int64_t sampling_cpu_ns = 0;  // the sampling thread's CPU time in the loop
  int64_t busy_ns = 0;          // wall time spent inside ticks
  double requested_rate_hz = 0;
  TickPriority tick_priority = TickPriority::kNormal;
};

class TickSchedule {
 public:
  // One tick: `elapsed_ns` since the start of the schedule, and the wall
  // time each sample of it stands for (its period plus any skipped before
  // it). Returns false to end the schedule (nothing left to sample), an
  // error to end it with that error.
  using TickFn =
      std::function<absl::StatusOr<bool>(int64_t elapsed_ns, int64_t weight)>;
  using ProgressFn = std::function<void(const ScheduleStats&)>;

  explicit TickSchedule(ScheduleOptions options);

  // Ticks until `stop` becomes true, the duration ends or `tick` returns
  // false or an error. `progress` (optional) is called after the first tick
  // and then about 4 times a second, between ticks, on this thread: the
  // place for work that must not run per tick (finding new processes).
  absl::Status Run(const std::atomic<bool>& stop, const TickFn& tick,
                   const ProgressFn& progress);

  const ScheduleStats& stats() const { return stats_; }
  // Wall-clock time of the start (Unix epoch ns); 0 before Run.
  int64_t start_unix_ns() const { return start_unix_ns_; }
  int64_t period_ns() const { return period_ns_; }

 private:
  ScheduleOptions options_;
  int64_t period_ns_;
  ScheduleStats stats_;
  int64_t start_unix_ns_ = 0;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_SCHEDULE_H_
