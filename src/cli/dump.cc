#include "dump.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "exit_codes.h"
#include "json_writer.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/native/native_stacks.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/process_tree.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe dump (-p|--pid) PID [--json] [--nonblocking]\n"
    "                     [--native | --native-all] [--subprocesses]\n"
    "\n"
    "Prints the Python stack of every thread of process PID, innermost frame\n"
    "first.\n"
    "  -p, --pid PID   the CPython process to read\n"
    "  --json          one JSON object instead of text\n"
    "  --nonblocking   do not stop the target while reading (by default its\n"
    "                  threads are stopped for a few milliseconds, so every\n"
    "                  stack is consistent)\n"
    "  --subprocesses  also every Python descendant of PID (workers, pool\n"
    "                  processes); JSON: {\"processes\": [one object per\n"
    "                  process]}\n"
    "  --native        also the C/C++ frames (extensions, libraries, the\n"
    "                  interpreter), merged with the Python frames; stops\n"
    "                  every thread, sleeping ones too (docs/native.md)\n"
    "  --native-all    --native without folding the interpreter's own call\n"
    "                  machinery (eval loop, call trampolines, start-up)\n"
    "\n"
    "Thread names are the OS's (/proc/PID/task/TID/comm): CPython 3.14+ sets\n"
    "them from threading.Thread.name, older versions leave the program's\n"
    "name unless the program sets one. A free-threaded build running without\n"
    "its GIL says \"no GIL\" (JSON: \"gil\": null) instead of a GIL holder.\n";

struct DumpOptions {
  pid_t pid = 0;
  bool json = false;
  bool nonblocking = false;
  bool subprocesses = false;
  bool native = false;
  bool native_all = false;
};

// Attempts at a consistent snapshot when the target keeps running (or, in
// blocking mode, when a sleeping thread woke up during the read).
constexpr int kSnapshotAttempts = 5;

std::optional<DumpOptions> ParseArgs(const std::vector<std::string>& args,
                                     std::string* error) {
  DumpOptions options;
  bool have_pid = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string value;
    if (arg == "--pid" || arg == "-p") {
      if (i + 1 >= args.size()) {
        *error = "--pid needs a value";
        return std::nullopt;
      }
      value = args[++i];
    } else if (arg.rfind("--pid=", 0) == 0) {
      value = arg.substr(6);
    } else if (arg == "--json") {
      options.json = true;
      continue;
    } else if (arg == "--nonblocking") {
      options.nonblocking = true;
      continue;
    } else if (arg == "--subprocesses") {
      options.subprocesses = true;
      continue;
    } else if (arg == "--native" || arg == "--native-all") {
      options.native = true;
      options.native_all |= arg == "--native-all";
      continue;
    } else {
      *error = absl::StrCat("unknown argument '", arg, "'");
      return std::nullopt;
    }
    int pid = 0;
    if (!absl::SimpleAtoi(value, &pid) || pid <= 0) {
      *error = absl::StrCat("--pid wants a process ID, not '", value, "'");
      return std::nullopt;
    }
    options.pid = pid;
    have_pid = true;
  }
  if (!have_pid) {
    *error = "dump needs --pid PID";
    return std::nullopt;
  }
  if (options.native && options.nonblocking) {
    *error = "--native stops the target to unwind it: drop --nonblocking";
    return std::nullopt;
  }
  return options;
}

struct ThreadView {
  const PyThread* thread;
  std::string name;
  bool active = false;
  // --native: why the thread shows its Python frames only ("" if merged).
  std::string native_note;
};

// A native frame's file: its source file, else the module it is in.
std::string NativeWhere(const Frame& f) {
  if (f.code->filename != f.code->native_module && f.line > 0) {
    return absl::StrCat(f.code->filename, ":", f.line);
  }
  return f.code->native_module;
}

std::string RenderJson(const PythonProcess& python,
                       const std::vector<ThreadView>& views) {
  std::string out;
  JsonWriter json(&out);
  json.BeginObject();
  json.Key("pid");
  json.Int(python.pid());
  json.Key("python_version");
  json.String(python.version().ToString());
  json.Key("free_threaded");
  json.Bool(python.version().free_threaded);
  json.Key("gil_enabled");
  json.Bool(python.gil_enabled());
  json.Key("threads");
  json.BeginArray();
  const bool has_qualname = python.version().AtLeast(3, 11);
  for (const ThreadView& v : views) {
    const PyThread& t = *v.thread;
    json.BeginObject();
    json.Key("thread_id");
    json.Uint(t.thread_id);
    json.Key("native_id");
    json.Int(t.native_id);
    json.Key("name");
    json.String(v.name);
    json.Key("active");
    json.Bool(v.active);
    json.Key("gil");
    if (python.gil_enabled()) {
      json.Bool(t.holds_gil);
    } else {
      json.Null();
    }
    if (!t.status.ok()) {
      json.Key("error");
      json.String(std::string(t.status.message()));
    }
    if (!v.native_note.empty()) {
      json.Key("native_error");
      json.String(v.native_note);
    }
    json.Key("frames");
    json.BeginArray();
    for (const Frame& f : t.frames) {
      json.BeginObject();
      json.Key("function");
      json.String(f.code->name);
      if (f.code->is_native()) {
        json.Key("native");
        json.Bool(true);
        json.Key("module");
        json.String(f.code->native_module);
      }
      if (has_qualname) {
        json.Key("qualname");
        json.String(f.code->qualname);
      }
      json.Key("file");
      json.String(f.code->filename);
      json.Key("line");
      json.Int(f.line);
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  out.push_back('\n');
  return out;
}

std::string RenderText(const PythonProcess& python, const std::string& cmdline,
                       const std::vector<ThreadView>& views) {
  const char* flavour = !python.version().free_threaded ? ""
                        : python.gil_enabled() ? " free-threaded, GIL enabled"
                                               : " free-threaded, no GIL";
  std::string out = absl::StrFormat(
      "Process %d: %s\nPython %s%s (%s)\n", python.pid(), cmdline,
      python.version().ToString(), flavour, python.binary());
  const bool has_qualname = python.version().AtLeast(3, 11);
  for (const ThreadView& v : views) {
    const PyThread& t = *v.thread;
    absl::StrAppendFormat(&out, "\nThread 0x%x (native %d) \"%s\" %s%s\n",
                          t.thread_id, t.native_id, v.name,
                          v.active ? "active" : "idle",
                          t.holds_gil ? ", holds the GIL" : "");
    if (!t.status.ok()) {
      absl::StrAppendFormat(&out, "    <stack unreadable: %s>\n",
                            std::string(t.status.message()));
    }
    if (!v.native_note.empty()) {
      absl::StrAppendFormat(&out, "    <native frames left out: %s>\n",
                            v.native_note);
    }
    for (const Frame& f : t.frames) {
      if (f.code->is_native()) {
        absl::StrAppendFormat(&out, "    %s (%s) [native]\n", f.code->name,
                              NativeWhere(f));
        continue;
      }
      const std::string& name = has_qualname && !f.code->qualname.empty()
                                    ? f.code->qualname
                                    : f.code->name;
      absl::StrAppendFormat(&out, "    %s (%s:%d)\n", name, f.code->filename,
                            f.line);
    }
  }
  return out;
}

bool AllConsistent(const std::vector<PyThread>& threads) {
  for (const PyThread& t : threads) {
    if (!t.status.ok()) return false;
  }
  return true;
}

// The stacks of process `pid`, rendered; errors explained (ExplainFailure).
absl::StatusOr<std::string> DumpProcess(const ProcFs& proc, pid_t pid,
                                        const DumpOptions& o) {
  absl::StatusOr<std::unique_ptr<PythonProcess>> python =
      PythonProcess::Attach(pid);
  if (!python.ok()) {
    return ExplainFailure(pid, python.status());
  }
  // Thread states before any stop: a stopped thread reads as 't'.
  absl::flat_hash_map<pid_t, ThreadInfo> os_threads;
  if (auto listed = proc.ListThreads(pid); listed.ok()) {
    for (ThreadInfo& t : *listed) os_threads[t.tid] = std::move(t);
  }
  std::string cmdline = proc.CommandLine(pid).value_or("?");

  absl::StatusOr<std::vector<PyThread>> threads;
  absl::flat_hash_map<pid_t, std::string> native_notes;
  if (o.native) {
    absl::StatusOr<std::unique_ptr<NativeStacks>> native =
        NativeStacks::Create(**python, {.keep_all = o.native_all});
    if (!native.ok()) {
      return ExplainFailure(pid, native.status());
    }
    // Every thread is stopped: a sleeping thread's registers can only be
    // read while it is stopped (its system call is restarted on resume).
    absl::StatusOr<PtraceSuspension> stop = PtraceSuspension::Suspend(pid);
    if (!stop.ok()) {
      return ExplainFailure(pid, stop.status());
    }
    threads = (*python)->ReadThreads();
    if (threads.ok()) {
      for (PyThread& t : *threads) {
        switch ((*native)->Merge(&t)) {
          case NativeOutcome::kMerged:
            break;
          case NativeOutcome::kUnwindFailed:
            native_notes[t.native_id] = "the native stack could not be read";
            break;
          case NativeOutcome::kMismatch: {
            // Shown, innermost first, so that the failure can be judged.
            std::string note = absl::StrCat(
                "its ", (*native)->last_native().size(),
                " native frames do not pair up with its Python frames:");
            for (const NativeFrame& f : (*native)->last_native()) {
              absl::StrAppend(&note, "\n      | ", f.symbol->code->name, " (",
                              f.symbol->module, ")");
            }
            native_notes[t.native_id] = std::move(note);
            break;
          }
        }
      }
    }
    stop->Resume();
  } else if (o.nonblocking) {
    for (int attempt = 0; attempt < kSnapshotAttempts; ++attempt) {
      threads = (*python)->ReadThreads();
      if (!threads.ok() || AllConsistent(*threads)) break;
    }
  } else {
    // Running threads are stopped; sleeping ones are left asleep (stopping
    // them would cut their system calls short, see ptrace.h) and the read
    // is tried again if one of them woke up meanwhile.
    std::vector<pid_t> woke;
    for (int attempt = 0; attempt < kSnapshotAttempts; ++attempt) {
      absl::StatusOr<PtraceSuspension> stop =
          PtraceSuspension::Suspend(pid, {.leave_sleepers = true});
      if (!stop.ok()) {
        return ExplainFailure(pid, stop.status());
      }
      threads = (*python)->ReadThreads();
      woke = stop->SleepersThatRan();
      stop->Resume();
      if (!threads.ok() || woke.empty()) break;
    }
    if (threads.ok()) {
      for (PyThread& t : *threads) {
        if (std::find(woke.begin(), woke.end(), t.native_id) == woke.end()) {
          continue;
        }
        t.frames.clear();
        t.status = InconsistentError("the thread woke up while it was read");
      }
    }
  }
  if (!threads.ok()) {
    return ExplainFailure(pid, threads.status());
  }

  std::vector<ThreadView> views;
  for (const PyThread& t : *threads) {
    ThreadView v{&t, "", false, ""};
    if (auto it = native_notes.find(t.native_id); it != native_notes.end()) {
      v.native_note = it->second;
    }
    if (auto it = os_threads.find(t.native_id); it != os_threads.end()) {
      v.name = it->second.name;
      v.active = it->second.state == 'R';
    }
    views.push_back(std::move(v));
  }
  return o.json ? RenderJson(**python, views)
                : RenderText(**python, cmdline, views);
}

}  // namespace

int RunDump(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  }
  std::string error;
  std::optional<DumpOptions> options = ParseArgs(args, &error);
  if (!options) {
    PrintError(absl::StrCat(error, " (see pystrobe dump --help)").c_str());
    return kExitUsage;
  }
  ProcFs proc;
  if (absl::Status exists = proc.CheckExists(options->pid); !exists.ok()) {
    PrintError(exists);
    return ExitCodeFor(exists, /*attached=*/false);
  }
  std::string out;
  if (!options->subprocesses) {
    absl::StatusOr<std::string> one = DumpProcess(proc, options->pid, *options);
    if (!one.ok()) {
      PrintError(one.status());
      return ExitCodeFor(one.status(), /*attached=*/true);
    }
    out = *std::move(one);
  } else {
    // The process and its Python descendants; what is not Python (a shell,
    // a launcher) or exits meanwhile is passed over. JSON: one object
    // {"processes": [...]} of the per-process objects.
    std::vector<pid_t> pids = {options->pid};
    for (pid_t p : Descendants(proc, options->pid)) pids.push_back(p);
    std::vector<std::string> dumps;
    absl::Status first_error;
    for (pid_t p : pids) {
      absl::StatusOr<std::string> one = DumpProcess(proc, p, *options);
      if (one.ok()) {
        if (options->json && !one->empty() && one->back() == '\n') {
          one->pop_back();
        }
        dumps.push_back(*std::move(one));
      } else if (p == options->pid && !IsNotPython(one.status())) {
        first_error = one.status();
      }
    }
    if (dumps.empty()) {
      absl::Status status =
          first_error.ok()
              ? NotPythonError(absl::StrCat("no Python process in process ",
                                            options->pid, " or its children"))
              : first_error;
      PrintError(status);
      return ExitCodeFor(status, /*attached=*/true);
    }
    out = options->json ? absl::StrCat("{\"processes\":[",
                                       absl::StrJoin(dumps, ","), "]}\n")
                        : absl::StrJoin(dumps, "\n");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace pystrobe
