// A recording session: what `pystrobe record` (and the front ends to come:
// `top`, `record --compare`) run. It owns the targets — processes attached
// by PID (one or several), or a command launched N times (`--repeat`),
// following launchers to the Python process behind them, and with
// `subprocesses` every Python descendant, present and future — drives one
// Sampler per process on one shared TickSchedule, merges processes (each
// sample labelled `pid` and `process`) and runs (labelled `run`) into one
// profile, and hands profiles to a sink: a checkpoint of the profile so far
// every `checkpoint_s` seconds, and the final one.
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
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/profile/profile.h"
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
};

struct RecordingOptions {
  pid_t pid = 0;                     // attach to this process (and `pids`),
  std::vector<pid_t> pids;           // more processes to attach to, or
  std::vector<std::string> command;  // launch this command
  // Also sample every Python descendant of the targets (of the launched
  // command), present and future, each until it exits; the recording ends
  // when every target and root has exited.
  bool subprocesses = false;
  int repeat = 1;  // launch mode: run the command N times
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
  int index = 0;
  pid_t pid = 0;       // the Python process sampled
  double wall_s = 0;   // from launch to exit (attach: recording length)
  double cpu_s = -1;   // CPU of the command and its children; -1 unknown
  int exit_code = -1;  // the command's exit status; -1 attach mode
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
  SamplerStats stats;  // summed over the runs and processes
  // Attach mode: every process sampled, in the order found.
  std::vector<ProcessSummary> processes;
  std::vector<ChildrenHint> hints;
  std::string command_line;
  std::string python_version;
  // Launch mode: the first non-zero exit status of a run, else 0.
  int exit_code = 0;
  bool stopped = false;  // ended by `stop` (a signal), not by the target
  // The share of their runnable time the sampled threads waited for a CPU,
  // over every run (CpuWaitMonitor::WaitShare).
  double WaitShare() const;
  // Whether the machine was overloaded for the targets (Overloaded in
  // process/cpu_wait.h, over every run).
  bool Overloaded() const;
};

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

// The comments a recording adds to its profile: pystrobe.target
// (launched|attached), pystrobe.runs=N and, per run,
// pystrobe.run.I=wall_s=W cpu_s=C exit=E ran_s=R wait_s=Q (R, Q: the sampled
// process's threads on a CPU and waiting for one).
std::vector<std::string> RecordingComments(const RecordingResult& r,
                                           bool launched);

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_RECORDING_H_
