// The time of one of the kernel's clocks in nanoseconds, for timestamps
// (CLOCK_REALTIME), intervals (CLOCK_MONOTONIC) and CPU accounting
// (CLOCK_THREAD_CPUTIME_ID).
//
//   const int64_t start = ClockNs(CLOCK_MONOTONIC);
#ifndef PYSTROBE_BASE_CLOCK_H_
#define PYSTROBE_BASE_CLOCK_H_

#include <cstdint>
#include <ctime>

namespace pystrobe {

inline int64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace pystrobe

#endif  // PYSTROBE_BASE_CLOCK_H_
