#include "top.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "exit_codes.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/recorder/live_view.h"
#include "pystrobe/recorder/recording.h"
#include "recording_args.h"
#include "terminal.h"
#include "top_screen.h"

namespace pystrobe {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe top --pid PID[,PID...] [--subprocesses] [options]\n"
    "\n"
    "A live view of the functions running CPython processes spend their time\n"
    "in: own (leaf) and total (on the stack) share over the last seconds or\n"
    "since start, per thread and process. The targets are never stopped\n"
    "(but with --native).\n"
    "  -p, --pid PID          the process to watch; repeat --pid (or give\n"
    "                         PID,PID,...) to watch several in one view\n"
    "  --subprocesses         also every Python descendant of the targets,\n"
    "                         present and future (workers, pools), each\n"
    "                         until it exits; the foot lists the processes\n"
    "  -r, --rate HZ          samples per second (default 100)\n"
    "  --mode wall|cpu        wall (default): where time goes; cpu: weigh\n"
    "                         samples by the CPU time their thread used\n"
    "  --gil                  only the thread holding the GIL\n"
    "  --idle                 wall mode: keep threads that are not running\n"
    "  --async                a thread running an asyncio task at the\n"
    "                         task's logical stack, awaiters included\n"
    "                         (CPython 3.11+, docs/asyncio.md)\n"
    "  --native               also the C/C++ frames (extensions, libraries,\n"
    "                         the interpreter); stops the targets at each\n"
    "                         tick like record --native (docs/native.md)\n"
    "  --native-all           --native keeping the interpreter's own frames\n"
    "  --recent SECONDS       what \"recent\" covers (default 5)\n"
    "  --thread NAME|TID|pid:PID\n"
    "                         start filtered to matching threads: a thread\n"
    "                         name (part of it), a tid, or a process's\n"
    "                         threads\n"
    "keys: q quit, p pause, s sort (own/total/name), r recent/since start,\n"
    "t next thread, P next process, a all threads, / thread filter, h help.\n";

// How often the view gets a window of the aggregation.
constexpr double kWindowS = 0.5;
// The screen and the keys are served between ticks: at least one a second.
constexpr RateRange kTopRates{1, true, 10000};

struct TopArgs {
  RecordingOptions recording;
  LiveViewOptions view;
  std::string thread_filter;
};

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// The target and sampler options are record's (recording_args.h).
std::optional<TopArgs> ParseArgs(const std::vector<std::string>& args,
                                 std::string* error) {
  TopArgs o;
  RecordingOptions& r = o.recording;
  SamplerOptions& s = r.sampler;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    if (ParseTargetOption(args, &i, &r, error) ||
        ParseSamplerOption(args, &i, kTopRates, &s, error)) {
      if (!error->empty()) return std::nullopt;
    } else if (a == "--recent") {
      if (!OptionValue(args, &i, &v, error)) return std::nullopt;
      if (!absl::SimpleAtod(v, &o.view.recent_s) ||
          !(o.view.recent_s >= 1 && o.view.recent_s <= 3600)) {
        *error =
            "--recent wants a number of seconds in [1, 3600], not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--thread") {
      if (!OptionValue(args, &i, &o.thread_filter, error)) return std::nullopt;
    } else {
      *error = "unknown argument '" + a + "'";
      return std::nullopt;
    }
  }
  if (r.pid == 0) {
    *error = "top needs --pid PID[,PID...]";
    return std::nullopt;
  }
  // A live view: no files, and the target never stopped unless --native
  // asks for its C frames (which implies the blocking mode, Sampler).
  s.blocking = s.native;
  r.checkpoint_s = 0;
  r.window_s = kWindowS;
  return o;
}

std::string ModeName(const SamplerOptions& s) {
  std::string m = s.mode == WeightMode::kCpu ? "cpu" : "wall";
  if (s.gil_only) m += " gil";
  if (s.include_idle) m += " idle";
  if (s.async_tasks) m += " async";
  if (s.native) m += s.native_all ? " native-all" : " native";
  return m;
}

}  // namespace

int RunTop(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  }
  std::string error;
  std::optional<TopArgs> parsed = ParseArgs(args, &error);
  if (!parsed) {
    PrintError((error + " (see pystrobe top --help)").c_str());
    return kExitUsage;
  }
  TopArgs& o = *parsed;
  RecordingOptions& r = o.recording;
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    PrintError(
        "top needs a terminal (stdin and stdout); to save a profile, "
        "use pystrobe record");
    return kExitUsage;
  }
  if (int code = CheckTargetsExist(r); code != 0) return code;

  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &action, nullptr);

  LiveView view(o.view);
  std::optional<LiveView> frozen;  // what a paused screen shows
  LiveSink sink(&view);
  TopState state;
  state.query.thread_filter = o.thread_filter;
  TopHeader header;
  header.pid = r.pid;
  for (pid_t p : r.pids) {  // a pid given twice is one target
    if (p != r.pid &&
        std::find(header.more_pids.begin(), header.more_pids.end(), p) ==
            header.more_pids.end()) {
      header.more_pids.push_back(p);
    }
  }
  header.subprocesses = r.subprocesses;
  header.mode = ModeName(r.sampler);
  header.rate_hz = r.sampler.rate_hz;
  RawTerminal terminal;
  absl::Status terminal_status;

  // Called about 4 times a second on the sampling thread, between ticks:
  // keys, then the screen. The terminal is taken only once sampling runs,
  // so that a target that cannot be read gets a plain error line.
  auto on_progress = [&](const RunSummary& run, int) {
    if (!terminal.active()) {
      terminal_status = terminal.Enter();
      if (!terminal_status.ok()) {
        g_stop.store(true);
        return;
      }
    }
    const KeyResult keys = HandleKeys(
        terminal.ReadKeys(), (frozen ? *frozen : view).Threads(), &state);
    if (keys == KeyResult::kQuit) {
      g_stop.store(true);
      return;
    }
    if (state.paused && !frozen) frozen.emplace(view);
    if (!state.paused) frozen.reset();
    header.achieved_hz = run.stats.achieved_rate_hz();
    header.elapsed_s = static_cast<double>(run.stats.elapsed_ns) / 1e9;
    header.errors = run.stats.errors;
    if (!state.paused) {  // the wait line freezes with the view
      header.ran_s = run.ran_s;
      header.wait_s = run.wait_s;
      header.waits = run.waits;
    }
    int columns = 80, rows = 24;
    terminal.Size(&columns, &rows);
    // One column spare: a full last line would scroll some terminals.
    terminal.Write(ScreenBytes(
        RenderTop(frozen ? *frozen : view, state, header, columns - 1, rows)));
  };
  absl::StatusOr<RecordingResult> result =
      Recording(r).Run(g_stop, on_progress, &sink);
  terminal.Restore();
  if (!terminal_status.ok()) {
    PrintError(terminal_status);
    return kExitUsage;
  }
  if (!result.ok()) {
    absl::Status status = ExplainFailure(r.pid, result.status());
    PrintError(status);
    return ExitCodeFor(status, /*attached=*/true);
  }
  if (result->stats.target_exited) {
    if (r.pids.empty() && !r.subprocesses) {
      std::fprintf(stderr, "pystrobe: process %d exited\n", r.pid);
    } else {
      std::fprintf(stderr, "pystrobe: every process watched exited\n");
    }
  }
  return kExitOk;
}

}  // namespace pystrobe
