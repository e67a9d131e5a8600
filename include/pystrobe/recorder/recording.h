// A recording session: what `pystrobe record` (and the front ends to come:
// `top`, `record --compare`) run. It owns the targets — processes attached
// by PID (one or several), or a command launched N times (`--repeat`),
// following launchers to the Python process behind them, and with
// `subprocesses` every Python descendant, present and future — drives one
// Sampler per process on one shared TickSchedule, merges processes (each
// sample labelled `pid` and `process`) and runs (labelled `run`) into one
// profile, and hands profiles to a sink: a checkpoint of the profile so far
// every `checkpoint_s` seconds, and the final one. A recording for the gate
// can choose each run's rate from a sample budget, interleave runs of a
// base version with runs of the new one (two profiles, paired run by run)
// and add runs until the sink has decided (run_plan.h).
//
//   RecordingOptions o;
//   o.command = {"python3", "suite.py"};
//   o.repeat = 5;
//   FileSink sink("suite.pb.gz", OutputFormat::kPprof, {});
//   RETURN_IF_ERROR(sink.Check());
//   ASSIGN_OR_RETURN(RecordingResult r, Recording(o).Run(stop, {}, &sink));
//   return r.exit_code;
#ifndef PYSTROBE_RECORDER_RECORDING_H_
#define PYSTROBE_RECORDER_RECORDING_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/recorder/run_plan.h"
#include "pystrobe/sampler/sampler.h"

namespace pystrobe {

// Receives the profiles of a recording. Write() is called on the sampling
// thread, between ticks.
class ProfileSink {
 public:
  virtual ~ProfileSink() = default;
  // `final` is false for checkpoints (the profile so far), true once at the
  // end.
  virtual absl::Status Write(const Profile& profile, bool final) = 0;
  // The same for an attached recording, straight from its sampler: a sink
  // that can write without a whole Profile (pprof is encoded from the
  // aggregation, Sampler::EncodeProfile) keeps the final write's memory
  // near the recording's. By default, builds the Profile and calls Write.
  virtual absl::Status WriteFrom(const Sampler& sampler,
                                 const std::vector<std::string>& comments,
                                 bool final) {
    return Write(sampler.BuildProfile(comments), final);
  }
  // An interleaved recording's two profiles, the base arm's runs and the
  // new arm's (the same run labels, paired by them). By default only the
  // new one is written.
  virtual absl::Status WritePair(const Profile& /*base*/, const Profile& now,
                                 bool final) {
    return Write(now, final);
  }
  // --every: the next write (Write or WriteFrom, final false) is a
  // window's last, complete; the aggregation restarts after it. A sink
  // that sends windows on (--push) sends that one.
  virtual void WindowClosing() {}
  // `--repeat auto`: after each run (pair) from the third on, whether the
  // runs so far decide the verdict. `base_so_far` is null without
  // interleaving. Called once per run, so it must be cheap next to a run.
  virtual Decision Decided(const Profile* /*base_so_far*/,
                           const Profile& /*now_so_far*/) {
    return Decision::kUndecided;
  }
};

// The other version an interleaved recording runs (`record --base-command
// CMD`, `--base-dir DIR`).
struct BaseArmOptions {
  std::vector<std::string> command;  // empty: the new arm's command
  std::string working_dir;           // empty: the current one
};

struct RecordingOptions {
  pid_t pid = 0;                     // attach to this process (and `pids`),
  std::vector<pid_t> pids;           // more processes to attach to, or
  std::vector<std::string> command;  // launch this command
  // Also sample every Python descendant of the targets (of the launched
  // command), present and future, each until it exits; the recording ends
  // when every target and root has exited.
  bool subprocesses = false;
  int repeat = 1;  // launch mode: run the command N times (pairs with `base`)
  // Launch mode: with a base arm, each of the `repeat` runs is a pair, a run
  // of the base arm and one of the command, in InterleavedOrder; the sink
  // gets both profiles (WritePair).
  std::optional<BaseArmOptions> base;
  // --repeat auto: `repeat` is the most runs; runs are added one at a time
  // until the sink has decided (ProfileSink::Decided) or the next run would
  // end after `budget_s` seconds.
  bool repeat_auto = false;
  double budget_s = 300;
  // Launch mode: each run's rate from this budget (the rate of `sampler`
  // is then unused); unset, every run samples at sampler.rate_hz.
  std::optional<SampleBudgetOptions> sample_budget;
  SamplerOptions sampler;
  // A checkpoint of the profile so far goes to the sink this often (0:
  // never), so that a recording killed with SIGKILL loses at most this much.
  double checkpoint_s = 30;
  // Windows (record --every, recorder/windows.h): every `window_s` seconds
  // (0: never) the window so far goes to the sink and the aggregation
  // restarts empty (Sampler::NextWindow). Attach mode, or one launched run.
  double window_s = 0;
  // Launch mode: the pid of the command running now (0 between runs), for a
  // signal handler to forward signals to.
  std::atomic<pid_t>* current_child = nullptr;
  // Asked for a checkpoint now (e.g. by SIGUSR1); reset once written.
  std::atomic<bool>* checkpoint_now = nullptr;
};

// One run of a launched command (attach mode: the one recording).
struct RunSummary {
  int index = 0;        // the run (the pair, interleaved): its `run` label
  Arm arm = Arm::kNew;  // interleaved: which version ran
  double rate_hz = 0;   // the rate it asked for
  pid_t pid = 0;        // the Python process sampled
  double wall_s = 0;    // from launch to exit (attach: recording length)
  double cpu_s = -1;    // CPU of the command and its children; -1 unknown
  int exit_code = -1;   // the command's exit status; -1 attach mode
  // The sampled process's threads: time on a CPU and time runnable but
  // waiting for one (CpuWaitMonitor), over the run.
  double ran_s = 0;
  double wait_s = 0;
  double waits = 0;  // times scheduled in: wait_s / waits is the mean wait
  SamplerStats stats;
};

// One process of a recording.
struct ProcessSummary {
  pid_t pid = 0;
  std::string process;  // its command line (the `process` label)
  SamplerStats stats;
  bool exited = false;
  // How it ended (a wait status), where /proc told: read while it was a
  // zombie, before its parent reaped it.
  std::optional<int> wait_status;
  // --async: why its asyncio tasks could not be read ("" when they were,
  // or without --async): its samples kept their threads' stacks.
  std::string async_note;
};

// A target that did (almost) no Python work, whose children are Python:
// the user probably meant --subprocesses.
struct ChildrenHint {
  pid_t pid = 0;
  std::vector<pid_t> python_children;  // the first few
};

struct RecordingResult {
  // Launch mode: the merged profile of the runs. Attach mode: one sample
  // per leaf function (Sampler::BuildLeafProfile), enough for a summary;
  // the sink had the whole profile.
  Profile profile;
  std::vector<RunSummary> runs;
  // Interleaved: the base arm's runs and profile, and the id both
  // profiles carry (pystrobe.interleaved).
  std::vector<RunSummary> base_runs;
  Profile base_profile;
  std::string interleaved_id;
  // --repeat auto: why the runs stopped (RunPlan::Describe and ReasonName).
  std::string stop_reason;
  std::string stop_reason_name;
  double budget_s = 0;
  SamplerStats stats;  // summed over the runs (of both arms) and processes
  // Attach mode: every process sampled, in the order found.
  std::vector<ProcessSummary> processes;
  std::vector<ChildrenHint> hints;
  std::string command_line;
  std::string python_version;
  // Launch mode: the first non-zero exit status of a run, else 0.
  int exit_code = 0;
  bool stopped = false;   // ended by `stop` (a signal), not by the target
  bool attached = false;  // --pid: the targets were running already
  // The share of their runnable time the sampled threads waited for a CPU,
  // over every run (CpuWaitMonitor::WaitShare).
  double WaitShare() const;
  // Whether the machine was overloaded for the targets (Overloaded in
  // process/cpu_wait.h, over every run).
  bool Overloaded() const;
};

// How an attached recording ended, when the targets ended it: "the target
// exited after 1.9 of the 10 s asked (killed by signal 9 (SIGKILL))", how
// left out where not known. `asked_s` is --duration (0: none). "" when the
// duration ran out or the user stopped it, and for launched commands
// (their exit status is pystrobe's own).
std::string DescribeTargetEnd(const RecordingResult& r, double asked_s);

// What the targets' wait for a CPU means, when they waited more than
// kOverloadedWaitShare of their runnable time (ClassifyCpuWait over every
// run), else "": the share, the mean wait, whether it looks like a loaded
// machine (long waits; pystrobe-diff will not judge the recording) or the
// process's own threads taking turns (short waits; judged), and what that
// does to the shares. Attached and launched recordings alike.
std::string DescribeCpuWait(const RecordingResult& r);

// Progress of the run in progress, about 4 times a second.
using RecordingProgress =
    std::function<void(const RunSummary& run, int runs_total)>;

class Recording {
 public:
  explicit Recording(RecordingOptions options);

  // Records until the target exits (every run, in launch mode), the
  // duration ends or `stop` becomes true. Errors: the target cannot be read
  // (its status, e.g. NotPython, NoPermission, UnsupportedVersion), a sink
  // failed. A launched command is never left running on error.
  absl::StatusOr<RecordingResult> Run(const std::atomic<bool>& stop,
                                      const RecordingProgress& progress,
                                      ProfileSink* sink);

 private:
  RecordingOptions options_;
};

// The comments a recording adds to its profile (`arm`'s, interleaved):
// pystrobe.target (launched|attached), pystrobe.runs=N and, per run,
// pystrobe.run.I=wall_s=W cpu_s=C exit=E ran_s=R wait_s=Q waits=K
// rate_hz=H (R, Q: the sampled process's threads on a CPU and waiting for
// one, K: times scheduled in; H: the rate asked for); interleaved,
// pystrobe.interleaved=ID (16 hex digits, the same in both profiles) and
// pystrobe.arm=base|new; with --repeat auto, pystrobe.repeat=auto
// budget_s=B stop=conclusive|overloaded|budget|limit|planned.
std::vector<std::string> RecordingComments(const RecordingResult& r,
                                           bool launched, Arm arm = Arm::kNew);

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_RECORDING_H_
