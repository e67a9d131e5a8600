#include "record.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "exit_codes.h"
#include "push_args.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/diff/gate.h"
#include "pystrobe/process/cpu_wait.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/recorder/file_sink.h"
#include "pystrobe/recorder/gate_sink.h"
#include "pystrobe/recorder/push_sink.h"
#include "pystrobe/recorder/recording.h"
#include "pystrobe/recorder/run_plan.h"
#include "pystrobe/recorder/windows.h"
#include "recording_args.h"
#include "summary.h"

namespace pystrobe {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe record (--pid PID[,PID...] | -- COMMAND [ARGS...])\n"
    "                       [options]\n"
    "\n"
    "Samples every thread of a CPython process and writes a profile.\n"
    "  -p, --pid PID          attach to a running process; repeat --pid (or\n"
    "                         give PID,PID,...) to record several processes\n"
    "                         into one profile\n"
    "  --subprocesses         also record every Python descendant of the\n"
    "                         targets (or of COMMAND), present and future:\n"
    "                         server workers, multiprocessing pools, the\n"
    "                         Python processes a shell starts; each sample\n"
    "                         is labelled `pid` and `process` (its command\n"
    "                         line)\n"
    "  -- COMMAND ARGS...     launch COMMAND (a Python program, or a launcher\n"
    "                         such as a shell script that starts one: its\n"
    "                         first Python descendant is profiled), record\n"
    "                         until it exits, and exit with its exit status\n"
    "  --repeat N             launch mode: run COMMAND N times, one after\n"
    "                         another, into one profile whose samples carry a\n"
    "                         numeric label `run` (pystrobe-diff uses the\n"
    "                         runs to measure run-to-run noise); exits with\n"
    "                         the first non-zero exit status of a run\n"
    "  --repeat auto          with --compare or a base: add runs (pairs) one\n"
    "                         at a time until the verdict is decided, the\n"
    "                         next run would exceed --budget, or 100 runs\n"
    "  --budget SECONDS       --repeat auto's time budget (default 300)\n"
    "  --samples N            recordings for the gate (--repeat N>1,\n"
    "                         --compare, --save, a base) without --rate:\n"
    "                         choose each run's rate for about N samples a\n"
    "                         run (default 2000; first run 1000 Hz, then\n"
    "                         N / the last run's seconds, 100-4000 Hz)\n"
    "  --base-command 'CMD'   interleave runs of CMD (the base version; words\n"
    "                         split as a shell splits simple words) with runs\n"
    "                         of COMMAND: --repeat N pairs (default 5), base\n"
    "                         first in even pairs, new first in odd ones;\n"
    "                         NEW to -o, BASE beside it (out.base.pb.gz),\n"
    "                         then the gate as with --compare\n"
    "  --base-dir DIR         run the base arm in DIR (e.g. a git worktree of\n"
    "                         main); alone, the base arm runs COMMAND there\n"
    "  -o, --output FILE      default pystrobe-PID-YYYYmmdd-HHMMSS.EXT; "
    "without\n"
    "                         -f its extension names the format\n"
    "  -f, --format FORMAT    the profile's: pprof (default, .pb.gz, .pb),\n"
    "                         collapsed (.txt, .collapsed), speedscope\n"
    "                         (.speedscope.json), flamegraph (.svg); with\n"
    "                         --compare also the report's: table, json,\n"
    "                         csv, markdown\n"
    "  -r, --rate HZ          samples per second (default 100; a recording\n"
    "                         for the gate: chosen per run, see --samples)\n"
    "  -d, --duration SECONDS stop after this long (per run; default: until\n"
    "                         the target exits or Ctrl-C)\n"
    "  --mode wall|cpu        wall (default): where time goes, waiting\n"
    "                         included; cpu: each thread's CPU time (the\n"
    "                         kernel's count), shared among the stacks it\n"
    "                         was seen running at (docs/sampling.md)\n"
    "  --gil                  only sample the thread holding the GIL\n"
    "  --idle                 wall mode: keep threads that are not running\n"
    "  --async                a thread running an asyncio task is sampled\n"
    "                         at the task's logical stack: its coroutines,\n"
    "                         then its awaiters' up to the root task, then\n"
    "                         the event loop; pprof labels it task=NAME\n"
    "                         (CPython 3.11+, docs/asyncio.md)\n"
    "  --async all            also, in wall mode, each waiting task once per\n"
    "                         tick at its logical stack (idle=true): where\n"
    "                         requests wait shows as their share of wall\n"
    "                         time\n"
    "  --blocking             stop the target for each sample (consistent\n"
    "                         stacks; slows the target)\n"
    "  --nonblocking          do not stop the target (the default; undoes an\n"
    "                         earlier --blocking)\n"
    "  --native               also the C/C++ frames of running threads\n"
    "                         (extensions, libraries), merged with the Python\n"
    "                         frames; implies --blocking (docs/native.md)\n"
    "  --native-all           --native without folding the interpreter's own\n"
    "                         call machinery\n"
    "  --function             aggregate per function, without line numbers\n"
    "  --threads              a root frame per thread (collapsed, speedscope,\n"
    "                         flamegraph; pprof always has thread labels)\n"
    "  --processes            a root frame per process, \"PID COMMAND\"\n"
    "                         (collapsed, speedscope, flamegraph; pprof has\n"
    "                         pid and process labels)\n"
    "  --checkpoint SECONDS   write the profile so far this often (default\n"
    "                         30; 0: only at the end); SIGUSR1 writes one "
    "now\n"
    "  --every SECONDS        continuous recording: every SECONDS (>= 1) "
    "close\n"
    "                         a window and write it as its own profile,\n"
    "                         OUTPUT with the window's start (UTC) before\n"
    "                         its extension: app.pb.gz -> app.YYYYmmdd-HHMMSS."
    "pb.gz;\n"
    "                         memory stays bounded by one window\n"
    "  --keep K               with --every: keep only the newest K window "
    "files\n"
    "\n";

// After the push options (push_args.h).
constexpr char kGateUsage[] =
    "\n"
    "The regression gate in the same command (CI):\n"
    "  --compare BASE         compare the recording with BASE (a profile "
    "file,\n"
    "                         or a stored baseline NAME, NAME@N, NAME --last\n"
    "                         K), print the report on stdout and exit with "
    "the\n"
    "                         gate's status (0 OK, 1 regression with\n"
    "                         --fail-on-regression, 3 inconclusive with\n"
    "                         --fail-on-inconclusive)\n"
    "  --save NAME            also store the recording as the next entry of\n"
    "                         baseline NAME\n"
    "and pystrobe-diff compare's options (--format: see -f above):\n";

struct RecordArgs {
  RecordingOptions recording;
  GateOptions gate;
  std::string compare;       // BASE
  std::string save;          // NAME
  std::string base_command;  // --base-command, as given
  std::string output;
  OutputFormat format = OutputFormat::kPprof;  // -f, or by -o's extension
  bool per_thread = false;
  bool per_process = false;
  int keep = 0;   // --keep: window files kept (0: all)
  PushArgs push;  // --push and its options
};

constexpr double kDefaultRateHz = 100;
constexpr int kDefaultPairs = 5;     // interleaved without --repeat
constexpr int kAutoRunsLimit = 100;  // --repeat auto

std::atomic<bool> g_stop{false};
std::atomic<bool> g_checkpoint{false};
std::atomic<pid_t> g_child{0};

// SIGINT/SIGTERM/SIGHUP: stop sampling and write the profile. In launch
// mode the signal also goes to the command, unless the terminal sent it
// (si_code > 0: SI_KERNEL), in which case the command, in the same
// foreground process group, already received it. SIGUSR1: a checkpoint.
void OnSignal(int sig, siginfo_t* info, void*) {
  if (sig == SIGUSR1) {
    g_checkpoint.store(true);
    return;
  }
  g_stop.store(true);
  pid_t child = g_child.load();
  if (child > 0 && info != nullptr && info->si_code <= 0) kill(child, sig);
}

std::optional<RecordArgs> ParseArgs(const std::vector<std::string>& args,
                                    std::string* error) {
  RecordArgs o;
  RecordingOptions& r = o.recording;
  SamplerOptions& s = r.sampler;
  s.rate_hz = 0;  // given or not: -r takes only rates > 0
  bool repeat_given = false, budget_given = false;
  int samples = 0;  // --samples
  std::optional<BaseArmOptions> base;
  std::optional<OutputFormat> format;  // -f with a profile format
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      r.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      if (r.command.empty()) {
        *error = "-- must be followed by a command";
        return std::nullopt;
      }
      break;
    }
    std::string v;
    if (ParseTargetOption(args, &i, &r, error) ||
        ParseSamplerOption(args, &i, kRecordRates, &s, error)) {
      if (!error->empty()) return std::nullopt;
    } else if (a == "--processes") {
      o.per_process = true;
    } else if (a == "--repeat") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      repeat_given = true;
      if (v == "auto") {
        r.repeat_auto = true;
        r.repeat = kAutoRunsLimit;
      } else if (!absl::SimpleAtoi(v, &r.repeat) || r.repeat < 1 ||
                 r.repeat > 10000) {
        *error =
            "--repeat wants a number of runs from 1 to 10000 or auto, "
            "not '" +
            v + "'";
        return std::nullopt;
      }
    } else if (a == "--budget") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      budget_given = true;
      if (!absl::SimpleAtod(v, &r.budget_s) || !(r.budget_s > 0)) {
        *error = "--budget wants a positive number of seconds, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--samples") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtoi(v, &samples) || samples < 10 ||
          samples > 10'000'000) {
        *error =
            "--samples wants a number of samples per run from 10 to "
            "10000000, not '" +
            v + "'";
        return std::nullopt;
      }
    } else if (a == "--base-command") {
      if (!OptionValue(args, &i, &o.base_command, error)) return std::nullopt;
      absl::StatusOr<std::vector<std::string>> words =
          SplitShellWords(o.base_command);
      if (!words.ok()) {
        *error = absl::StrCat("--base-command: ", words.status().message());
        return std::nullopt;
      }
      if (!base) base.emplace();
      base->command = *std::move(words);
    } else if (a == "--base-dir") {
      if (!base) base.emplace();
      if (!OptionValue(args, &i, &base->working_dir, error)) {
        return std::nullopt;
      }
    } else if (a == "-o" || a == "--output") {
      if (!OptionValue(args, &i, &o.output, error)) return std::nullopt;
    } else if (a == "--compare") {
      if (!OptionValue(args, &i, &o.compare, error)) return std::nullopt;
    } else if (a == "--save") {
      if (!OptionValue(args, &i, &o.save, error)) return std::nullopt;
    } else if (a == "-f" || a == "--format") {
      // A profile format names the output; a report format, the report of
      // --compare.
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      std::optional<OutputFormat> f = ParseOutputFormat(v);
      std::vector<std::string> as_gate = {"--format", v};
      size_t at = 0;
      if (f) {
        format = *f;
      } else if (!ParseGateOption(as_gate, &at, &o.gate, error) ||
                 !error->empty()) {
        *error = "unknown format '" + v +
                 "' (profiles: pprof, collapsed, speedscope, flamegraph; "
                 "--compare reports: table, json, csv, markdown)";
        return std::nullopt;
      }
    } else if (a == "-d" || a == "--duration") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtod(v, &s.duration_s) || !(s.duration_s > 0)) {
        *error =
            "--duration wants a positive number of seconds, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--checkpoint") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtod(v, &r.checkpoint_s) || !(r.checkpoint_s >= 0)) {
        *error = "--checkpoint wants a number of seconds >= 0, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--every") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtod(v, &r.window_s) || !(r.window_s >= 1)) {
        *error = "--every wants a number of seconds >= 1, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--keep") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtoi(v, &o.keep) || o.keep < 1) {
        *error = "--keep wants a number of window files >= 1, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--blocking") {
      s.blocking = true;
    } else if (a == "--nonblocking") {
      s.blocking = false;
    } else if (a == "--function") {
      s.lines = false;
    } else if (a == "--threads") {
      o.per_thread = true;
    } else if (ParseGateOption(args, &i, &o.gate, error) ||
               ParsePushOption(args, &i, &o.push, error)) {
      if (!error->empty()) return std::nullopt;
    } else {
      *error = "unknown argument '" + a + "'";
      return std::nullopt;
    }
  }
  absl::StatusOr<OutputFormat> chosen = ChooseOutputFormat(format, o.output);
  if (!chosen.ok()) {
    *error = std::string(chosen.status().message());
    return std::nullopt;
  }
  o.format = *chosen;
  if ((r.pid == 0) == r.command.empty()) {
    *error = "record needs either --pid PID or -- COMMAND";
    return std::nullopt;
  }
  if (r.repeat > 1 && r.command.empty()) {
    *error = "--repeat runs a command: it needs -- COMMAND, not --pid";
    return std::nullopt;
  }
  if (o.keep > 0 && r.window_s == 0) {
    *error = "--keep rotates the windows of --every: it needs --every";
    return std::nullopt;
  }
  if (!CheckPushArgs(o.push, r.window_s, error)) return std::nullopt;
  if (r.window_s > 0 && r.repeat > 1) {
    *error = "--every and --repeat do not combine (windows of one run)";
    return std::nullopt;
  }
  if (r.window_s > 0 && (!o.compare.empty() || !o.save.empty())) {
    *error =
        "--every writes many profiles: compare or save the window files "
        "with pystrobe-diff instead of --compare/--save";
    return std::nullopt;
  }
  if (base) {
    if (!o.compare.empty() || r.pid != 0 || r.window_s > 0) {
      *error =
          "--base-command/--base-dir interleave runs of two versions and "
          "compare them: not with --compare, --pid or --every";
      return std::nullopt;
    }
    if (!repeat_given) r.repeat = kDefaultPairs;
    r.base = std::move(base);
  }
  if (r.repeat_auto && o.compare.empty() && !r.base) {
    *error =
        "--repeat auto adds runs until the gate decides: it needs --compare "
        "BASE or a base (--base-command, --base-dir)";
    return std::nullopt;
  }
  if (budget_given && !r.repeat_auto) {
    *error = "--budget is --repeat auto's time budget: it needs --repeat auto";
    return std::nullopt;
  }
  if (samples > 0 && r.command.empty()) {
    *error = "--samples chooses the rate of launched runs: it needs -- COMMAND";
    return std::nullopt;
  }
  if (samples > 0 && s.rate_hz > 0) {
    *error = "--samples chooses each run's rate: not with --rate";
    return std::nullopt;
  }
  // A launched recording for the gate samples enough per run unless the
  // user fixed the rate (issue 17: sampling noise falls with samples).
  const bool for_gate = r.repeat > 1 || r.repeat_auto || !o.compare.empty() ||
                        !o.save.empty() || r.base.has_value();
  if (s.rate_hz == 0) {
    if (!r.command.empty() && (for_gate || samples > 0)) {
      SampleBudgetOptions budget;
      if (samples > 0) budget.samples = samples;
      r.sample_budget = budget;
      s.rate_hz = budget.first_hz;
    } else {
      s.rate_hz = kDefaultRateHz;
    }
  }
  return o;
}

std::string DefaultOutput(const std::string& who, OutputFormat format,
                          bool windows) {
  // Window files get their own stamps (windows.h).
  if (windows) return absl::StrFormat("pystrobe-%s.%s", who, Extension(format));
  time_t now = time(nullptr);
  tm local;
  localtime_r(&now, &local);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &local);
  return absl::StrFormat("pystrobe-%s-%s.%s", who, stamp, Extension(format));
}

// `runs` < 0: --repeat auto, the number of runs is not known yet.
void PrintStatus(const RunSummary& run, int runs, bool interleaved,
                 double duration_s) {
  const SamplerStats& s = run.stats;
  const double seconds = static_cast<double>(s.elapsed_ns) / 1e9;
  std::string line = "\rpystrobe: ";
  const char* unit = interleaved ? "pair" : "run";
  if (runs > 1) {
    absl::StrAppendFormat(&line, "%s %d/%d, ", unit, run.index + 1, runs);
  } else if (runs < 0) {
    absl::StrAppendFormat(&line, "%s %d, ", unit, run.index + 1);
  }
  if (interleaved) absl::StrAppend(&line, ArmName(run.arm), ", ");
  absl::StrAppendFormat(&line, "%.1f s", seconds);
  if (duration_s > 0) {
    absl::StrAppendFormat(&line, " (%.0f s left)",
                          std::max(0.0, duration_s - seconds));
  }
  absl::StrAppendFormat(
      &line, ", %llu samples, %.1f Hz, %llu errors\x1b[K",
      static_cast<unsigned long long>(s.samples),
      // The rate means little in the first moments.
      seconds >= 0.5 ? static_cast<double>(s.ticks) / seconds : 0.0,
      static_cast<unsigned long long>(s.errors));
  std::fputs(line.c_str(), stderr);
}

std::string FormatRun(const RunSummary& run, const std::string& name) {
  return absl::StrFormat(
      "pystrobe: %s: %.2f s wall, %.2f s CPU, exit %d, %llu samples at %.0f "
      "Hz\n",
      name, run.wall_s, run.cpu_s, run.exit_code,
      static_cast<unsigned long long>(run.stats.samples), run.rate_hz);
}

// One line per run of a --repeat recording; interleaved, per run of each
// arm in the order they ran.
std::string FormatRunsSummary(const RecordingResult& r) {
  std::string out;
  if (!r.interleaved_id.empty()) {
    for (size_t pair = 0; pair < r.runs.size() || pair < r.base_runs.size();
         ++pair) {
      for (Arm arm : InterleavedOrder(static_cast<int>(pair))) {
        const std::vector<RunSummary>& runs =
            arm == Arm::kBase ? r.base_runs : r.runs;
        if (pair >= runs.size()) continue;
        out += FormatRun(runs[pair],
                         absl::StrCat("pair ", pair + 1, " ", ArmName(arm)));
      }
    }
  } else if (r.runs.size() >= 2) {
    for (const RunSummary& run : r.runs) {
      out += FormatRun(run, absl::StrCat("run ", run.index + 1));
    }
  }
  if (!r.stop_reason.empty()) {
    absl::StrAppend(&out, "pystrobe: --repeat auto: ", r.stop_reason, "\n");
  }
  return out;
}

}  // namespace

int RunRecord(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::fputs(kPushOptionsHelp, stdout);
      std::fputs(kGateUsage, stdout);
      // The gate's --format is -f above (one option, two meanings by value).
      for (absl::string_view line :
           absl::StrSplit(kGateOptionsHelp, '\n', absl::SkipEmpty())) {
        if (absl::StartsWith(line, "  --format ")) continue;
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
      }
      return kExitOk;
    }
  }
  std::string error;
  std::optional<RecordArgs> parsed = ParseArgs(args, &error);
  if (!parsed) {
    PrintError((error + " (see pystrobe record --help)").c_str());
    return kExitUsage;
  }
  RecordArgs& o = *parsed;
  RecordingOptions& r = o.recording;
  const bool launched = !r.command.empty();

  if (!launched) {
    if (int code = CheckTargetsExist(r); code != 0) return code;
  }
  // The output is checked before anything is sampled (or launched): a
  // recording that cannot be saved is not worth taking.
  if (o.output.empty()) {
    o.output = DefaultOutput(
        launched ? std::to_string(getpid()) : std::to_string(r.pid), o.format,
        r.window_s > 0);
  }
  RenderOptions render;
  render.per_thread = o.per_thread;
  render.per_process = o.per_process;
  render.lines = r.sampler.lines;
  FileSink file(o.output, o.format, render);
  WindowSink windows(o.output, o.format, render, o.keep);
  if (absl::Status writable = r.window_s > 0 ? windows.Check() : file.Check();
      !writable.ok()) {
    PrintError(writable);
    return kExitFailure;
  }
  GateSink gate(o.gate, o.compare, o.save, o.output);
  if (r.base) {
    std::string base_command =
        o.base_command.empty() ? absl::StrJoin(r.command, " ") : o.base_command;
    if (!r.base->working_dir.empty()) {
      absl::StrAppend(&base_command, " in ", r.base->working_dir);
    }
    gate.CompareWithInterleavedBase(
        absl::StrCat("base (interleaved: ", base_command, ")"));
  }
  if (absl::Status base = gate.Check(); !base.ok()) {
    PrintError(base);
    return kExitUsage;
  }
  // --push: the window files go through the push's sink, which sends each
  // closed window from the pusher's thread.
  std::unique_ptr<Pusher> pusher;
  std::optional<PushSink> push_sink;
  if (o.push.enabled) {
    // process.pid names one process: not a tree or several.
    o.push.who.pid = launched || !r.pids.empty() || r.subprocesses ? 0 : r.pid;
    absl::StatusOr<std::unique_ptr<Pusher>> started =
        Pusher::Start(o.push.options, [](const std::string& line) {
          std::fprintf(stderr, "pystrobe: %s\n", line.c_str());
        });
    if (!started.ok()) {
      PrintError(started.status());
      return kExitFailure;
    }
    pusher = *std::move(started);
    push_sink.emplace(&windows, pusher.get(), o.push.options.target,
                      o.push.who);
  }
  ProfileSink* files =
      r.window_s > 0 ? static_cast<ProfileSink*>(&windows) : &file;
  if (push_sink) files = &*push_sink;
  TeeSink sink({files, &gate});

  struct sigaction action {};
  action.sa_sigaction = OnSignal;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
    sigaction(sig, &action, nullptr);
  }
  r.current_child = &g_child;
  r.checkpoint_now = &g_checkpoint;

  const bool tty = isatty(STDERR_FILENO) != 0;
  const double duration_s = r.sampler.duration_s;
  const bool interleaved = r.base.has_value();
  absl::StatusOr<RecordingResult> result = Recording(r).Run(
      g_stop,
      [tty, interleaved, duration_s](const RunSummary& run, int runs) {
        if (tty) PrintStatus(run, runs, interleaved, duration_s);
      },
      &sink);
  if (tty) std::fputs("\r\x1b[K", stderr);
  std::string push_summary;
  if (pusher) {
    // What waits gets a last chance, bounded: a dead backend does not hold
    // the end of the recording for long.
    const PushCounts counts =
        pusher->Finish(std::max(5.0, o.push.options.http.timeout_s));
    push_summary = FormatPushSummary(o.push, counts);
  }
  if (!result.ok()) {
    std::fputs(push_summary.c_str(), stderr);
    if (absl::IsAborted(result.status())) {  // an interleaved arm failed
      PrintError(result.status());
      return kExitUsage;
    }
    if (absl::IsInvalidArgument(result.status())) {  // the gate's bad input
      PrintError(result.status());
      return kExitUsage;
    }
    absl::Status status =
        launched ? result.status() : ExplainFailure(r.pid, result.status());
    PrintError(status);
    if (absl::IsCancelled(status)) return kExitFailure;
    return ExitCodeFor(status, /*attached=*/true);
  }
  std::fputs(FormatRunsSummary(*result).c_str(), stderr);
  std::string written = o.output;
  if (r.window_s > 0 && !windows.written().empty()) {
    written = windows.written().back();
    std::fprintf(
        stderr,
        "pystrobe: %zu windows of %g s written as %s (the stamp is "
        "the window's start, UTC)%s; the functions below are the "
        "last window's\n",
        windows.written().size(), r.window_s, WindowPattern(o.output).c_str(),
        o.keep > 0 ? absl::StrCat(", the newest ", o.keep, " kept").c_str()
                   : "");
  }
  std::fputs(FormatSummary(result->profile, result->stats, written,
                           DescribeTargetEnd(*result, duration_s))
                 .c_str(),
             stderr);
  if (interleaved) {
    // The counts above are of both arms; the functions, of the new one.
    uint64_t base_samples = 0;
    for (const RunSummary& run : result->base_runs) {
      base_samples += run.stats.samples;
    }
    std::fprintf(stderr,
                 "pystrobe: interleaved (id %s): %zu runs of the new command "
                 "above, %zu of the base (%llu of the samples) written to "
                 "%s\n",
                 result->interleaved_id.c_str(), result->runs.size(),
                 result->base_runs.size(),
                 static_cast<unsigned long long>(base_samples),
                 BaseOutputPath(o.output).c_str());
  }
  std::fputs(push_summary.c_str(), stderr);
  std::fputs(FormatProcessesSummary(*result).c_str(), stderr);
  if (std::string wait = DescribeCpuWait(*result); !wait.empty()) {
    std::fprintf(stderr, "pystrobe: %s\n", wait.c_str());
  }
  if (gate.saved()) {
    std::fprintf(stderr, "pystrobe: saved baseline %s@%d\n",
                 gate.saved()->name.c_str(), gate.saved()->number);
  }
  // A command that failed fails the job whatever the gate says.
  const int command_status = launched ? result->exit_code : kExitOk;
  if (!gate.outcome()) return command_status;
  std::fputs(gate.outcome()->report.c_str(), stdout);
  std::fflush(stdout);
  std::fputs(gate.outcome()->verdict.c_str(), stderr);
  return command_status != 0 ? command_status : gate.outcome()->exit_code;
}

}  // namespace pystrobe
