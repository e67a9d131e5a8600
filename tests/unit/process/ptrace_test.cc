#include "pystrobe/process/ptrace.h"

#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/process/thread_monitor.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::ChildProcess;
using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::Pipe;
using ::testing::HasSubstr;

constexpr int kWorkers = 3;

void SleepMs(int ms) {
  timespec delay{0, ms * 1000L * 1000L};
  nanosleep(&delay, nullptr);
}

// The state letter of a thread, read straight from /proc (not through
// pystrobe): the character after the last ')' of its stat line.
char ThreadState(pid_t pid, pid_t tid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/task/" +
                     std::to_string(tid) + "/stat");
  std::stringstream text;
  text << file.rdbuf();
  const std::string stat = text.str();
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) {
    return '?';
  }
  return stat[close + 2];
}

// glibc's pause(): the pause system call where the architecture has one,
// else ppoll with no descriptors.
#ifdef SYS_pause
constexpr int64_t kPauseSyscall = SYS_pause;
#else
constexpr int64_t kPauseSyscall = SYS_ppoll;
#endif

// Waits (up to 20 s) until thread `tid` of `pid` sleeps inside pause(), as
// the kernel says: its syscall file names pause and not "running", and its
// state is S. A thread that has done everything before its pause() may
// still be runnable, waiting for a CPU on a busy machine; only this says
// that it got there.
bool WaitUntilPaused(pid_t pid, pid_t tid) {
  ThreadMonitor monitor(pid);
  for (int i = 0; i < 20000; ++i) {
    absl::StatusOr<SyscallState> call = monitor.ReadSyscall(tid);
    if (call.ok() && !call->running && call->number == kPauseSyscall &&
        ThreadState(pid, tid) == 'S') {
      return true;
    }
    SleepMs(1);
  }
  return false;
}

// Counters in memory shared with the child, one per busy worker thread.
struct Shared {
  uint64_t counters[kWorkers];
  uint64_t signals_handled;
};

Shared* g_shared = nullptr;  // the child's view, for its threads and handler

// A child with kWorkers threads each incrementing its own shared counter,
// and a main thread that also spins. It reports every TID through `report`.
class BusyChild {
 public:
  BusyChild() {
    void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      abort();
    }
    shared_ = new (mem) Shared{};
    Pipe report = Pipe::Make();
    child_.emplace(ChildProcess::Spawn([&] {
      g_shared = shared_;
      signal(SIGRTMIN, [](int) {
        __atomic_fetch_add(&g_shared->signals_handled, 1, __ATOMIC_RELAXED);
      });
      report.WriteValue(static_cast<pid_t>(gettid()));
      for (intptr_t i = 0; i < kWorkers; ++i) {
        pthread_t thread;
        struct Start {
          Pipe* report;
          intptr_t index;
        };
        static Start starts[kWorkers];
        starts[i] = Start{&report, i};
        pthread_create(
            &thread, nullptr,
            [](void* arg) -> void* {
              const auto* start = static_cast<Start*>(arg);
              start->report->WriteValue(static_cast<pid_t>(gettid()));
              while (true) {
                __atomic_fetch_add(&g_shared->counters[start->index], 1,
                                   __ATOMIC_RELAXED);
              }
            },
            &starts[i]);
      }
      while (true) {
        pause();
      }
    }));
    for (int i = 0; i <= kWorkers; ++i) {
      pid_t tid = 0;
      if (!report.ReadValue(&tid)) {
        abort();
      }
      tids_.push_back(tid);
    }
    std::sort(tids_.begin(), tids_.end());
  }
  ~BusyChild() {
    child_.reset();
    munmap(shared_, sizeof(Shared));
  }

  pid_t pid() const { return child_->pid(); }
  const std::vector<pid_t>& tids() const { return tids_; }
  uint64_t counter(int i) const {
    return __atomic_load_n(&shared_->counters[i], __ATOMIC_RELAXED);
  }
  uint64_t signals_handled() const {
    return __atomic_load_n(&shared_->signals_handled, __ATOMIC_RELAXED);
  }
  // Waits until every counter exceeds `floor` (bounded, so a stuck child
  // fails the test instead of hanging it).
  bool WaitForCountersAbove(const std::vector<uint64_t>& floor) const {
    for (int attempt = 0; attempt < 20000; ++attempt) {
      bool all = true;
      for (int i = 0; i < kWorkers; ++i) {
        all = all && counter(i) > floor[i];
      }
      if (all) {
        return true;
      }
      SleepMs(1);
    }
    return false;
  }
  std::vector<uint64_t> Counters() const {
    std::vector<uint64_t> values;
    values.reserve(kWorkers);
    for (int i = 0; i < kWorkers; ++i) {
      values.push_back(counter(i));
    }
    return values;
  }

 private:
  Shared* shared_ = nullptr;
  std::vector<pid_t> tids_;
  std::optional<ChildProcess> child_;
};

TEST(PtraceSuspensionTest, StopsEveryThreadAndResumesThem) {
  BusyChild child;
  ASSERT_TRUE(child.WaitForCountersAbove({0, 0, 0}));
  std::vector<uint64_t> frozen;
  {
    absl::StatusOr<PtraceSuspension> stop =
        PtraceSuspension::Suspend(child.pid());
    ASSERT_THAT(stop, IsOk());
    EXPECT_EQ(stop->threads(), child.tids());
    for (pid_t tid : child.tids()) {
      EXPECT_EQ(ThreadState(child.pid(), tid), 't') << "thread " << tid;
    }
    frozen = child.Counters();
    SleepMs(50);  // time in which running threads would count a lot
    EXPECT_EQ(child.Counters(), frozen);
  }
  ASSERT_TRUE(child.WaitForCountersAbove(frozen));
  for (pid_t tid : child.tids()) {
    EXPECT_NE(ThreadState(child.pid(), tid), 't') << "thread " << tid;
  }
}

TEST(PtraceSuspensionTest, ResumeAndMove) {
  BusyChild child;
  absl::StatusOr<PtraceSuspension> stop =
      PtraceSuspension::Suspend(child.pid());
  ASSERT_THAT(stop, IsOk());
  PtraceSuspension moved = *std::move(stop);
  EXPECT_EQ(moved.threads(), child.tids());
  const std::vector<uint64_t> frozen = child.Counters();
  EXPECT_EQ(ThreadState(child.pid(), child.tids()[1]), 't');
  moved.Resume();
  EXPECT_TRUE(moved.threads().empty());
  ASSERT_TRUE(child.WaitForCountersAbove(frozen));
  moved.Resume();  // a second Resume does nothing

  // Suspending again works: the first one fully let go.
  absl::StatusOr<PtraceSuspension> again =
      PtraceSuspension::Suspend(child.pid());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(ThreadState(child.pid(), child.tids()[0]), 't');
}

TEST(PtraceSuspensionTest, LeaveSleepersStopsOnlyTheRunningThreads) {
  BusyChild child;  // workers spin; the main thread sleeps in pause()
  ASSERT_TRUE(child.WaitForCountersAbove({0, 0, 0}));
  // The workers report before the main thread reaches pause(): beside the
  // spinning workers (and whatever else runs) it can wait for a CPU, in
  // state R, for many milliseconds. A runnable thread must be stopped, so
  // suspend only once it really sleeps.
  ASSERT_TRUE(WaitUntilPaused(child.pid(), child.pid()));
  std::vector<pid_t> workers = child.tids();
  workers.erase(std::find(workers.begin(), workers.end(), child.pid()));
  absl::StatusOr<PtraceSuspension> stop =
      PtraceSuspension::Suspend(child.pid(), {.leave_sleepers = true});
  ASSERT_THAT(stop, IsOk());
  EXPECT_EQ(stop->threads(), workers);
  EXPECT_EQ(stop->sleepers(), std::vector<pid_t>{child.pid()});
  EXPECT_EQ(ThreadState(child.pid(), child.pid()), 'S');
  for (pid_t tid : workers) {
    EXPECT_EQ(ThreadState(child.pid(), tid), 't') << "thread " << tid;
  }
  const std::vector<uint64_t> frozen = child.Counters();
  SleepMs(20);
  EXPECT_EQ(child.Counters(), frozen);
  EXPECT_THAT(stop->SleepersThatRan(), ::testing::IsEmpty());
  stop->Resume();
  ASSERT_TRUE(child.WaitForCountersAbove(frozen));
}

// A thread blocked writing to a full pipe, reporting what write() returned.
struct BlockedWriter {
  static constexpr size_t kBytes = 1 << 20;
  BlockedWriter()
      : data(Pipe::Make()),
        report(Pipe::Make()),
        child(ChildProcess::Spawn([this] {
          report.WriteValue(static_cast<pid_t>(gettid()));
          std::string bytes(kBytes, 'x');
          const ssize_t n = write(data.write_end.get(), bytes.data(), kBytes);
          report.WriteValue(n);
          pause();
        })) {}
  // Waits until the writer sleeps in write() (the pipe is full).
  bool WaitUntilBlocked(pid_t tid) const {
    for (int i = 0; i < 5000; ++i) {
      if (ThreadState(child.pid(), tid) == 'S') return true;
      SleepMs(1);
    }
    return false;
  }
  // Reads everything the writer wrote; returns what its write() returned.
  ssize_t Drain() const {
    std::string buffer(kBytes, '\0');
    ssize_t returned = -1;
    // The writer reports once write() returns; read until then.
    size_t total = 0;
    while (total < kBytes) {
      pollfd fds[2] = {{data.read_end.get(), POLLIN, 0},
                       {report.read_end.get(), POLLIN, 0}};
      if (poll(fds, 2, 10000) <= 0) break;
      if (fds[0].revents & POLLIN) {
        const ssize_t n =
            read(data.read_end.get(), buffer.data(), kBytes - total);
        if (n <= 0) break;
        total += static_cast<size_t>(n);
      } else if (fds[1].revents & POLLIN) {
        report.ReadValue(&returned);
        return returned;
      }
    }
    report.ReadValue(&returned);
    return returned;
  }
  Pipe data;
  Pipe report;
  ChildProcess child;
};

// Why leave_sleepers exists: interrupting a thread asleep in write() to a
// full pipe cuts the write short (CPython's print() then drops the rest);
// leaving it asleep does not.
TEST(PtraceSuspensionTest, LeavingSleepersDoesNotCutABlockedWriteShort) {
  for (bool leave : {true, false}) {
    BlockedWriter writer;
    pid_t tid = 0;
    ASSERT_TRUE(writer.report.ReadValue(&tid));
    ASSERT_TRUE(writer.WaitUntilBlocked(tid));
    for (int round = 0; round < 20; ++round) {
      absl::StatusOr<PtraceSuspension> stop = PtraceSuspension::Suspend(
          writer.child.pid(), {.leave_sleepers = leave});
      ASSERT_THAT(stop, IsOk());
    }
    const ssize_t returned = writer.Drain();
    if (leave) {
      EXPECT_EQ(returned, static_cast<ssize_t>(BlockedWriter::kBytes));
    } else {
      EXPECT_LT(returned, static_cast<ssize_t>(BlockedWriter::kBytes));
    }
  }
}

// A sleeper that wakes up while the others are stopped is reported, so the
// caller can throw away what it read of it.
TEST(PtraceSuspensionTest, SleeperThatWokeIsReported) {
  Pipe wake = Pipe::Make();
  Pipe report = Pipe::Make();
  ChildProcess child = ChildProcess::Spawn([&] {
    report.WriteValue(static_cast<pid_t>(gettid()));
    char c = 0;
    wake.ReadValue(&c);
    report.WriteValue(c);
    pause();
  });
  pid_t tid = 0;
  ASSERT_TRUE(report.ReadValue(&tid));
  for (int i = 0; i < 5000 && ThreadState(child.pid(), tid) != 'S'; ++i) {
    SleepMs(1);
  }
  absl::StatusOr<PtraceSuspension> stop =
      PtraceSuspension::Suspend(child.pid(), {.leave_sleepers = true});
  ASSERT_THAT(stop, IsOk());
  EXPECT_EQ(stop->sleepers(), std::vector<pid_t>{tid});
  EXPECT_THAT(stop->SleepersThatRan(), ::testing::IsEmpty());
  const char c = 1;
  ASSERT_TRUE(wake.WriteValue(c));
  char echoed = 0;
  ASSERT_TRUE(report.ReadValue(&echoed));  // it ran
  EXPECT_EQ(stop->SleepersThatRan(), std::vector<pid_t>{tid});
}

// A signal that arrives while threads are being stopped is never lost,
// whichever of the signal and the interrupt wins. Real-time signals queue
// (they never merge), so every one sent must be handled exactly once. A
// thread that dequeues a signal between PTRACE_SEIZE and PTRACE_INTERRUPT
// stops in signal-delivery-stop and holds it until detach; a storm of
// signals during repeated suspensions makes that window likely to be hit.
TEST(PtraceSuspensionTest, SignalsAreNotLost) {
  BusyChild child;
  const pid_t pid = child.pid();
  constexpr int kRounds = 300;
  constexpr int kBurst = 50;
  uint64_t sent = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kBurst; ++i) {
      sigval value{};
      ASSERT_EQ(sigqueue(pid, SIGRTMIN, value), 0) << strerror(errno);
      ++sent;
    }
    absl::StatusOr<PtraceSuspension> stop = PtraceSuspension::Suspend(pid);
    ASSERT_THAT(stop, IsOk());
  }
  int attempt = 0;
  while (child.signals_handled() < sent && attempt++ < 5000) {
    SleepMs(1);
  }
  EXPECT_EQ(child.signals_handled(), sent);
}

// The main thread called pthread_exit: it stays listed as a zombie, which
// the kernel refuses to seize (EPERM). That is not a permission problem: the
// live threads are stopped and the zombie is left out.
TEST(PtraceSuspensionTest, ZombieMainThreadIsSkipped) {
  Pipe report = Pipe::Make();
  ChildProcess child = ChildProcess::Spawn([&] {
    pthread_t thread;
    pthread_create(
        &thread, nullptr,
        [](void* arg) -> void* {
          static_cast<Pipe*>(arg)->WriteValue(static_cast<pid_t>(gettid()));
          while (true) {
            pause();
          }
        },
        &report);
    // Exit this thread only, without pthread_exit's unwinding (which
    // gtest's catch-all in the forked child would turn into an abort).
    syscall(SYS_exit, 0);
  });
  pid_t worker = 0;
  ASSERT_TRUE(report.ReadValue(&worker));
  int attempt = 0;
  while (ThreadState(child.pid(), child.pid()) != 'Z' && attempt++ < 5000) {
    SleepMs(1);
  }
  ASSERT_EQ(ThreadState(child.pid(), child.pid()), 'Z');
  absl::StatusOr<PtraceSuspension> stop =
      PtraceSuspension::Suspend(child.pid());
  ASSERT_THAT(stop, IsOk());
  EXPECT_EQ(stop->threads(), std::vector<pid_t>{worker});
  EXPECT_EQ(ThreadState(child.pid(), worker), 't');
  stop->Resume();
  EXPECT_NE(ThreadState(child.pid(), worker), 't');
}

TEST(PtraceSuspensionTest, DeadProcessIsProcessGone) {
  pid_t pid;
  {
    ChildProcess child = ChildProcess::Spawn([] { pause(); });
    pid = child.pid();
  }  // killed and reaped
  const absl::StatusOr<PtraceSuspension> stop = PtraceSuspension::Suspend(pid);
  EXPECT_TRUE(IsProcessGone(stop.status())) << stop.status();
}

TEST(PermissionAdviceTest, NamesPidAndRemedy) {
  const std::string advice = PermissionAdvice(1234);
  EXPECT_THAT(advice, HasSubstr("process 1234"));
  EXPECT_EQ(advice.find('\n'), std::string::npos);
  if (geteuid() == 0) {
    // Root refused: the kernel's reasons, never "run pystrobe as root".
    EXPECT_THAT(advice, HasSubstr("although pystrobe runs as root"));
    EXPECT_THAT(advice, ::testing::Not(HasSubstr("run pystrobe as root")));
    return;
  }
  std::ifstream scope_file("/proc/sys/kernel/yama/ptrace_scope");
  int scope = -1;
  if (scope_file >> scope) {
    if (scope == 1 || scope == 2) {
      EXPECT_THAT(advice, HasSubstr("(now " + std::to_string(scope) + ")"));
    }
  } else {
    EXPECT_THAT(advice, HasSubstr("CAP_SYS_PTRACE"));
    EXPECT_THAT(advice, ::testing::Not(HasSubstr("yama")));
  }
}

// An unprivileged process may neither read nor stop a root-owned one. The
// helper drops to nobody (65534) and reports, one letter per attempt, 'P'
// for NoPermissionError and 'x' for anything else, then the message of
// OpenRemoteMemory's error.
TEST(PermissionTest, UnprivilegedCallerGetsNoPermission) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to drop privileges";
  }
  ChildProcess sleeper = ChildProcess::Spawn([] {
    while (true) {
      pause();
    }
  });
  Pipe result = Pipe::Make();
  ChildProcess helper = ChildProcess::Spawn([&] {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      result.WriteBytes("!!!!", 4);
      return;
    }
    auto letter = [](const absl::Status& s) {
      return IsNoPermission(s) ? 'P' : 'x';
    };
    const absl::StatusOr<std::unique_ptr<RemoteMemory>> memory =
        OpenRemoteMemory(sleeper.pid());
    uint64_t value = 0;
    ProcessVmMemory vm(sleeper.pid());
    // The address does not matter: permission is checked first.
    const uint64_t address = reinterpret_cast<uint64_t>(&value);
    const absl::StatusOr<PtraceSuspension> stop =
        PtraceSuspension::Suspend(sleeper.pid());
    const char letters[4] = {letter(memory.status()),
                             letter(vm.Read(address, &value, 8)),
                             letter(ProcMemFile::Open(sleeper.pid()).status()),
                             letter(stop.status())};
    result.WriteBytes(letters, 4);
    const std::string message(memory.status().message());
    result.WriteValue(message.size());
    result.WriteBytes(message.data(), message.size());
  });
  char letters[4] = {};
  ASSERT_TRUE(result.ReadBytes(letters, 4));
  EXPECT_EQ(std::string(letters, 4), "PPPP")
      << "OpenRemoteMemory, process_vm_readv, /proc/PID/mem, ptrace";
  size_t size = 0;
  ASSERT_TRUE(result.ReadValue(&size));
  std::string message(size, '\0');
  ASSERT_TRUE(result.ReadBytes(message.data(), size));
  // The caller's advice (this test runs as root, the helper does not).
  EXPECT_THAT(message, HasSubstr("process " + std::to_string(sleeper.pid())));
  EXPECT_THAT(message, HasSubstr("permission denied"));
  EXPECT_THAT(message, HasSubstr("CAP_SYS_PTRACE"));
  helper.Reap();
  // The failed attempt left the sleeper untouched (not stopped).
  EXPECT_NE(ThreadState(sleeper.pid(), sleeper.pid()), 't');
}

}  // namespace
}  // namespace pystrobe
