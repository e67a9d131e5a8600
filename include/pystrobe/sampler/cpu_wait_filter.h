// Wait-aware samples: which samples of a thread in state R were taken while
// it waited for a CPU, told after the fact by the kernel.
//
// At sample time a thread on a CPU and one waiting in a run queue look the
// same (state R, and procfs's counters move only at scheduler ticks and
// switches). But when a waiting thread is scheduled in, the kernel adds
// the wait to its run-queue delay, exactly: schedstat's second field
// (run_delay) grows by the wait and its third (pcount) by one. So the
// samples of a thread in state R are held in a short delay line, and each
// later schedstat reading (at the thread's next running sample) settles
// them. Between readings at t_prev and t (L = t - t_prev apart):
//
//   - pcount grew: waits of D ns in all ended in (t_prev, t]. Only the
//     first can have begun before t_prev; the part of it that did is at
//     least D + E - L (E: the thread's CPU time in the interval; the rest
//     of the interval is waits that ended in it, sleep, or a wait still
//     going on), and at least D - L, and at most D, and it began after the
//     thread was last known on a CPU. Held samples taken within that lower
//     bound before t_prev are waiting; the others were running. The lower
//     bound, not a guess inside the range: nothing running is flagged. A
//     bound under `margin_ns` counts as none (the kernel's E of a thread on
//     a CPU lags by up to a scheduler tick, which at t_prev can make a
//     running thread look as if it waited a little).
//   - pcount did not grow, but the thread's CPU time did, or it is now
//     seen not runnable (asleep, stopped: only a thread on a CPU gets
//     there): it was on a CPU at every held sample. Settled as running.
//   - neither: it may still be waiting (or ran without a scheduler tick):
//     the samples stay held, at most `horizon_ns` (then they are released
//     as running: a longer wait is not corrected) and at most `max_held`
//     per thread.
// Several schedule-ins in one interval need no split: the bound is the
// same sum. Samples are released in the order they were taken, per
// thread; a thread not seen at a tick (it exited) has its samples
// released at once, as running.
//
//   CpuWaitFilter filter;
//   filter.Add(tid, 'R', &reading, sample, release);  // at each tick
//   filter.EndTick(elapsed_ns, release);
//   ...
//   filter.Flush(release);
#ifndef PYSTROBE_SAMPLER_CPU_WAIT_FILTER_H_
#define PYSTROBE_SAMPLER_CPU_WAIT_FILTER_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "pystrobe/sampler/cpu_attribution.h"
#include "pystrobe/sampler/stack_table.h"

namespace pystrobe {

// schedstat of one thread (/proc/PID/task/TID/schedstat).
struct SchedReading {
  uint64_t cpu_ns = 0;     // time on a CPU
  uint64_t wait_ns = 0;    // time runnable, waiting for a CPU (run_delay)
  uint64_t run_count = 0;  // times scheduled in (pcount)
};

// A sample held until it is known whether its thread was waiting for a
// CPU. What the caller records when it is released.
struct HeldSample {
  int64_t elapsed_ns = 0;  // when it was taken
  StackKey key;
  bool has_key = false;   // cpu mode: false for a stack that was not read
  int64_t weight_ns = 0;  // wall mode's weight
  ThreadClock clock;      // cpu mode's observation
  bool unmerged = false;  // --native: Python frames only
};

struct CpuWaitFilterOptions {
  // The longest wait worth correcting: samples held longer are released
  // as running.
  int64_t horizon_ns = 50'000'000;
  // Per thread; the oldest is released as running when a new one would
  // not fit.
  size_t max_held = 256;
  // A wait found to reach less than this before the previous reading is
  // taken as none (the kernel's CPU time of a running thread lags).
  int64_t margin_ns = 100'000;
};

class CpuWaitFilter {
 public:
  // Receives each sample once, with whether it was taken during a wait for
  // a CPU.
  using Release = absl::FunctionRef<void(pid_t tid, const HeldSample& sample,
                                         bool waiting)>;

  explicit CpuWaitFilter(CpuWaitFilterOptions options = {});

  // Whether Add/Observe for `tid` in `state` at this tick would use a
  // schedstat reading: a running thread's, or one that holds samples and
  // whose state is not known. (A thread seen asleep settles its samples
  // without one.)
  bool WantsReading(pid_t tid, char state) const;

  // One sample of thread `tid`, seen in `state` ('R' runnable, '?' not
  // known, else not runnable); `reading` is its schedstat read after its
  // stack (null: not read). Settles what the reading tells, then holds the
  // sample when it was runnable and a reading can settle it, else queues it
  // as not waiting (behind the thread's held samples). Releases every
  // settled sample at the head of the thread's line.
  void Add(pid_t tid, char state, const SchedReading* reading,
           const HeldSample& sample, Release release);
  // A look at thread `tid` that records no sample (wall mode: asleep, or
  // not wanted): settles its samples as Add does.
  void Observe(pid_t tid, char state, int64_t elapsed_ns,
               const SchedReading* reading, Release release);

  // End of the tick at `elapsed_ns`: releases samples older than the
  // horizon as running, and every sample of threads neither added nor
  // observed at this tick (they exited), and forgets those threads.
  void EndTick(int64_t elapsed_ns, Release release);

  // Releases every held sample, as running, and forgets every thread.
  void Flush(Release release);

  // Threads with held samples (to read them once more at the end).
  std::vector<pid_t> ThreadsHolding() const;

  size_t held() const;     // samples held now, over all threads
  uint64_t waits() const { return waits_; }  // schedule-ins seen (pcount)
  uint64_t flagged() const { return flagged_; }  // released as waiting
  uint64_t expired() const { return expired_; }  // released by the horizon

 private:
  enum class Fate : uint8_t { kHeld, kRunning, kWaiting };
  struct Entry {
    HeldSample sample;
    Fate fate = Fate::kHeld;
  };
  struct Line {
    // A ring of held samples: entries_[(head + i) % capacity], i < size.
    std::vector<Entry> entries;
    size_t head = 0;
    size_t size = 0;
    size_t held = 0;  // entries still kHeld
    SchedReading last;
    int64_t last_ns = 0;  // when `last` was read
    bool has_last = false;
    // The thread was on a CPU (or asleep) after this time: a wait that
    // ends later began after it.
    int64_t ran_after_ns = 0;
    bool has_ran_after = false;
    uint64_t seen_tick = 0;
    Entry& at(size_t i) { return entries[(head + i) % entries.size()]; }
  };

  Line* Find(pid_t tid);
  Line& Touch(pid_t tid);
  // Settles the held samples of `line` from `reading` at `now_ns`.
  void Settle(Line& line, char state, int64_t now_ns,
              const SchedReading* reading);
  // Settles the held samples when schedule-ins were seen at `now_ns`.
  void SettleWait(Line& line, int64_t now_ns, const SchedReading& reading);
  static void SettleAll(Line& line, Fate fate);
  void Push(pid_t tid, Line& line, Entry entry, Release release);
  void ReleaseSettled(pid_t tid, Line& line, Release release);
  void ReleaseAll(pid_t tid, Line& line, Release release);

  CpuWaitFilterOptions options_;
  absl::flat_hash_map<pid_t, Line> lines_;
  uint64_t tick_ = 1;
  uint64_t waits_ = 0;
  uint64_t flagged_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_CPU_WAIT_FILTER_H_
