#include "pystrobe/recorder/recording.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "launcher.h"
#include "pystrobe/base/clock.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/cpu_wait.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/profile/merge.h"
#include "pystrobe/recorder/windows.h"
#include "targets.h"

namespace pystrobe {
namespace {

void Accumulate(const SamplerStats& s, SamplerStats* sum) {
  sum->AddCounts(s);
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
                                           bool launched, Arm arm) {
  std::vector<std::string> c;
  c.push_back(
      absl::StrCat("pystrobe.target=", launched ? "launched" : "attached"));
  const std::vector<RunSummary>& runs =
      arm == Arm::kBase ? r.base_runs : r.runs;
  c.push_back(absl::StrCat("pystrobe.runs=", runs.size()));
  for (const RunSummary& run : runs) {
    // What is not known (an attached target's CPU and exit) is left out:
    // readers take a missing field as unknown.
    std::string line =
        absl::StrFormat("pystrobe.run.%d=wall_s=%.6f", run.index, run.wall_s);
    if (run.cpu_s >= 0) absl::StrAppendFormat(&line, " cpu_s=%.6f", run.cpu_s);
    if (run.exit_code >= 0)
      absl::StrAppendFormat(&line, " exit=%d", run.exit_code);
    absl::StrAppendFormat(&line,
                          " ran_s=%.6f wait_s=%.6f waits=%.0f rate_hz=%.6g",
                          run.ran_s, run.wait_s, run.waits, run.rate_hz);
    c.push_back(std::move(line));
  }
  if (!r.interleaved_id.empty()) {
    c.push_back(absl::StrCat("pystrobe.interleaved=", r.interleaved_id));
    c.push_back(absl::StrCat("pystrobe.arm=", ArmName(arm)));
  }
  if (r.budget_s > 0) {
    c.push_back(absl::StrCat(
        "pystrobe.repeat=auto budget_s=", absl::StrFormat("%g", r.budget_s),
        r.stop_reason_name.empty() ? "" : " stop=", r.stop_reason_name));
  }
  return c;
}

namespace {

struct WaitSums {
  double ran = 0, wait = 0, waits = 0;
};

// Over the runs of both arms.
WaitSums SumWaits(const RecordingResult& r) {
  WaitSums sums;
  for (const auto* runs : {&r.runs, &r.base_runs}) {
    for (const RunSummary& run : *runs) {
      sums.ran += run.ran_s;
      sums.wait += run.wait_s;
      sums.waits += run.waits;
    }
  }
  return sums;
}

}  // namespace

std::string DescribeTargetEnd(const RecordingResult& r, double asked_s) {
  if (!r.attached || r.stopped || !r.stats.target_exited) return "";
  const double ran_s = static_cast<double>(r.stats.elapsed_ns) / 1e9;
  // The duration ran out at the same moment (within a tick or two).
  if (asked_s > 0 && ran_s >= asked_s - 0.05) return "";
  std::string out = r.processes.size() > 1 ? "every target exited after "
                                           : "the target exited after ";
  if (asked_s > 0) {
    absl::StrAppendFormat(&out, "%.1f of the %g s asked", ran_s, asked_s);
  } else {
    absl::StrAppendFormat(&out, "%.1f s", ran_s);
  }
  if (r.processes.size() == 1 && r.processes[0].wait_status) {
    absl::StrAppend(&out, " (", DescribeWaitStatus(*r.processes[0].wait_status),
                    ")");
  }
  return out;
}

bool RecordingResult::Overloaded() const {
  const WaitSums s = SumWaits(*this);
  return pystrobe::Overloaded(s.ran, s.wait, s.waits);
}

std::string DescribeCpuWait(const RecordingResult& r) {
  const WaitSums s = SumWaits(r);
  const CpuWaitKind kind = ClassifyCpuWait(s.ran, s.wait, s.waits);
  if (kind == CpuWaitKind::kLittle) return "";
  const double share = s.wait / (s.ran + s.wait);
  const std::string mean =
      s.waits > 0 ? absl::StrFormat(", %.2f ms per wait on average",
                                    1e3 * s.wait / s.waits)
                  : "";
  if (kind == CpuWaitKind::kLongWaits) {
    return absl::StrFormat(
        "warning: the machine was overloaded: the target's threads waited "
        "for a CPU %.0f%% of the time they could run%s (long waits: more "
        "runnable threads than CPUs, the target's or others'); times include "
        "that wait, and --mode cpu charges it to where they were preempted "
        "(pystrobe-diff will not judge this recording)",
        100 * share, mean);
  }
  return absl::StrFormat(
      "note: the target's threads waited for a CPU %.0f%% of the time they "
      "could run%s (many short waits: its own threads taking turns, e.g. "
      "handing the GIL to each other, not a loaded machine); wall-mode "
      "shares include that time, runnable but not running (samples "
      "labelled cpu_wait=true, which pystrobe-diff leaves out), and "
      "pystrobe-diff judges this recording",
      100 * share, mean);
}

double RecordingResult::WaitShare() const {
  const WaitSums s = SumWaits(*this);
  return s.ran + s.wait > 0 ? s.wait / (s.ran + s.wait) : 0.0;
}

namespace {

// The comments a recording's profile (an arm's) opens with, and in
// `*command_line` the command line the summary names: the Python process
// behind a launched command, or the first attached process.
std::vector<std::string> FirstComments(bool launched, bool follow,
                                       const std::vector<pid_t>& pids,
                                       const std::vector<std::string>& command,
                                       const std::string& working_dir,
                                       const PythonProcess* first_python,
                                       std::string* command_line) {
  *command_line = launched ? absl::StrJoin(command, " ")
                           : ProcFs().CommandLine(pids.front()).value_or("");
  if (!launched && pids.size() > 1) {
    *command_line =
        absl::StrCat(*command_line, " (and ", pids.size() - 1, " more)");
  }
  if (launched && !follow && first_python != nullptr) {
    *command_line =
        ProcFs().CommandLine(first_python->pid()).value_or(*command_line);
  }
  std::vector<std::string> comments;
  comments.push_back(absl::StrCat("command_line=", *command_line));
  if (launched) {
    comments.push_back(
        absl::StrCat("pystrobe.command=", absl::StrJoin(command, " ")));
  }
  if (!working_dir.empty()) {
    comments.push_back(absl::StrCat("pystrobe.working_dir=", working_dir));
  }
  comments.push_back(absl::StrCat("pystrobe_version=", PYSTROBE_VERSION));
  return comments;
}

// The end of an attached recording: hints about Python children of idle
// targets, and the one profile to the sink.
absl::StatusOr<RecordingResult> FinishAttached(
    RecordingResult result, TargetSet* targets,
    const std::vector<std::string>& base_comments, const ScheduleStats& sched,
    bool stopped, bool look_for_children, ProfileSink* sink) {
  result.stopped = stopped;
  result.attached = true;
  result.processes = targets->Processes();
  if (look_for_children) {
    for (const ProcessSummary& p : result.processes) {
      // (Almost) nothing sampled: every thread idle at nearly every tick.
      if (p.stats.samples * 10 >= std::max<uint64_t>(p.stats.ticks, 10)) {
        continue;
      }
      std::vector<pid_t> children = TargetSet::PythonDescendants(p.pid, 8);
      if (!children.empty()) result.hints.push_back({p.pid, children});
    }
  }
  std::vector<std::string> comments = base_comments;
  for (std::string& c : RecordingComments(result, /*launched=*/false)) {
    comments.push_back(std::move(c));
  }
  if (const Sampler* single = targets->single()) {
    // Written straight from the sampler (its memory stays near the
    // recording's), summarized from its leaves.
    if (sink != nullptr) {
      PYSTROBE_RETURN_IF_ERROR(sink->WriteFrom(*single, comments, true));
    }
    result.profile = single->BuildLeafProfile(std::move(comments));
    return result;
  }
  result.profile = targets->BuildProfile(comments, sched);
  if (sink != nullptr) {
    PYSTROBE_RETURN_IF_ERROR(sink->Write(result.profile, true));
  }
  return result;
}

}  // namespace

Recording::Recording(RecordingOptions options) : options_(std::move(options)) {}

absl::StatusOr<RecordingResult> Recording::Run(
    const std::atomic<bool>& stop, const RecordingProgress& progress,
    ProfileSink* sink) {
  const bool launched = !options_.command.empty();
  const bool follow = options_.subprocesses;
  const bool interleaved = launched && options_.base.has_value();
  const bool repeat_auto = launched && options_.repeat_auto;
  const int planned = launched ? std::max(1, options_.repeat) : 1;
  std::vector<pid_t> pids;
  if (options_.pid > 0) pids.push_back(options_.pid);
  for (pid_t p : options_.pids) {
    if (p > 0 && std::find(pids.begin(), pids.end(), p) == pids.end()) {
      pids.push_back(p);
    }
  }
  RecordingResult result;
  // What each arm runs and has recorded so far. Without a base, only the
  // new arm.
  struct ArmState {
    std::vector<std::string> command;
    std::string working_dir;
    Profile done;  // its completed runs, each sample labelled with its run
    std::vector<std::string> base_comments;
  };
  ArmState arms[2];
  auto state = [&arms](Arm a) -> ArmState& {
    return arms[a == Arm::kBase ? 1 : 0];
  };
  auto runs_of = [](RecordingResult& r, Arm a) -> std::vector<RunSummary>& {
    return a == Arm::kBase ? r.base_runs : r.runs;
  };
  state(Arm::kNew).command = options_.command;
  if (interleaved) {
    ArmState& base = state(Arm::kBase);
    base.command = options_.base->command.empty() ? options_.command
                                                  : options_.base->command;
    base.working_dir = options_.base->working_dir;
    struct stat st {};
    if (!base.working_dir.empty() &&
        (stat(base.working_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
      return absl::InvalidArgumentError(
          absl::StrCat("--base-dir ", base.working_dir, ": not a folder"));
    }
    result.interleaved_id = NewInterleavedId();
  }
  if (repeat_auto) result.budget_s = options_.budget_s;
  std::optional<SampleBudget> budget;
  if (launched && options_.sample_budget) {
    budget.emplace(*options_.sample_budget);
  }
  RunPlan plan({planned, interleaved, repeat_auto, options_.budget_s,
                /*min_runs_to_decide=*/3});
  // The rates asked for, weighted by the time sampled at each.
  double rate_seconds = 0, sampled_seconds = 0;
  int64_t last_checkpoint = ClockNs(CLOCK_MONOTONIC);
  auto set_child = [&](pid_t p) {
    if (options_.current_child != nullptr) options_.current_child->store(p);
  };
  // `arm`'s profile so far with the recording's comments.
  auto with_comments = [&](Profile p, const RecordingResult& r, Arm arm) {
    for (std::string& c : RecordingComments(r, launched, arm)) {
      p.comments.push_back(std::move(c));
    }
    return p;
  };
  auto decided = [&]() -> Decision {
    const Profile now = with_comments(state(Arm::kNew).done, result, Arm::kNew);
    if (!interleaved) return sink->Decided(nullptr, now);
    const Profile base =
        with_comments(state(Arm::kBase).done, result, Arm::kBase);
    return sink->Decided(&base, now);
  };
  const int runs_total = repeat_auto ? -1 : planned;

  // The end of the previous run (pair) and its Decided: the budget counts
  // the gate's time too.
  int64_t pair_start = ClockNs(CLOCK_MONOTONIC);
  bool more = true;
  for (int pair = 0; more && !stop.load(); ++pair) {
    const double rate_hz =
        budget ? budget->rate_hz() : options_.sampler.rate_hz;
    SamplerOptions sampler = options_.sampler;
    sampler.rate_hz = rate_hz;
    std::vector<SamplerStats> pair_stats;
    std::vector<Arm> order = {Arm::kNew};
    if (interleaved) {
      const std::array<Arm, 2> ab = InterleavedOrder(pair);
      order.assign(ab.begin(), ab.end());
    }
    for (const Arm arm : order) {
      if (stop.load()) break;
      ArmState& st = state(arm);
      const int64_t run_start = ClockNs(CLOCK_MONOTONIC);
      std::optional<LaunchedCommand> command;
      TargetSet targets(sampler, follow);
      // Never leave a launched command running unprofiled.
      auto fail = [&](absl::Status status) {
        if (command) command->Terminate();
        set_child(0);
        return status;
      };
      if (launched) {
        PYSTROBE_ASSIGN_OR_RETURN(
            LaunchedCommand c,
            LaunchedCommand::Start(st.command, st.working_dir));
        command.emplace(std::move(c));
        set_child(command->pid());
        if (follow) {
          // Its Python processes are found as they appear, the command
          // itself once it has exec'd its interpreter.
          targets.FollowRoot(command->pid());
        } else {
          // (A Cancelled search means we are being stopped anyway.)
          absl::StatusOr<std::unique_ptr<PythonProcess>> found =
              command->FindPython(stop);
          if (!found.ok()) return fail(found.status());
          targets.Add(*std::move(found));
        }
      } else {
        for (pid_t p : pids) PYSTROBE_RETURN_IF_ERROR(targets.AddRoot(p));
      }
      targets.Discover(0);
      if (st.base_comments.empty()) {
        std::string command_line;
        st.base_comments =
            FirstComments(launched, follow, pids, st.command, st.working_dir,
                          targets.first_python(), &command_line);
        if (arm == Arm::kNew) result.command_line = command_line;
      }
      const std::vector<std::string>& base_comments = st.base_comments;

      TickSchedule schedule(
          {sampler.rate_hz, sampler.duration_s, sampler.raise_priority});
      targets.Begin(ClockNs(CLOCK_REALTIME));
      RunSummary run;
      run.index = pair;
      run.arm = arm;
      run.rate_hz = rate_hz;
      run.pid = launched ? command->pid() : pids.front();
      if (const PythonProcess* p = targets.first_python()) run.pid = p->pid();
      // Whether the machine let the targets run: read 4 times a second (a
      // procfs walk of their threads), and at the end.
      int64_t last_wait_update = ClockNs(CLOCK_MONOTONIC);
      auto update_wait = [&](int64_t now) {
        targets.UpdateCpuWait();
        last_wait_update = now;
        const TargetSet::CpuWaitSums sums = targets.CpuWait();
        run.ran_s = static_cast<double>(sums.cpu_ns) / 1e9;
        run.wait_s = static_cast<double>(sums.wait_ns) / 1e9;
        run.waits = static_cast<double>(sums.waits);
      };
      absl::Status sink_status;
      WindowClock window(options_.window_s, ClockNs(CLOCK_MONOTONIC));
      // With children followed, whether the tree is done is read from /proc:
      // at the progress pace, not per tick.
      bool tree_done = false;
      // The profile so far (of this window, with --every) to the sink.
      auto checkpoint = [&](const ScheduleStats& sched) {
        RecordingResult partial = result;
        runs_of(partial, arm).push_back(run);
        std::vector<std::string> comments = base_comments;
        if (!launched && targets.single() != nullptr) {
          for (std::string& c : RecordingComments(partial, launched)) {
            comments.push_back(std::move(c));
          }
          sink_status = sink->WriteFrom(*targets.single(), comments, false);
          return;
        }
        Profile so_far = with_comments(
            Combine(st.done, targets.BuildProfile(comments, sched), pair,
                    launched),
            partial, arm);
        if (!interleaved) {
          sink_status = sink->Write(so_far, /*final=*/false);
          return;
        }
        const Arm other = arm == Arm::kBase ? Arm::kNew : Arm::kBase;
        Profile other_so_far = with_comments(state(other).done, partial, other);
        sink_status =
            arm == Arm::kBase
                ? sink->WritePair(so_far, other_so_far, /*final=*/false)
                : sink->WritePair(other_so_far, so_far, /*final=*/false);
      };
      auto on_progress = [&](const ScheduleStats& sched) {
        if (follow) {
          targets.Discover(sched.elapsed_ns);
          tree_done = command ? command->Exited() : targets.Done();
          if (targets.first_python() != nullptr && run.pid == 0) {
            run.pid = targets.first_python()->pid();
          }
        }
        const int64_t now = ClockNs(CLOCK_MONOTONIC);
        run.stats = targets.Stats(sched);
        run.wall_s = static_cast<double>(now - run_start) / 1e9;
        if (now - last_wait_update >= 250'000'000) update_wait(now);
        if (progress) progress(run, runs_total);
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
        if (!window_closes) return checkpoint(sched);
        // --every: the window is written whole, then the aggregation
        // restarts.
        window.Restart(now);
        sink_status.Update(targets.NextWindow(sched, [&] {
          sink->WindowClosing();
          checkpoint(sched);
          return sink_status;
        }));
      };
      absl::Status sampled = schedule.Run(
          stop,
          [&](int64_t elapsed_ns, int64_t weight) -> absl::StatusOr<bool> {
            PYSTROBE_RETURN_IF_ERROR(targets.Tick(elapsed_ns, weight));
            return follow ? !tree_done : !targets.Done();
          },
          on_progress);
      if (!sampled.ok()) return fail(sampled);
      if (!sink_status.ok()) return fail(sink_status);
      targets.Finish(schedule.stats().elapsed_ns);
      update_wait(ClockNs(CLOCK_MONOTONIC));
      run.stats = targets.Stats(schedule.stats());
      if (progress) progress(run, runs_total);
      if (targets.Processes().empty()) {
        // Children followed, and none was Python.
        const std::string who =
            launched ? "the command" : absl::StrCat("process ", pids.front());
        if (command && command->Exited()) {
          const int code = command->Wait().exit_code;
          set_child(0);
          return NotPythonError(absl::StrCat(
              "the command exited (status ", code,
              ") and no Python process appeared in it or its children; no "
              "profile written"));
        }
        return fail(NotPythonError(
            absl::StrCat("no Python process appeared in ", who,
                         " or its children; no profile written")));
      }
      if (result.python_version.empty()) {
        result.python_version = targets.python_version();
      }
      if (command) {
        const LaunchedCommand::Outcome out = command->Wait();
        set_child(0);
        run.exit_code = out.exit_code;
        run.cpu_s = out.cpu_s;
        if (interleaved && out.exit_code != 0 && !stop.load()) {
          // Runs of a failing version time its failure: no verdict.
          return absl::AbortedError(absl::StrCat(
              "the ", ArmName(arm), " command (",
              absl::StrJoin(st.command, " "),
              st.working_dir.empty() ? ""
                                     : absl::StrCat(" in ", st.working_dir),
              ") exited with status ", out.exit_code, " in pair ", pair + 1,
              ": the interleaved recording stops, no verdict"));
        }
        if (result.exit_code == 0) result.exit_code = out.exit_code;
      }
      run.wall_s =
          static_cast<double>(ClockNs(CLOCK_MONOTONIC) - run_start) / 1e9;
      Accumulate(run.stats, &result.stats);
      rate_seconds += rate_hz * static_cast<double>(run.stats.elapsed_ns) / 1e9;
      sampled_seconds += static_cast<double>(run.stats.elapsed_ns) / 1e9;
      pair_stats.push_back(run.stats);
      runs_of(result, arm).push_back(run);
      if (launched) {
        if (follow) {
          for (ProcessSummary& p : targets.Processes()) {
            result.processes.push_back(std::move(p));
          }
        }
        AppendProfile(targets.BuildProfile(base_comments, schedule.stats()),
                      {Label{"run", "", pair, ""}}, &st.done);
        continue;
      }
      // Attached: one recording.
      return FinishAttached(std::move(result), &targets, base_comments,
                            schedule.stats(), stop.load(),
                            !follow && !options_.sampler.include_idle, sink);
    }
    if (stop.load()) break;
    if (budget) budget->Observe(pair_stats);
    const int64_t pair_end = ClockNs(CLOCK_MONOTONIC);
    const double pair_s = static_cast<double>(pair_end - pair_start) / 1e9;
    pair_start = pair_end;
    more = plan.Continue(
        pair_s, sink != nullptr ? std::function<Decision()>(decided) : nullptr);
  }
  result.stopped = stop.load();
  if (sampled_seconds > 0) {
    // Runs at different rates: what they asked for on average, so that the
    // achieved rate of the sum compares with it.
    result.stats.requested_rate_hz = rate_seconds / sampled_seconds;
  }
  if (repeat_auto) {
    result.stop_reason = plan.Describe();
    result.stop_reason_name = plan.ReasonName();
  }
  result.profile =
      with_comments(std::move(state(Arm::kNew).done), result, Arm::kNew);
  if (interleaved) {
    result.base_profile =
        with_comments(std::move(state(Arm::kBase).done), result, Arm::kBase);
    if (sink != nullptr) {
      PYSTROBE_RETURN_IF_ERROR(
          sink->WritePair(result.base_profile, result.profile, true));
    }
    return result;
  }
  if (sink != nullptr) {
    PYSTROBE_RETURN_IF_ERROR(sink->Write(result.profile, true));
  }
  return result;
}

}  // namespace pystrobe
