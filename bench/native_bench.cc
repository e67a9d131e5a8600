// What --native costs per sample: the target's freeze and pystrobe's CPU.
//
// Starts tests/workloads/native_burn.py in `deep` mode on one interpreter
// (PYSTROBE_BENCH_PYTHON, default pyenv's 3.12): a thread spinning in C at
// the end of a mixed stack of 25 Python frames each calling into C
// (burn_c) and back, 54 merged frames in all; the extension is built with
// gcc against the interpreter's headers. Then, per iteration:
//
//   Python   PtraceSuspension::Suspend + ReadThreads + Resume (--blocking)
//   Native   the same plus NativeStacks::Merge of the thread (--native)
//
// The real time of an iteration is the time the target is frozen; the CPU
// column is pystrobe's CPU per sample. Counters: frames = frames of the
// sampled stack (merged for Native).
//
//   build/bench/pystrobe_native_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "pystrobe/native/native_stacks.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {
namespace {

constexpr int kPairs = 25;

struct Target {
  pid_t pid = -1;
  std::unique_ptr<PythonProcess> python;
  std::unique_ptr<NativeStacks> native;
  ~Target() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

std::string Python() {
  const char* env = std::getenv("PYSTROBE_BENCH_PYTHON");
  return env != nullptr ? env
                        : std::string(std::getenv("HOME")) +
                              "/.pyenv/versions/3.12.1/bin/python3.12";
}

Target* Get() {
  static Target* target = [] {
    auto* t = new Target;
    char dir[] = "/tmp/pystrobe-native-bench-XXXXXX";
    if (mkdtemp(dir) == nullptr) return t;
    const std::string python = Python();
    const std::string ext = std::string(dir);
    // Build the extension against this interpreter's headers.
    const std::string build = std::string("set -e; ") + python +
                              " -c \"import sysconfig as s; print(s.get_paths"
                              "()['include']); print(s.get_config_var('EXT_"
                              "SUFFIX'))\" > " +
                              ext +
                              "/cfg; gcc -shared "
                              "-fPIC -O1 -g -I$(sed -n 1p " +
                              ext + "/cfg) " +
                              PYSTROBE_SOURCE_DIR
                              "/tests/workloads/"
                              "native_ext.c -o " +
                              ext + "/native_ext$(sed -n 2p " + ext + "/cfg)";
    if (std::system(build.c_str()) != 0) return t;
    const std::string ready = ext + "/ready";
    const std::string script =
        PYSTROBE_SOURCE_DIR "/tests/workloads/native_burn.py";
    const std::string pairs = std::to_string(kPairs);
    t->pid = fork();
    if (t->pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      execl(python.c_str(), python.c_str(), script.c_str(), ext.c_str(), "deep",
            pairs.c_str(), ready.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    struct stat st;
    for (int i = 0; i < 2000 && stat(ready.c_str(), &st) != 0; ++i) {
      usleep(5000);
    }
    auto python_process = PythonProcess::Attach(t->pid);
    if (!python_process.ok()) return t;
    t->python = *std::move(python_process);
    auto native = NativeStacks::Create(*t->python, {});
    if (native.ok()) t->native = *std::move(native);
    return t;
  }();
  return target;
}

void Sample(benchmark::State& state, bool with_native) {
  Target* t = Get();
  if (t->python == nullptr || t->native == nullptr) {
    state.SkipWithError("could not start or attach to the target");
    return;
  }
  std::vector<PyThread> threads;
  size_t frames = 0;
  int64_t merged = 0;
  for (auto _ : state) {
    auto stop = PtraceSuspension::Suspend(t->pid);
    if (!stop.ok()) {
      state.SkipWithError(stop.status().ToString().c_str());
      return;
    }
    if (!t->python->ReadThreads(&threads).ok()) {
      state.SkipWithError("ReadThreads failed");
      return;
    }
    if (with_native) {
      for (PyThread& thread : threads) {
        merged += t->native->Merge(&thread) == NativeOutcome::kMerged;
      }
    }
    stop->Resume();
    frames = threads.empty() ? 0 : threads[0].frames.size();
  }
  state.counters["frames"] = static_cast<double>(frames);
  if (with_native) {
    NativeUnwinder& u = t->native->unwinder();
    state.counters["reads"] = benchmark::Counter(
        static_cast<double>(u.memory_reads()), benchmark::Counter::kAvgIterations);
    state.counters["lookups"] = static_cast<double>(u.symbol_lookups());
    state.counters["maps_reads"] = static_cast<double>(u.maps_reads());
    state.counters["merged"] = benchmark::Counter(
        static_cast<double>(merged), benchmark::Counter::kAvgIterations);
  }
}

void BM_Python(benchmark::State& state) { Sample(state, false); }
void BM_Native(benchmark::State& state) { Sample(state, true); }
BENCHMARK(BM_Python)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Native)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pystrobe

BENCHMARK_MAIN();
