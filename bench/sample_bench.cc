// CPU per sample against stack depth, on live CPython targets.
//
// For every interpreter given (PYSTROBE_BENCH_PYTHONS, colon-separated; by
// default the 3.8, 3.11, 3.12 and 3.13 found under ~/.pyenv/versions), every
// depth (10, 100, 500) and both target states (a thread blocked in the
// kernel, a thread spinning in a Python loop), this starts
// bench/workloads/deep.py, attaches with PythonProcess::Attach and measures:
//
//   ReadThreads   one full snapshot (PythonProcess::ReadThreads)
//   SamplePath    what Sampler::TakeSample does in non-blocking mode:
//                 ReadThreads, the thread's state and CPU time from procfs,
//                 StackTable::InternStack and Add
//   Blocking      PtraceSuspension::Suspend + ReadThreads + Resume; its
//                 real time is the time the target is frozen per sample
//   OneReadPerFrame  for scale: one process_vm_readv per frame of the same
//                 stack (what a sampler without a page cache pays at least)
//
// Counters: reads = syscalls that reached the target per sample
// (RemoteMemory::read_count), frames = frames of the sampled thread,
// errors = share of samples with a torn stack. Use the CPU column.
//
//   build-bench/bench/pystrobe_sample_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true  (one line)
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/process/thread_monitor.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/sampler/stack_table.h"

namespace pystrobe {
namespace {

// One running deep.py and pystrobe attached to it.
class Target {
 public:
  static std::unique_ptr<Target> Start(const std::string& python, int depth,
                                       const std::string& mode) {
    char dir_template[] = "/tmp/pystrobe-bench-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return nullptr;
    std::string ready = std::string(dir_template) + "/ready";
    std::string script = std::string(PYSTROBE_BENCH_WORKLOADS) + "/deep.py";
    std::string depth_arg = std::to_string(depth);
    pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
      std::freopen("/dev/null", "w", stdout);
      execl(python.c_str(), python.c_str(), script.c_str(), depth_arg.c_str(),
            mode.c_str(), ready.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    auto target = std::unique_ptr<Target>(new Target(pid, dir_template));
    struct stat st;
    for (int i = 0; i < 2000 && stat(ready.c_str(), &st) != 0; ++i) {
      usleep(5000);
    }
    std::remove(ready.c_str());
    absl::StatusOr<std::unique_ptr<PythonProcess>> python_process =
        PythonProcess::Attach(pid);
    if (!python_process.ok()) {
      std::fprintf(stderr, "attach to %s failed: %s\n", python.c_str(),
                   python_process.status().ToString().c_str());
      return nullptr;
    }
    target->python_ = *std::move(python_process);
    return target;
  }

  ~Target() {
    python_.reset();
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    rmdir(dir_.c_str());
  }

  pid_t pid() const { return pid_; }
  PythonProcess& python() { return *python_; }

 private:
  Target(pid_t pid, std::string dir) : pid_(pid), dir_(std::move(dir)) {}
  pid_t pid_;
  std::string dir_;
  std::unique_ptr<PythonProcess> python_;
};

struct TargetKey {
  std::string python;
  int depth;
  std::string mode;
  bool operator==(const TargetKey& o) const {
    return python == o.python && depth == o.depth && mode == o.mode;
  }
};

// Benchmarks run one after the other: keep only the current target alive
// (a spinning one takes a whole CPU of this 2-core machine).
Target* TargetFor(const TargetKey& key) {
  static TargetKey current_key{"", 0, ""};
  static std::unique_ptr<Target> current;
  if (current && current_key == key) return current.get();
  current.reset();
  current = Target::Start(key.python, key.depth, key.mode);
  current_key = key;
  return current.get();
}

// The thread parked at the requested depth: the one with the most frames.
const PyThread* DeepestThread(const std::vector<PyThread>& threads) {
  const PyThread* best = nullptr;
  for (const PyThread& t : threads) {
    if (best == nullptr || t.frames.size() > best->frames.size()) best = &t;
  }
  return best;
}

void SetCounters(benchmark::State& state, uint64_t reads, uint64_t errors,
                 size_t frames) {
  state.counters["reads"] = benchmark::Counter(
      static_cast<double>(reads), benchmark::Counter::kAvgIterations);
  state.counters["errors"] = benchmark::Counter(
      static_cast<double>(errors), benchmark::Counter::kAvgIterations);
  state.counters["frames"] = static_cast<double>(frames);
}

void BM_ReadThreads(benchmark::State& state, const TargetKey& key) {
  Target* target = TargetFor(key);
  if (target == nullptr) {
    state.SkipWithError("could not start or attach to the target");
    return;
  }
  PythonProcess& python = target->python();
  std::vector<PyThread> threads;       // reused, as the sampler does
  (void)python.ReadThreads(&threads);  // warm the code cache
  const uint64_t reads_before = python.memory().read_count();
  uint64_t errors = 0;
  size_t frames = 0;
  for (auto _ : state) {
    absl::Status read = python.ReadThreads(&threads);
    if (!read.ok()) {
      state.SkipWithError(read.ToString().c_str());
      return;
    }
    const PyThread* t = DeepestThread(threads);
    if (t == nullptr || !t->status.ok()) {
      ++errors;
    } else {
      frames = t->frames.size();
    }
    benchmark::DoNotOptimize(threads);
  }
  SetCounters(state, python.memory().read_count() - reads_before, errors,
              frames);
}

void BM_SamplePath(benchmark::State& state, const TargetKey& key) {
  Target* target = TargetFor(key);
  if (target == nullptr) {
    state.SkipWithError("could not start or attach to the target");
    return;
  }
  PythonProcess& python = target->python();
  ThreadMonitor monitor(target->pid());
  StackTable table;
  std::vector<PyThread> threads;  // reused, as the sampler does
  (void)python.ReadThreads(&threads);
  const uint64_t reads_before = python.memory().read_count();
  uint64_t errors = 0;
  size_t frames = 0;
  int64_t elapsed = 0;
  for (auto _ : state) {
    absl::Status read = python.ReadThreads(&threads);
    if (!read.ok()) {
      state.SkipWithError(read.ToString().c_str());
      return;
    }
    const uint32_t batch = table.BatchFor(elapsed);
    elapsed += 1'000'000;
    for (const PyThread& t : threads) {
      // Wall mode's one procfs read per thread: its scheduling state.
      absl::StatusOr<char> sched = monitor.ReadState(t.native_id);
      benchmark::DoNotOptimize(sched);
      if (!t.status.ok() || t.frames.empty()) {
        ++errors;
        continue;
      }
      frames = t.frames.size();
      uint32_t thread = table.InternThread(t.native_id, t.thread_id,
                                           monitor.Name(t.native_id));
      uint32_t stack =
          table.InternThreadStack(thread, t.frames, /*with_lines=*/true);
      table.Add(StackKey{stack, thread, batch, 0}, 1, 1'000'000);
    }
  }
  SetCounters(state, python.memory().read_count() - reads_before, errors,
              frames);
}

void BM_Blocking(benchmark::State& state, const TargetKey& key) {
  Target* target = TargetFor(key);
  if (target == nullptr) {
    state.SkipWithError("could not start or attach to the target");
    return;
  }
  PythonProcess& python = target->python();
  std::vector<PyThread> threads;  // reused, as the sampler does
  (void)python.ReadThreads(&threads);
  const uint64_t reads_before = python.memory().read_count();
  uint64_t errors = 0;
  size_t frames = 0;
  for (auto _ : state) {
    absl::StatusOr<PtraceSuspension> stop =
        PtraceSuspension::Suspend(target->pid());
    if (!stop.ok()) {
      state.SkipWithError(stop.status().ToString().c_str());
      return;
    }
    absl::Status read = python.ReadThreads(&threads);
    stop->Resume();
    if (!read.ok()) {
      state.SkipWithError(read.ToString().c_str());
      return;
    }
    const PyThread* t = DeepestThread(threads);
    if (t == nullptr || !t->status.ok()) {
      ++errors;
    } else {
      frames = t->frames.size();
    }
  }
  SetCounters(state, python.memory().read_count() - reads_before, errors,
              frames);
}

// A lower bound for samplers that read each frame with its own syscall: as
// many small process_vm_readv calls as the stack has frames (the real ones
// also read each code object, its name and file name unless cached).
void BM_OneReadPerFrame(benchmark::State& state, const TargetKey& key) {
  Target* target = TargetFor(key);
  if (target == nullptr) {
    state.SkipWithError("could not start or attach to the target");
    return;
  }
  absl::StatusOr<std::vector<PyThread>> threads =
      target->python().ReadThreads();
  const PyThread* t = threads.ok() ? DeepestThread(*threads) : nullptr;
  if (t == nullptr || t->frames.empty()) {
    state.SkipWithError("no stack to read");
    return;
  }
  const size_t frames = t->frames.size();
  const uint64_t address = t->tstate;
  ProcessVmMemory memory(target->pid());
  char buffer[80];
  for (auto _ : state) {
    for (size_t i = 0; i < frames; ++i) {
      absl::Status s = memory.Read(address, buffer, sizeof(buffer));
      benchmark::DoNotOptimize(s);
    }
  }
  SetCounters(state, memory.read_count(), 0, frames);
}

std::vector<std::string> Pythons() {
  const char* env = std::getenv("PYSTROBE_BENCH_PYTHONS");
  std::vector<std::string> out;
  if (env != nullptr && *env != '\0') {
    for (absl::string_view p : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      out.emplace_back(p);
    }
    return out;
  }
  const char* home = std::getenv("HOME");
  const std::string pyenv =
      std::string(home ? home : "/root") + "/.pyenv/versions/";
  for (const char* v : {"3.8.18", "3.11.7", "3.12.1", "3.13.0"}) {
    std::string minor(v, std::string(v).rfind('.'));
    std::string path = pyenv + v + "/bin/python" + minor;
    if (access(path.c_str(), X_OK) == 0) out.push_back(path);
  }
  // Debian's own build (no pyenv): a different compiler and configuration.
  if (access("/usr/bin/python3.11", X_OK) == 0) {
    out.push_back("/usr/bin/python3.11");
  }
  return out;
}

// "3.12" from ".../python3.12" or "/usr/bin/python3.11" (marked "deb").
std::string Label(const std::string& python) {
  std::string base = python.substr(python.rfind('/') + 1);
  if (base.rfind("python", 0) == 0) base = base.substr(6);
  if (python.rfind("/usr/bin/", 0) == 0) base += "deb";
  return "py" + base;
}

void RegisterAll() {
  for (const std::string& python : Pythons()) {
    const std::string py = Label(python);
    for (const char* mode : {"block", "spin"}) {
      for (int depth : {10, 100, 500}) {
        TargetKey key{python, depth, mode};
        const std::string suffix = absl::StrCat(py, "/", mode, "/", depth);
        benchmark::RegisterBenchmark(
            absl::StrCat("ReadThreads/", suffix).c_str(), BM_ReadThreads, key);
        benchmark::RegisterBenchmark(
            absl::StrCat("SamplePath/", suffix).c_str(), BM_SamplePath, key);
        if (depth == 100) {
          benchmark::RegisterBenchmark(
              absl::StrCat("Blocking/", suffix).c_str(), BM_Blocking, key)
              ->UseRealTime();
          benchmark::RegisterBenchmark(
              absl::StrCat("OneReadPerFrame/", suffix).c_str(),
              BM_OneReadPerFrame, key);
        }
      }
    }
  }
}

}  // namespace
}  // namespace pystrobe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  pystrobe::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
