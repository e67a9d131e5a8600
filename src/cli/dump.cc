#include "dump.h"

#include <algorithm>
#include <cstdio>
#include <functional>
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
#include "pystrobe/python/async_tasks.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe dump (-p|--pid) PID [--json] [--nonblocking]\n"
    "                     [--native | --native-all] [--subprocesses]\n"
    "                     [--async]\n"
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
    "  --async         also the asyncio tasks of every event loop: name,\n"
    "                  state, coroutine chain, what awaits what (the task\n"
    "                  tree, as python -m asyncio pstree prints it), and\n"
    "                  tasks awaiting each other in a ring (CPython 3.11+;\n"
    "                  elsewhere one line says why and the thread stacks\n"
    "                  stand alone, docs/asyncio.md)\n"
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
  bool async = false;
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
    } else if (arg == "--async") {
      options.async = true;
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

// --async: what ReadTasks gave.
struct AsyncView {
  absl::Status status;  // IsUnsupportedAsync: why there are no tasks
  AsyncSnapshot snapshot;
};

void WriteFrames(JsonWriter& json, const std::vector<Frame>& frames,
                 bool has_qualname) {
  json.Key("frames");
  json.BeginArray();
  for (const Frame& f : frames) {
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
}

// "async": {"error": "..."} when the tasks cannot be read, else loops,
// tasks (frames innermost first, awaited_by and its inverse awaits, as task
// ids: the Task objects' addresses, id(task) in the target) and cycles.
void WriteAsync(JsonWriter& json, const AsyncView& a, bool has_qualname) {
  json.Key("async");
  json.BeginObject();
  if (!a.status.ok()) {
    json.Key("error");
    json.String(std::string(a.status.message()));
    json.EndObject();
    return;
  }
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> awaits;
  for (const AsyncTask& t : a.snapshot.tasks) {
    for (uint64_t by : t.awaited_by) awaits[by].push_back(t.address);
  }
  json.Key("loops");
  json.BeginArray();
  for (const AsyncSnapshot::Loop& l : a.snapshot.loops) {
    json.BeginObject();
    json.Key("thread_id");
    json.Uint(l.thread_id);
    json.Key("loop");
    json.Uint(l.loop);
    json.Key("running_task");
    json.Uint(l.running_task);
    json.EndObject();
  }
  json.EndArray();
  json.Key("tasks");
  json.BeginArray();
  for (const AsyncTask& t : a.snapshot.tasks) {
    json.BeginObject();
    json.Key("id");
    json.Uint(t.address);
    json.Key("name");
    json.String(t.name);
    json.Key("state");
    json.String(TaskStateName(t.state));
    json.Key("thread_id");
    json.Uint(t.thread_id);
    if (!t.status.ok()) {
      json.Key("error");
      json.String(std::string(t.status.message()));
    }
    json.Key("awaited_by");
    json.BeginArray();
    for (uint64_t by : t.awaited_by) json.Uint(by);
    json.EndArray();
    json.Key("awaits");
    json.BeginArray();
    if (auto it = awaits.find(t.address); it != awaits.end()) {
      for (uint64_t to : it->second) json.Uint(to);
    }
    json.EndArray();
    WriteFrames(json, t.frames, has_qualname);
    json.EndObject();
  }
  json.EndArray();
  json.Key("cycles");
  json.BeginArray();
  for (const std::vector<uint64_t>& cycle : FindAwaitCycles(a.snapshot)) {
    json.BeginArray();
    for (uint64_t id : cycle) json.Uint(id);
    json.EndArray();
  }
  json.EndArray();
  json.Key("errors");
  json.Int(a.snapshot.errors);
  json.EndObject();
}

// The task tree as `python -m asyncio pstree` draws it: each root task,
// its coroutine chain outermost first, and under its innermost frame the
// tasks it awaits; then the tasks caught in await cycles.
std::string RenderAsyncText(const AsyncView& a, bool has_qualname) {
  if (!a.status.ok()) {
    return absl::StrCat("\n", std::string(a.status.message()), "\n");
  }
  const AsyncSnapshot& snap = a.snapshot;
  std::string out =
      absl::StrFormat("\nasyncio: %d task%s in %d event loop%s",
                      snap.tasks.size(), snap.tasks.size() == 1 ? "" : "s",
                      snap.loops.size(), snap.loops.size() == 1 ? "" : "s");
  if (snap.errors > 0) absl::StrAppend(&out, ", ", snap.errors, " unreadable");
  out += "\n";
  absl::flat_hash_map<uint64_t, const AsyncTask*> by_address;
  absl::flat_hash_map<uint64_t, std::vector<const AsyncTask*>> children;
  for (const AsyncTask& t : snap.tasks) by_address[t.address] = &t;
  for (const AsyncTask& t : snap.tasks) {
    for (uint64_t by : t.awaited_by) children[by].push_back(&t);
  }
  auto frame_text = [&](const Frame& f) {
    const std::string& name = has_qualname && !f.code->qualname.empty()
                                  ? f.code->qualname
                                  : f.code->name;
    return absl::StrFormat("%s %s:%d", name, f.code->filename, f.line);
  };
  absl::flat_hash_map<uint64_t, bool> drawn;
  // Depth-first; `prefix` is the indentation of this task's line.
  std::function<void(const AsyncTask&, const std::string&, bool)> draw =
      [&](const AsyncTask& t, const std::string& prefix, bool last) {
        absl::StrAppend(&out, prefix,
                        last ? "\u2514\u2500\u2500 " : "\u251c\u2500\u2500 ",
                        "(T) ", t.name, " [", TaskStateName(t.state), "]");
        if (!t.status.ok()) {
          absl::StrAppend(&out, " <unreadable: ", t.status.message(), ">");
        }
        out += "\n";
        std::string inner = prefix + (last ? "    " : "\u2502   ");
        if (drawn[t.address]) {
          absl::StrAppend(&out, inner, "\u2514\u2500\u2500 (shown above)\n");
          return;
        }
        drawn[t.address] = true;
        // Outermost first down to the innermost frame, each one level in.
        for (auto f = t.frames.rbegin(); f != t.frames.rend(); ++f) {
          absl::StrAppend(&out, inner, "\u2514\u2500\u2500  ", frame_text(*f),
                          "\n");
          inner += "    ";
        }
        auto it = children.find(t.address);
        if (it == children.end()) return;
        for (size_t i = 0; i < it->second.size(); ++i) {
          draw(*it->second[i], inner, i + 1 == it->second.size());
        }
      };
  std::vector<const AsyncTask*> roots;
  for (const AsyncTask& t : snap.tasks) {
    bool has_awaiter = false;
    for (uint64_t by : t.awaited_by) has_awaiter |= by_address.contains(by);
    if (!has_awaiter) roots.push_back(&t);
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    draw(*roots[i], "", i + 1 == roots.size());
  }
  // Tasks no root leads to: those awaiting each other in a ring, and what
  // awaits them.
  for (const AsyncTask& t : snap.tasks) {
    if (!drawn[t.address]) draw(t, "", true);
  }
  for (const std::vector<uint64_t>& cycle : FindAwaitCycles(snap)) {
    std::vector<std::string> names;
    for (uint64_t id : cycle) names.push_back(by_address[id]->name);
    names.push_back(by_address[cycle.front()]->name);
    absl::StrAppend(&out, "warning: tasks await each other in a cycle: ",
                    absl::StrJoin(names, " \u2192 "), "\n");
  }
  return out;
}

std::string RenderJson(const PythonProcess& python,
                       const std::vector<ThreadView>& views,
                       const AsyncView* async) {
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
    WriteFrames(json, t.frames, has_qualname);
    json.EndObject();
  }
  json.EndArray();
  if (async != nullptr) WriteAsync(json, *async, has_qualname);
  json.EndObject();
  out.push_back('\n');
  return out;
}

std::string RenderText(const PythonProcess& python, const std::string& cmdline,
                       const std::vector<ThreadView>& views,
                       const AsyncView* async) {
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
  if (async != nullptr) out += RenderAsyncText(*async, has_qualname);
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
  // --async: tasks are read in the same stop as the threads, whose stacks
  // give the running task's frames.
  std::optional<AsyncView> async;
  auto read_tasks = [&] {
    if (!o.async || !threads.ok()) return;
    async.emplace();
    async->status = (*python)->ReadTasks(*threads, &async->snapshot);
  };
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
    read_tasks();
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
      read_tasks();
      if (!threads.ok() || (AllConsistent(*threads) &&
                            (!async || async->snapshot.errors == 0))) {
        break;
      }
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
      read_tasks();
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
  if (async && !async->status.ok() && !IsUnsupportedAsync(async->status)) {
    // A read that failed as a whole (the target exited, its memory moved):
    // said like an unsupported build, the thread stacks stand alone.
    async->status = absl::UnavailableError(absl::StrCat(
        "asyncio tasks: could not be read: ", async->status.message()));
  }
  const AsyncView* a = async ? &*async : nullptr;
  return o.json ? RenderJson(**python, views, a)
                : RenderText(**python, cmdline, views, a);
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
