// The sampling loop: reads every thread's stack at a steady rate and
// aggregates them into a StackTable.
//
// Ticks run on absolute deadlines (start + k * period, plus a small random
// jitter per tick that does not accumulate), so the rate does not drift and
// does not alias with periodic work in the target. A tick taken more than
// half a period after its deadline counts as late; ticks missed entirely are
// skipped (never bunched up) and counted too.
//
//   Sampler sampler(python.get(), options);
//   std::atomic<bool> stop{false};
//   RETURN_IF_ERROR(sampler.Run(stop, [](const SamplerStats& s) {...}));
//   Profile profile = sampler.BuildProfile(comments);
#ifndef PYSTROBE_SAMPLER_SAMPLER_H_
#define PYSTROBE_SAMPLER_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pystrobe/process/thread_monitor.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/sampler/stack_table.h"

namespace pystrobe {

enum class WeightMode {
  kWall,  // every sampled thread weighs the wall time since the last tick
  kCpu,   // each sample weighs the CPU time its thread used since its last
          // sample (from the kernel's per-thread accounting)
};

struct SamplerOptions {
  double rate_hz = 100;
  double duration_s = 0;  // 0: until stopped or the target exits
  WeightMode mode = WeightMode::kWall;
  bool gil_only = false;      // only the thread holding the GIL
  bool include_idle = false;  // wall mode: keep threads not on a CPU
  bool blocking = false;      // stop the target for each sample
  bool lines = true;          // false: aggregate per function
  double jitter = 0.1;        // of a period, each way
};

struct SamplerStats {
  uint64_t ticks = 0;    // sampling rounds taken
  uint64_t samples = 0;  // thread stacks recorded
  uint64_t late = 0;     // ticks taken > period/2 after the deadline
  uint64_t missed = 0;   // deadlines skipped because we fell behind
  uint64_t errors = 0;   // torn or unreadable stacks (not recorded)
  int64_t elapsed_ns = 0;
  int64_t sampling_cpu_ns = 0;  // pystrobe's own CPU time in the loop
  bool target_exited = false;
};

class Sampler {
 public:
  // `python` must outlive the sampler.
  Sampler(PythonProcess* python, SamplerOptions options);

  // Samples until `stop` becomes true, the duration ends or the target
  // exits (stats().target_exited). `progress` is called about 4 times a
  // second. Returns an error only for failures that end a recording other
  // than the target exiting (e.g. ptrace permission in --blocking).
  absl::Status Run(const std::atomic<bool>& stop,
                   const std::function<void(const SamplerStats&)>& progress);

  const SamplerStats& stats() const { return stats_; }
  const StackTable& table() const { return table_; }

  // The profile so far. `comments` are added to pystrobe's own.
  Profile BuildProfile(std::vector<std::string> comments) const;

 private:
  absl::Status TakeSample(int64_t elapsed_ns, int64_t interval_ns);

  PythonProcess* python_;
  SamplerOptions options_;
  ThreadMonitor monitor_;
  StackTable table_;
  SamplerStats stats_;
  int64_t start_unix_ns_ = 0;
  // CPU time of each thread at its previous sample (cpu mode).
  absl::flat_hash_map<pid_t, uint64_t> last_cpu_ns_;
  // The last snapshot, handed back to ReadThreads so that it reuses its
  // storage.
  std::vector<PyThread> threads_;
  // --blocking: threads left running as sleepers that ran during the read.
  std::vector<pid_t> woke_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_SAMPLER_H_
