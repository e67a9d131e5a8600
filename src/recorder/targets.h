// The processes of one recording and their samplers: one process, several
// (`--pid A --pid B`), or a process tree (`--subprocesses`): the roots and
// every Python descendant, present and future, found by Discover() as they
// appear and retired as they exit. Non-Python processes of the tree (a
// shell in a launcher chain, a uwsgi master) are followed through, never
// sampled. All samplers tick on the caller's one schedule.
//
//   TargetSet targets(sampler_options, /*follow_children=*/true);
//   RETURN_IF_ERROR(targets.AddRoot(master_pid));
//   targets.Begin(start_unix_ns);
//   ... per tick:            RETURN_IF_ERROR(targets.Tick(elapsed, weight));
//   ... a few times a second: targets.Discover(elapsed);
//   targets.Finish(elapsed);
//   Profile merged = targets.BuildProfile(comments);
#ifndef PYSTROBE_SRC_RECORDER_TARGETS_H_
#define PYSTROBE_SRC_RECORDER_TARGETS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/recorder/recording.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

class TargetSet {
 public:
  TargetSet(SamplerOptions options, bool follow_children);
  ~TargetSet();
  TargetSet(const TargetSet&) = delete;
  TargetSet& operator=(const TargetSet&) = delete;

  // A process named by the user. It must be Python (the error of Attach
  // otherwise), unless children are followed: then a root that is not
  // Python (a launcher, a shell) is only followed through. A pid given
  // twice is one target.
  absl::Status AddRoot(pid_t pid);
  // A root to follow (children followed only), found by Discover when it
  // is Python itself: a launched command, right after fork.
  void FollowRoot(pid_t pid) { roots_.push_back(pid); }
  // A Python process found by the caller (a launched command's).
  void Add(std::unique_ptr<PythonProcess> python);

  // Every sampler's wall-clock start (the schedule's); later ones get it
  // when they join.
  void Begin(int64_t start_unix_ns);
  // Ticks every live sampler; one whose process exited is retired (its
  // profile kept, its process released). Errors: what Sampler::Tick returns.
  absl::Status Tick(int64_t elapsed_ns, int64_t wall_weight_ns);
  // Looks for Python descendants of the roots not sampled yet, and retires
  // samplers whose process exec'd another program. Costs a few reads per
  // process of the tree: call it a few times a second, not per tick.
  void Discover(int64_t elapsed_ns);
  void Finish(int64_t elapsed_ns);

  // Nothing left to sample or wait for: every target exited and, when
  // children are followed, every root too.
  bool Done() const;

  // The only sampler, when the recording has exactly one process and can
  // never have more (one root, children not followed): it can be written
  // straight from its aggregation (ProfileSink::WriteFrom).
  const Sampler* single() const;
  // The first live sampler's process (nullptr if none), and the Python
  // version of the first process ever sampled ("" before any).
  const PythonProcess* first_python() const;
  const std::string& python_version() const { return python_version_; }

  // Every process sampled, live and retired, as one profile (samples keep
  // their pid and process labels; time batches rescaled to one length),
  // with `comments` first and the summed figures of `schedule` (of the
  // window since the last NextWindow, if any).
  Profile BuildProfile(const std::vector<std::string>& comments,
                       const ScheduleStats& schedule) const;
  // Samples, errors and causes summed over every process; ticks, late,
  // missed, timing and priority from `schedule`.
  SamplerStats Stats(const ScheduleStats& schedule) const;
  // One entry per process sampled, in the order they were found.
  std::vector<ProcessSummary> Processes() const;
  size_t live() const { return live_.size(); }

  // The sampled processes' threads: time on a CPU and waiting for one
  // (CpuWaitMonitor), summed over every process, live and retired. Update
  // reads the live ones' schedstat: a few times a second, not per tick.
  void UpdateCpuWait();

  // Windows (--every, top): settles every live sampler's window, calls
  // `closed` (which writes BuildProfile's window), then restarts every
  // aggregation and forgets the retired processes' samples (they were in
  // the window). From then on BuildProfile is of the new window: its start
  // and duration, its ticks and samples (`schedule` is the closing time's).
  absl::Status NextWindow(const ScheduleStats& schedule,
                          const std::function<absl::Status()>& closed);
  struct CpuWaitSums {
    uint64_t cpu_ns = 0, wait_ns = 0, waits = 0;
  };
  CpuWaitSums CpuWait() const;

  // Python descendants of `pid` (at most `limit`), for the hint that a
  // process with no Python work has Python children.
  static std::vector<pid_t> PythonDescendants(pid_t pid, size_t limit);

 private:
  struct Target;
  void Start(std::unique_ptr<PythonProcess> python);
  void Retire(size_t index);

  SamplerOptions options_;
  bool follow_;
  ProcFs proc_;
  int64_t start_unix_ns_ = 0;
  bool begun_ = false;
  // The figures at the start of the window in progress (NextWindow), which
  // BuildProfile takes away; none before the first window closes.
  bool windowed_ = false;
  SamplerStats window_base_;
  std::vector<pid_t> roots_;
  std::string python_version_;
  std::vector<std::unique_ptr<Target>> live_;
  // Retired processes, merged: their samples, and the batch length of the
  // `batch` labels in it.
  Profile retired_;
  int64_t retired_batch_ns_ = 0;
  uint64_t retired_cpu_ns_ = 0, retired_wait_ns_ = 0, retired_waits_ = 0;
  std::vector<ProcessSummary> summaries_;  // by order found; live ones stale
  // Attach attempts per process ("pid start exe"): a process found not to
  // be Python is not probed again until it execs something else; one still
  // starting its interpreter is tried a few times.
  struct Probe {
    int attempts = 0;
    int64_t first_ns = 0;  // elapsed time of the first attempt
  };
  absl::flat_hash_map<std::string, Probe> probed_;
  std::string self_exe_;  // pystrobe's own: a fork not exec'd yet
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_RECORDER_TARGETS_H_
