// The sampler of one process: reads every thread's stack at each tick and
// aggregates them into a StackTable. Run() drives it on its own
// TickSchedule (schedule.h: stratified ticks, late and missed ones
// counted); a recording of several processes drives several samplers on one
// schedule through Begin/Tick/Finish.
//
// In cpu mode a thread's CPU time is shared among the samples at which it
// was running (CpuAttribution, docs/sampling.md), so CPU is charged to the
// code that used it, not to the sleep that followed. A stack torn by a
// running thread is re-read within the same tick (at most kMaxRereads
// times); what still fails is counted by cause (SampleErrors).
//
//   Sampler sampler(python.get(), options);
//   std::atomic<bool> stop{false};
//   RETURN_IF_ERROR(sampler.Run(stop, [](const SamplerStats& s) {...}));
//   Profile profile = sampler.BuildProfile(comments);
//
// Several processes, one wake-up per tick:
//   for (Sampler& s : samplers) s.Begin(schedule.start_unix_ns());
//   schedule.Run(stop, [&](int64_t e, int64_t w) -> absl::StatusOr<bool> {
//     for (Sampler& s : samplers) RETURN_IF_ERROR(s.Tick(e, w));
//     return true;
//   }, nullptr);
//   for (Sampler& s : samplers) s.Finish(schedule.stats().elapsed_ns);
#ifndef PYSTROBE_SAMPLER_SAMPLER_H_
#define PYSTROBE_SAMPLER_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/native/native_stacks.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/process/thread_monitor.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/python/async_tasks.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/sampler/async_note.h"
#include "pystrobe/sampler/cpu_attribution.h"
#include "pystrobe/sampler/cpu_wait_filter.h"
#include "pystrobe/sampler/schedule.h"
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
  // Unwind the native stack of every stopped thread and merge it with its
  // Python frames (docs/native.md). Implies blocking; threads asleep in the
  // kernel are left running and, in wall mode, unwound from where their
  // system call blocked them.
  bool native = false;
  bool native_all = false;  // do not fold the interpreter's call machinery
  // Run the sampling thread at a real-time priority (SCHED_FIFO, else nice
  // -20) where permitted, so that ticks are on time on a loaded machine
  // (docs/sampling.md); dropped if sampling keeps it busy.
  bool raise_priority = true;
  // Tell samples of a thread waiting for a CPU (state R, in a run queue)
  // from running ones, after the fact, from the kernel's run-queue delay
  // (CpuWaitFilter, docs/sampling.md): in cpu mode they are not running
  // samples, in wall mode they carry the label cpu_wait=true. Samples are
  // held up to 50 ms before they are recorded; costs a pread of schedstat
  // per running thread and tick in wall mode. Not with --blocking, nor in
  // wall mode under --gil (which reads no procfs file per tick).
  bool cpu_wait = true;
  // Attribute a sample of a thread running an asyncio task to the task's
  // logical stack (its coroutines, its awaiters' up to the root task, then
  // the event loop) and label it task=NAME (PythonProcess::ApplyTaskStacks;
  // CPython 3.14+, see async_status()).
  bool async_tasks = false;
  // --async all (wall mode, with async_tasks): also one sample per waiting
  // (pending) task per tick, weighted like a thread sample, at the task's
  // logical stack (its coroutine chain, then its awaiters' up to the root
  // task), labelled task=NAME and idle=true: where requests wait shows as
  // their share of wall time. Reads every task at every tick.
  bool async_waiting = false;
  // Unused: ticks are stratified (see above). Kept for source compatibility.
  double jitter = 0.1;
};

// Why stacks could not be recorded. Each failed stack counts once, under
// the cause of its last attempt.
struct SampleErrors {
  uint64_t torn = 0;           // it changed while read (failed validation)
  uint64_t page_gone = 0;      // memory it pointed to was unmapped meanwhile
  uint64_t thread_exited = 0;  // the thread exited while it was read
  uint64_t woke = 0;  // --blocking: a thread left asleep ran while read
  // --async: a stack read whole whose asyncio task (or its awaiters, or, in
  // --async all, a waiting task's chain) was not: never written without
  // its task or with part of its logical stack.
  uint64_t task = 0;
  uint64_t other = 0;
  // --native: stacks recorded with their Python frames only, because the
  // native stack could not be unwound or did not pair up with them. Not in
  // total(): these stacks are recorded.
  uint64_t native = 0;
  uint64_t total() const {
    return torn + page_gone + thread_exited + woke + task + other;
  }
  // Adds (sign +1) or takes away (-1) every cause of `o`.
  void Add(const SampleErrors& o, int sign = 1) {
    for (auto [mine, theirs] :
         {std::pair{&torn, o.torn}, std::pair{&page_gone, o.page_gone},
          std::pair{&thread_exited, o.thread_exited}, std::pair{&woke, o.woke},
          std::pair{&task, o.task}, std::pair{&other, o.other},
          std::pair{&native, o.native}}) {
      *mine += sign > 0 ? theirs : -theirs;
    }
  }
};

struct SamplerStats {
  uint64_t ticks = 0;    // sampling rounds taken
  uint64_t samples = 0;  // thread stacks recorded
  uint64_t late = 0;     // ticks taken > period/2 after the planned time
  uint64_t missed = 0;   // periods skipped because we fell behind
  uint64_t errors = 0;   // stacks not recorded: causes.total()
  SampleErrors causes;
  uint64_t rereads = 0;    // torn stacks read again within their tick
  uint64_t recovered = 0;  // of those, read consistently on a retry
  // Samples of a runnable thread that was waiting for a CPU (cpu_wait):
  // in wall mode recorded with cpu_wait=true, in cpu mode not recorded.
  uint64_t cpu_wait = 0;
  int64_t elapsed_ns = 0;
  int64_t sampling_cpu_ns = 0;  // pystrobe's own CPU time in the loop
  int64_t busy_ns = 0;          // wall time spent inside ticks
  double requested_rate_hz = 0;
  TickPriority tick_priority = TickPriority::kNormal;
  bool target_exited = false;
  // Ticks per second achieved so far (0 before any time passed).
  // Adds (sign +1) or takes away (-1) every count and duration of `o`
  // (ticks ... busy_ns, the error causes); the rate, priority and
  // target_exited are left as they are.
  void AddCounts(const SamplerStats& o, int sign = 1) {
    for (auto [mine, theirs] :
         {std::pair{&ticks, o.ticks}, std::pair{&samples, o.samples},
          std::pair{&late, o.late}, std::pair{&missed, o.missed},
          std::pair{&errors, o.errors}, std::pair{&rereads, o.rereads},
          std::pair{&recovered, o.recovered},
          std::pair{&cpu_wait, o.cpu_wait}}) {
      *mine += sign > 0 ? theirs : -theirs;
    }
    for (auto [mine, theirs] : {std::pair{&elapsed_ns, o.elapsed_ns},
                                std::pair{&sampling_cpu_ns, o.sampling_cpu_ns},
                                std::pair{&busy_ns, o.busy_ns}}) {
      *mine += sign * theirs;
    }
    causes.Add(o.causes, sign);
  }
  double achieved_rate_hz() const {
    return elapsed_ns > 0 ? static_cast<double>(ticks) * 1e9 /
                                static_cast<double>(elapsed_ns)
                          : 0.0;
  }
  // The fastest rate this machine sustained for this target: one tick per
  // the mean wall time a tick took (0 before any tick).
  double reachable_rate_hz() const {
    return busy_ns > 0 && ticks > 0
               ? static_cast<double>(ticks) * 1e9 / static_cast<double>(busy_ns)
               : 0.0;
  }
};

// "" while the achieved rate is at least 90% of the requested one (or too
// little time passed to tell); else one line saying the achieved rate, and
// when the machine cannot reach the requested rate at all, the rate it can.
std::string RateShortfall(const SamplerStats& stats);

class Sampler {
 public:
  // Attempts to re-read a torn stack within its tick (within a quarter of
  // the period). A busy 3.13 thread's stack is whole at about one read in
  // two: 4 attempts lost 4.4-5.4% of its samples, 8 0.1-0.6%, 16 none
  // (record_errors_test's workload, bench/torn_rereads.py).
  static constexpr int kMaxRereads = 16;

  // `python` must outlive the sampler.
  Sampler(PythonProcess* python, SamplerOptions options);

  // Samples until `stop` becomes true, the duration ends or the target
  // exits (stats().target_exited). `progress` is called about 4 times a
  // second. Returns an error only for failures that end a recording other
  // than the target exiting (e.g. ptrace permission in --blocking).
  absl::Status Run(const std::atomic<bool>& stop,
                   const std::function<void(const SamplerStats&)>& progress);

  // One tick of a schedule driven by the caller: Begin once (the wall-clock
  // start the profile reports), Tick at each tick with the time since the
  // schedule's start and the wall time a sample stands for, Finish once.
  // Tick returns an error only for what Run would return; a target that
  // exited sets stats().target_exited and later ticks do nothing. Tick
  // counts samples, errors and ticks whose stacks were read; late and
  // missed ticks are the schedule's (Run copies them into stats()).
  void Begin(int64_t start_unix_ns);
  absl::Status Tick(int64_t elapsed_ns, int64_t wall_weight_ns);
  void Finish(int64_t elapsed_ns);

  pid_t pid() const { return python_->pid(); }
  // --async: OK while tasks are read; else why not (IsUnsupportedAsync:
  // this interpreter's tasks cannot be read, one line to show the user;
  // samples then keep their threads' stacks). This tick's.
  const absl::Status& async_status() const { return async_status_; }
  // --async: what to tell the user about this process's tasks over the
  // whole recording (AsyncReadNote): OK when they were read.
  absl::Status async_note() const { return async_note_.Note(); }
  // The process label of every sample: its command line when the sampler
  // was made ("" if it could not be read).
  const std::string& process() const { return process_; }

  // Since Run started (every window).
  const SamplerStats& stats() const { return stats_; }
  const StackTable& table() const { return table_; }

  // Windows (record --every): the aggregation covers the current window
  // only, and the profiles below are the window's. NextWindow, called
  // between ticks (from `progress`), settles the window (in cpu mode its
  // pending CPU), hands the complete window to `closed` (e.g. a sink), and
  // restarts the aggregation and the window's stats empty: memory is
  // bounded by one window's distinct stacks. Returns `closed`'s status.
  absl::Status NextWindow(
      const std::function<absl::Status(const Sampler&)>& closed);
  // NextWindow in two steps, for a caller that closes several samplers'
  // windows as one: SettleWindow (before the window is written), then
  // StartWindow (after).
  void SettleWindow();
  void StartWindow();
  // The stats of the current window (all of stats() without windows).
  SamplerStats window_stats() const;
  // When the current window started (Unix epoch, ns).
  int64_t window_start_unix_ns() const { return start_unix_ns_; }

  // The profile so far. `comments` are added to pystrobe's own (among
  // them the error breakdown, pystrobe.errors.CAUSE=N). In cpu mode, CPU
  // used in the current attribution window (under a second) reaches the
  // profile when the window closes, or when Run returns.
  Profile BuildProfile(std::vector<std::string> comments) const;
  // The same profile, pprof-encoded (gzip), written straight from the
  // aggregation without building the Profile: at the end of a long
  // recording this needs a fraction of BuildProfile + EncodePprof's memory.
  absl::StatusOr<std::string> EncodeProfile(
      std::vector<std::string> comments) const;
  // The profile reduced to one sample per leaf function, for summaries
  // (FormatSummary needs no more): tiny, unlike BuildProfile's.
  Profile BuildLeafProfile(std::vector<std::string> comments) const;

 private:
  absl::Status TakeSample(int64_t elapsed_ns, int64_t wall_weight_ns);
  // Re-reads the threads whose stacks (or, with --async, tasks) were torn,
  // within this tick.
  void RereadTorn();
  // --async: rewrites threads_' stacks into their running tasks' logical
  // stacks (task_names_), after reading every task into tasks_ when
  // `read_all` (--async all); async_status_ says whether tasks are read.
  void ApplyTasks(bool read_all);
  // --native: merges the native stacks of the threads `stop` stopped, and
  // in wall mode of those it left asleep, into threads_; those that kept
  // their Python frames only go to unmerged_.
  absl::Status MergeNative(const PtraceSuspension& stop);
  void CountError(const absl::Status& status);
  // --async all: a waiting task (or a tick's task lists) not read whole;
  // counted without making a status (no allocation per torn task).
  void CountTaskError();
  void CloseCpuWindow();
  // Records a sample the wait filter let go (or one that bypassed it).
  void Record(pid_t tid, const HeldSample& sample, bool waiting);
  // Settles the held samples with a last schedstat reading, then records
  // every one (end of a recording or of a window).
  void ReleaseHeld(int64_t elapsed_ns);
  ProfileMetadata Metadata(std::vector<std::string> comments) const;

  PythonProcess* python_;
  SamplerOptions options_;
  std::string process_;
  ThreadMonitor monitor_;
  StackTable table_;
  SamplerStats stats_;
  int64_t start_unix_ns_ = 0;  // of the current window
  // The current window: stats_ when it started and its start (elapsed).
  SamplerStats window_base_;
  int64_t window_origin_ns_ = 0;
  // CPU time of each thread at its previous sample (--blocking wall mode).
  absl::flat_hash_map<pid_t, uint64_t> last_cpu_ns_;
  // cpu mode: who gets the CPU; its window started at cpu_window_start_ns_
  // (elapsed) in raw batch cpu_window_batch_.
  CpuAttribution cpu_;
  // Samples held until the kernel says whether their thread was waiting
  // for a CPU (options_.cpu_wait, not --blocking).
  CpuWaitFilter waits_;
  bool filter_waits_ = false;
  int64_t cpu_window_start_ns_ = 0;
  int64_t cpu_window_batch_ = -1;
  // The last snapshot, handed back to ReadThreads so that it reuses its
  // storage; retry_ is the same for re-reads of torn stacks.
  std::vector<PyThread> threads_;
  std::vector<PyThread> retry_;
  // --async: the running task of each of threads_ ("" for none).
  std::vector<std::string> task_names_;
  std::vector<std::string> retry_names_;  // the same for retry_
  absl::Status async_status_;
  AsyncReadNote async_note_;
  AsyncSnapshot tasks_;        // --async all: this tick's tasks
  bool tasks_listed_ = false;  // --async all: tasks_ read at the last tick
  // --async all: scratch kept across ticks (cleared, capacity kept): the
  // waiting stack, tasks by address, kernel TIDs by Python thread id.
  std::vector<Frame> waiting_stack_;
  absl::flat_hash_map<uint64_t, const AsyncTask*> task_by_address_;
  absl::flat_hash_map<uint64_t, pid_t> tid_by_thread_id_;
  // --async all: a sample for each waiting task of tasks_.
  void RecordWaitingTasks(uint32_t batch, int64_t wall_weight_ns);
  inline static const std::string kNoTask;
  // States read before the walk this tick (ReadThreads' skip), in the
  // threads' order.
  std::vector<std::pair<pid_t, char>> early_state_;
  // cpu mode: the states of the last snapshot's threads, read right before
  // this tick's stacks, sorted by TID (ReadStatesBeforeStacks).
  std::vector<std::pair<pid_t, char>> states_before_;
  void ReadStatesBeforeStacks();
  std::optional<char> StateBeforeStack(pid_t tid) const;
  // --blocking: threads left running as sleepers that ran during the read.
  std::vector<pid_t> woke_;
  // --blocking: the threads this tick stopped, sorted.
  std::vector<pid_t> stopped_;
  std::unique_ptr<NativeStacks> native_;  // --native, made at the first tick
  std::vector<pid_t> unmerged_;           // --native, this tick's, sorted
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_SAMPLER_H_
