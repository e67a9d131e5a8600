#include "record.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "exit_codes.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/sampler/sampler.h"
#include "summary.h"

namespace pystrobe {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe record (--pid PID | -- COMMAND [ARGS...]) [options]\n"
    "\n"
    "Samples every thread of a CPython process and writes a profile.\n"
    "  -p, --pid PID          attach to a running process\n"
    "  -- COMMAND ARGS...     launch COMMAND, profile it until it exits, and\n"
    "                         exit with its exit status\n"
    "  -o, --output FILE      default pystrobe-PID-YYYYmmdd-HHMMSS.EXT\n"
    "  -f, --format FORMAT    pprof (default, .pb.gz), collapsed (.txt),\n"
    "                         speedscope (.speedscope.json), flamegraph "
    "(.svg)\n"
    "  -r, --rate HZ          samples per second (default 100)\n"
    "  -d, --duration SECONDS stop after this long (default: until the target\n"
    "                         exits or Ctrl-C)\n"
    "  --mode wall|cpu        wall (default): where time goes, waiting\n"
    "                         included; cpu: weigh each sample by the CPU "
    "time\n"
    "                         its thread used since its previous sample\n"
    "  --gil                  only sample the thread holding the GIL\n"
    "  --idle                 wall mode: keep threads that are not running\n"
    "  --blocking             stop the target for each sample (consistent\n"
    "                         stacks; slows the target)\n"
    "  --function             aggregate per function, without line numbers\n"
    "  --threads              a root frame per thread (collapsed, speedscope,\n"
    "                         flamegraph; pprof always has thread labels)\n";

enum class Format { kPprof, kCollapsed, kSpeedscope, kFlameGraph };

struct RecordOptions {
  pid_t pid = 0;
  std::vector<std::string> command;
  std::string output;
  Format format = Format::kPprof;
  SamplerOptions sampler;
  bool per_thread = false;
};

std::atomic<bool> g_stop{false};
std::atomic<pid_t> g_child{0};

// SIGINT/SIGTERM: stop sampling. In launch mode the signal also goes to the
// child, unless the terminal sent it (si_code > 0: SI_KERNEL), in which case
// the child, in the same foreground process group, already received it.
void OnSignal(int sig, siginfo_t* info, void*) {
  g_stop.store(true);
  pid_t child = g_child.load();
  if (child > 0 && info != nullptr && info->si_code <= 0) kill(child, sig);
}

const char* Extension(Format f) {
  switch (f) {
    case Format::kPprof:
      return "pb.gz";
    case Format::kCollapsed:
      return "txt";
    case Format::kSpeedscope:
      return "speedscope.json";
    case Format::kFlameGraph:
      return "svg";
  }
  return "out";
}

std::optional<RecordOptions> ParseArgs(const std::vector<std::string>& args,
                                       std::string* error) {
  RecordOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      o.command.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      if (o.command.empty()) {
        *error = "-- must be followed by a command";
        return std::nullopt;
      }
      break;
    }
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) {
        *error = a + " needs a value";
        return false;
      }
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-p" || a == "--pid") {
      int pid = 0;
      if (!value(&v)) return std::nullopt;
      if (!absl::SimpleAtoi(v, &pid) || pid <= 0) {
        *error = "--pid wants a process ID, not '" + v + "'";
        return std::nullopt;
      }
      o.pid = pid;
    } else if (a == "-o" || a == "--output") {
      if (!value(&o.output)) return std::nullopt;
    } else if (a == "-f" || a == "--format") {
      if (!value(&v)) return std::nullopt;
      if (v == "pprof")
        o.format = Format::kPprof;
      else if (v == "collapsed")
        o.format = Format::kCollapsed;
      else if (v == "speedscope")
        o.format = Format::kSpeedscope;
      else if (v == "flamegraph")
        o.format = Format::kFlameGraph;
      else {
        *error = "unknown format '" + v +
                 "' (pprof, collapsed, speedscope, flamegraph)";
        return std::nullopt;
      }
    } else if (a == "-r" || a == "--rate") {
      if (!value(&v)) return std::nullopt;
      if (!absl::SimpleAtod(v, &o.sampler.rate_hz) ||
          !(o.sampler.rate_hz > 0 && o.sampler.rate_hz <= 100000)) {
        *error = "--rate wants a number of Hz in (0, 100000], not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "-d" || a == "--duration") {
      if (!value(&v)) return std::nullopt;
      if (!absl::SimpleAtod(v, &o.sampler.duration_s) ||
          !(o.sampler.duration_s > 0)) {
        *error =
            "--duration wants a positive number of seconds, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--mode") {
      if (!value(&v)) return std::nullopt;
      if (v == "wall")
        o.sampler.mode = WeightMode::kWall;
      else if (v == "cpu")
        o.sampler.mode = WeightMode::kCpu;
      else {
        *error = "--mode is wall or cpu, not '" + v + "'";
        return std::nullopt;
      }
    } else if (a == "--gil") {
      o.sampler.gil_only = true;
    } else if (a == "--idle") {
      o.sampler.include_idle = true;
    } else if (a == "--blocking") {
      o.sampler.blocking = true;
    } else if (a == "--nonblocking") {
      o.sampler.blocking = false;
    } else if (a == "--function") {
      o.sampler.lines = false;
    } else if (a == "--threads") {
      o.per_thread = true;
    } else {
      *error = "unknown argument '" + a + "'";
      return std::nullopt;
    }
  }
  if ((o.pid == 0) == o.command.empty()) {
    *error = "record needs either --pid PID or -- COMMAND";
    return std::nullopt;
  }
  return o;
}

std::string DefaultOutput(pid_t pid, Format format) {
  time_t now = time(nullptr);
  tm local;
  localtime_r(&now, &local);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &local);
  return absl::StrFormat("pystrobe-%d-%s.%s", pid, stamp, Extension(format));
}

// Launch mode: the command has just been exec'd, its interpreter may not be
// loaded yet. Retry attaching until it is, the child exits, or 10 s pass.
// If the child exits first, it is reaped and its wait status stored in
// `*exited`.
absl::StatusOr<std::unique_ptr<PythonProcess>> AttachLaunched(
    pid_t child, std::optional<int>* exited) {
  absl::Status last;
  for (int i = 0; i < 1000 && !g_stop.load(); ++i) {
    absl::StatusOr<std::unique_ptr<PythonProcess>> p =
        PythonProcess::Attach(child);
    if (p.ok() || IsUnsupportedVersion(p.status()) ||
        IsNoPermission(p.status())) {
      return p;
    }
    last = p.status();
    int status;
    if (waitpid(child, &status, WNOHANG) == child) {
      *exited = status;
      return ProcessGoneError(absl::StrCat(
          "the command exited before its interpreter could be found (",
          last.message(), ")"));
    }
    usleep(10'000);
  }
  return last;
}

std::string Render(const Profile& profile, const RecordOptions& o,
                   absl::Status* status) {
  RenderOptions r;
  r.per_thread = o.per_thread;
  r.lines = o.sampler.lines;
  switch (o.format) {
    case Format::kPprof: {
      absl::StatusOr<std::string> bytes = EncodePprof(profile);
      if (!bytes.ok()) {
        *status = bytes.status();
        return "";
      }
      return *std::move(bytes);
    }
    case Format::kCollapsed:
      return RenderCollapsed(profile, r);
    case Format::kSpeedscope:
      return RenderSpeedscope(profile, r);
    case Format::kFlameGraph:
      return RenderFlameGraph(profile, r);
  }
  return "";
}

void PrintStatus(const SamplerStats& s) {
  double seconds = static_cast<double>(s.elapsed_ns) / 1e9;
  std::fprintf(stderr,
               "\rpystrobe: %.1f s, %llu samples, %.1f Hz, %llu errors\x1b[K",
               seconds, static_cast<unsigned long long>(s.samples),
               // The rate means little in the first moments.
               seconds >= 0.5 ? static_cast<double>(s.ticks) / seconds : 0.0,
               static_cast<unsigned long long>(s.errors));
}

int ExitStatusOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitFailure;
}

}  // namespace

int RunRecord(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  }
  std::string error;
  std::optional<RecordOptions> parsed = ParseArgs(args, &error);
  if (!parsed) {
    PrintError((error + " (see pystrobe record --help)").c_str());
    return kExitUsage;
  }
  RecordOptions& o = *parsed;

  struct sigaction action {};
  action.sa_sigaction = OnSignal;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  pid_t child = 0;
  if (!o.command.empty()) {
    std::vector<char*> argv;
    for (std::string& a : o.command) argv.push_back(a.data());
    argv.push_back(nullptr);
    child = fork();
    if (child < 0) {
      PrintError(absl::ErrnoToStatus(errno, "fork"));
      return kExitFailure;
    }
    if (child == 0) {
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      execvp(argv[0], argv.data());
      std::fprintf(stderr, "pystrobe: cannot run %s: %s\n", argv[0],
                   std::strerror(errno));
      _exit(127);
    }
    g_child.store(child);
    o.pid = child;
  }
  auto finish_child = [&](int code) {
    if (child == 0) return code;
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return ExitStatusOf(status);
  };

  if (child == 0) {
    if (absl::Status exists = ProcFs().CheckExists(o.pid); !exists.ok()) {
      PrintError(exists);
      return ExitCodeFor(exists, /*attached=*/false);
    }
  }
  std::optional<int> exited_early;
  absl::StatusOr<std::unique_ptr<PythonProcess>> python =
      child != 0 ? AttachLaunched(child, &exited_early)
                 : PythonProcess::Attach(o.pid);
  if (!python.ok() && exited_early) {
    PrintError((std::string(python.status().message()) + "; no profile written")
                   .c_str());
    return ExitStatusOf(*exited_early);
  }
  if (!python.ok()) {
    absl::Status status =
        child != 0 ? python.status() : ExplainFailure(o.pid, python.status());
    PrintError(status);
    if (child != 0) {
      // The child is ours: do not leave it running unprofiled.
      kill(child, SIGTERM);
      finish_child(0);
    }
    return ExitCodeFor(status, /*attached=*/true);
  }
  if (o.output.empty()) o.output = DefaultOutput(o.pid, o.format);
  std::string cmdline =
      ProcFs().CommandLine(o.pid).value_or(absl::StrJoin(o.command, " "));

  Sampler sampler(python->get(), o.sampler);
  const bool tty = isatty(STDERR_FILENO) != 0;
  absl::Status run = sampler.Run(g_stop, [tty](const SamplerStats& s) {
    if (tty) PrintStatus(s);
  });
  if (tty) std::fputs("\r\x1b[K", stderr);
  if (!run.ok()) {
    run = ExplainFailure(o.pid, run);
    PrintError(run);
    if (child != 0) {
      kill(child, SIGTERM);
      finish_child(0);
    }
    return ExitCodeFor(run, /*attached=*/true);
  }

  Profile profile = sampler.BuildProfile(
      {absl::StrCat("command_line=", cmdline),
       absl::StrCat("pystrobe_version=", PYSTROBE_VERSION)});
  absl::Status status;
  std::string bytes = Render(profile, o, &status);
  if (status.ok()) status = WriteFileAtomically(o.output, bytes);
  if (!status.ok()) {
    PrintError(status);
    finish_child(0);
    return kExitFailure;
  }
  std::fputs(FormatSummary(profile, sampler.stats(), o.output).c_str(), stderr);
  return finish_child(kExitOk);
}

}  // namespace pystrobe
