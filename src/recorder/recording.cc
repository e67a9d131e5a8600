#include "pystrobe/recorder/recording.h"

#include <time.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "launcher.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/profile/merge.h"
#include "pystrobe/recorder/windows.h"

namespace pystrobe {
namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void Accumulate(const SamplerStats& s, SamplerStats* sum) {
  sum->ticks += s.ticks;
  sum->samples += s.samples;
  sum->late += s.late;
  sum->missed += s.missed;
  sum->errors += s.errors;
  sum->causes.torn += s.causes.torn;
  sum->causes.page_gone += s.causes.page_gone;
  sum->causes.thread_exited += s.causes.thread_exited;
  sum->causes.woke += s.causes.woke;
  sum->causes.other += s.causes.other;
  sum->rereads += s.rereads;
  sum->recovered += s.recovered;
  sum->elapsed_ns += s.elapsed_ns;
  sum->sampling_cpu_ns += s.sampling_cpu_ns;
  sum->busy_ns += s.busy_ns;
  // Every run asks for the same rate; the priority is the last run's.
  sum->requested_rate_hz = s.requested_rate_hz;
  sum->tick_priority = s.tick_priority;
  sum->target_exited = s.target_exited;
}

// The merged profile of the runs so far plus the run in progress.
Profile Combine(const Profile& done, const Profile& current, int run,
                bool launched) {
  if (!launched) return current;
  Profile out = done;
  AppendProfile(current, {Label{"run", "", run, ""}}, &out);
  return out;
}

}  // namespace

std::vector<std::string> RecordingComments(const RecordingResult& r,
                                           bool launched) {
  std::vector<std::string> c;
  c.push_back(
      absl::StrCat("pystrobe.target=", launched ? "launched" : "attached"));
  c.push_back(absl::StrCat("pystrobe.runs=", r.runs.size()));
  for (const RunSummary& run : r.runs) {
    c.push_back(
        absl::StrFormat("pystrobe.run.%d=wall_s=%.6f cpu_s=%.6f exit=%d",
                        run.index, run.wall_s, run.cpu_s, run.exit_code));
  }
  return c;
}

Recording::Recording(RecordingOptions options) : options_(std::move(options)) {}

absl::StatusOr<RecordingResult> Recording::Run(
    const std::atomic<bool>& stop, const RecordingProgress& progress,
    ProfileSink* sink) {
  const bool launched = !options_.command.empty();
  const int runs = launched ? std::max(1, options_.repeat) : 1;
  RecordingResult result;
  Profile done;  // the completed runs, each sample labelled with its run
  std::vector<std::string> base_comments;
  int64_t last_checkpoint = MonotonicNs();
  auto set_child = [&](pid_t p) {
    if (options_.current_child != nullptr) options_.current_child->store(p);
  };

  for (int i = 0; i < runs && !stop.load(); ++i) {
    const int64_t run_start = MonotonicNs();
    std::optional<LaunchedCommand> command;
    std::unique_ptr<PythonProcess> python;
    if (launched) {
      PYSTROBE_ASSIGN_OR_RETURN(LaunchedCommand c,
                                LaunchedCommand::Start(options_.command));
      command.emplace(std::move(c));
      set_child(command->pid());
      absl::StatusOr<std::unique_ptr<PythonProcess>> found =
          command->FindPython(stop);
      if (!found.ok()) {
        // Never leave the command running unprofiled (and a Cancelled
        // search means we are being stopped anyway).
        command->Terminate();
        set_child(0);
        return found.status();
      }
      python = *std::move(found);
    } else {
      PYSTROBE_ASSIGN_OR_RETURN(python, PythonProcess::Attach(options_.pid));
    }
    if (base_comments.empty()) {
      result.python_version = python->version().ToString();
      result.command_line = ProcFs()
                                .CommandLine(python->pid())
                                .value_or(absl::StrJoin(options_.command, " "));
      base_comments.push_back(
          absl::StrCat("command_line=", result.command_line));
      if (launched) {
        base_comments.push_back(absl::StrCat(
            "pystrobe.command=", absl::StrJoin(options_.command, " ")));
      }
      base_comments.push_back(
          absl::StrCat("pystrobe_version=", PYSTROBE_VERSION));
    }

    Sampler sampler(python.get(), options_.sampler);
    RunSummary run;
    run.index = i;
    run.pid = python->pid();
    absl::Status sink_status;
    WindowClock window(options_.window_s, MonotonicNs());
    // The profile so far (of this window, with --every) to the sink.
    auto checkpoint = [&] {
      RecordingResult partial = result;
      partial.runs.push_back(run);
      if (!launched) {
        std::vector<std::string> comments = base_comments;
        for (std::string& c : RecordingComments(partial, launched)) {
          comments.push_back(std::move(c));
        }
        sink_status = sink->WriteFrom(sampler, comments, /*final=*/false);
        return;
      }
      Profile so_far =
          Combine(done, sampler.BuildProfile(base_comments), i, launched);
      for (std::string& c : RecordingComments(partial, launched)) {
        so_far.comments.push_back(std::move(c));
      }
      sink_status = sink->Write(so_far, /*final=*/false);
    };
    auto on_progress = [&](const SamplerStats& s) {
      const int64_t now = MonotonicNs();
      run.stats = s;
      run.wall_s = static_cast<double>(now - run_start) / 1e9;
      if (progress) progress(run, runs);
      bool due = options_.checkpoint_s > 0 &&
                 static_cast<double>(now - last_checkpoint) / 1e9 >=
                     options_.checkpoint_s;
      if (options_.checkpoint_now != nullptr &&
          options_.checkpoint_now->exchange(false)) {
        due = true;
      }
      const bool window_closes = window.Due(now);
      if ((!due && !window_closes) || sink == nullptr || !sink_status.ok()) {
        return;
      }
      last_checkpoint = now;
      if (!window_closes) return checkpoint();
      // --every: the window is written whole, then the aggregation restarts.
      window.Restart(now);
      absl::Status closed = sampler.NextWindow([&](const Sampler&) {
        checkpoint();
        return sink_status;
      });
      sink_status.Update(closed);
    };
    absl::Status sampled = sampler.Run(stop, on_progress);
    if (!sampled.ok()) {
      if (command) command->Terminate();
      set_child(0);
      return sampled;
    }
    if (!sink_status.ok()) {
      if (command) command->Terminate();
      set_child(0);
      return sink_status;
    }
    run.stats = sampler.stats();
    if (command) {
      const LaunchedCommand::Outcome out = command->Wait();
      set_child(0);
      run.exit_code = out.exit_code;
      run.cpu_s = out.cpu_s;
      if (result.exit_code == 0) result.exit_code = out.exit_code;
    }
    run.wall_s = static_cast<double>(MonotonicNs() - run_start) / 1e9;
    Accumulate(run.stats, &result.stats);
    result.runs.push_back(run);
    if (launched) {
      AppendProfile(sampler.BuildProfile(base_comments),
                    {Label{"run", "", i, ""}}, &done);
      continue;
    }
    // Attached: one recording, written straight from the sampler (its
    // memory stays near the recording's), summarized from its leaves.
    result.stopped = stop.load();
    std::vector<std::string> comments = base_comments;
    for (std::string& c : RecordingComments(result, launched)) {
      comments.push_back(std::move(c));
    }
    if (sink != nullptr) {
      PYSTROBE_RETURN_IF_ERROR(sink->WriteFrom(sampler, comments, true));
    }
    result.profile = sampler.BuildLeafProfile(std::move(comments));
    return result;
  }
  result.stopped = stop.load();
  result.profile = std::move(done);
  for (std::string& c : RecordingComments(result, launched)) {
    result.profile.comments.push_back(std::move(c));
  }
  if (sink != nullptr)
    PYSTROBE_RETURN_IF_ERROR(sink->Write(result.profile, true));
  return result;
}

}  // namespace pystrobe
