// CPU-mode attribution: which stacks the CPU time of a thread is charged to.
//
// The kernel counts each thread's CPU time exactly, but only as a total:
// what ran during an interval between two samples is not known. Charging an
// interval's CPU to the stack seen at its end (the obvious rule) charges a
// thread that burns 5 ms and sleeps 5 ms half of its CPU to the sleep,
// because every sample taken while it sleeps carries the CPU of the burn
// before it.
//
// The estimator here is a ratio estimator per thread and time window
// (docs/sampling.md): within a window (about a second), the samples at
// which the thread was running are a uniform random sample of its running
// time (the sampler places its ticks at random inside each period), so each
// of them stands for the same share of the CPU the thread used in the
// window. Samples at which the thread was asleep stand for no CPU and are
// not recorded. A window in which the thread used CPU but was never seen
// running carries its CPU to the next window; at the end, what is still
// carried goes to the thread's last running stack.
//
// "Running" is the kernel's state R (read right before the stacks, so that
// a thread that falls asleep or wakes during the read is judged by what it
// did where its stack was read: docs/sampling.md), except for a thread that
// does not hold the GIL at a stack where it was seen asleep in this window
// or the one before, unless its previous look, just before (kJustAfterNs),
// found it running. It has been woken (from a sleep, I/O, or a wait for
// the GIL) and waits for a CPU or the GIL, and its stack is still the one
// it slept in. On a loaded machine such waits after each wake-up are long
// (hundreds of microseconds), and counting them would charge a thread that
// burns 3 ms and sleeps 7 ms several percent of its CPU to the sleep. The
// kernel cannot tell a woken thread waiting for a CPU from one on a CPU
// (both are R; procfs CPU counters only move at scheduler ticks and
// switches), hence the GIL: Python code runs only with it. The exception:
// a thread on its way *into* a sleep (GIL dropped, entering the system
// call) is at that stack without the GIL too, and runs: tens of
// microseconds per sleep, which an event loop pays hundreds of times a
// second. Seen running a moment before, it is on its way in, not back out
// (a sleep and a wake-up in between are unlikely that close); at lower
// rates the looks are too far apart to tell, and the rule stands. A thread
// preempted while holding the GIL is told apart afterwards, from its
// run-queue delay (CpuWaitFilter, cpu_wait_filter.h): the sampler then
// hands the sample over with `waiting_for_cpu`, and it is not running
// either.
//
//   CpuAttribution cpu;
//   cpu.Observe(tid, {.state = 'R', .cpu_ns = c, .holds_gil = true}, &key);
//   ...
//   cpu.CloseWindow([&](const StackKey& k, int64_t n, int64_t w) {
//     table.Add(k, n, w);
//   });
#ifndef PYSTROBE_SAMPLER_CPU_ATTRIBUTION_H_
#define PYSTROBE_SAMPLER_CPU_ATTRIBUTION_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "pystrobe/sampler/stack_table.h"

namespace pystrobe {

// What the kernel says about one thread at one tick.
struct ThreadClock {
  char state = '?';        // R, S, D, ...
  uint64_t cpu_ns = 0;     // CPU time since the thread started
  bool holds_gil = false;  // the thread held the GIL when its stack was read
  // State R, but schedstat revealed afterwards that the thread was waiting
  // for a CPU then (CpuWaitFilter): not a running sample.
  bool waiting_for_cpu = false;
  int64_t at_ns = 0;  // when the look was taken (the sampler's clock)
};

class CpuAttribution {
 public:
  // A look this soon after a running look of the same thread is trusted to
  // follow it without a sleep and a wake-up in between.
  static constexpr int64_t kJustAfterNs = 2'000'000;

  using Sink =
      absl::FunctionRef<void(const StackKey& key, int64_t count, int64_t cpu)>;

  // One tick's observation of thread `tid`; `key` is where its stack would
  // be recorded, or null when it could not be read (its CPU still counts:
  // it goes to the running samples that were read). Returns whether the
  // sample counts as running (and so is recorded).
  bool Observe(pid_t tid, const ThreadClock& clock, const StackKey* key);

  // Ends the window: each thread's CPU since its previous window is shared
  // among the keys of its running samples of this window in proportion to
  // how often each was seen; the shares add up exactly. Threads with CPU
  // but no running sample carry it on; threads not observed in the window
  // (they exited) are settled as by Finish and forgotten.
  void CloseWindow(Sink add);

  // Ends the recording: CloseWindow, then any CPU still carried goes to the
  // thread's last running key (else its last key seen at all, else it is
  // dropped: no stack of that thread was ever read).
  void Finish(Sink add);

  // CPU time observed so far that no key has received yet.
  uint64_t pending_ns() const;

 private:
  struct Thread {
    uint64_t window_start_cpu = 0;  // stays put while CPU is carried
    uint64_t last_cpu = 0;
    // Stacks (StackKey::stack) it was seen asleep at, in this window and
    // the one before.
    absl::flat_hash_set<uint32_t> asleep_at;
    absl::flat_hash_set<uint32_t> asleep_before;
    // Its last look counted as running, and when it was taken.
    bool ran_at_last_look = false;
    int64_t last_look_ns = 0;
    bool observed = false;  // in the current window
    int64_t running_samples = 0;
    absl::flat_hash_map<StackKey, int64_t> running;  // this window
    std::optional<StackKey> last_running;
    std::optional<StackKey> last_key;
  };
  // Shares `cpu` among `t.running`; returns false when there is no key.
  static bool Distribute(Thread& t, uint64_t cpu, Sink add);
  static void Settle(Thread& t, Sink add);

  absl::flat_hash_map<pid_t, Thread> threads_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_CPU_ATTRIBUTION_H_
