#include "pystrobe/process/thread_monitor.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "asleep_in_syscall.h"
#include "child_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 +
         static_cast<uint64_t>(ts.tv_nsec);
}

// A child with a thread named "spinner" that spins for `spin_ms` of its own
// CPU time, reports its TID and then its CPU time (the child's own
// accounting, the ground truth), and blocks; the main thread reports its TID
// first and blocks throughout.
struct SpinnerChild {
  explicit SpinnerChild(int spin_ms)
      : to_test(Pipe::Make()),
        to_child(Pipe::Make()),
        child(ChildProcess::Spawn([this, spin_ms] {
          to_test.WriteValue(static_cast<pid_t>(gettid()));
          std::thread spinner([this, spin_ms] {
            prctl(PR_SET_NAME, "spinner");
            to_test.WriteValue(static_cast<pid_t>(gettid()));
            char go = 0;
            to_child.ReadValue(&go);  // the test looks at it spinning first
            const uint64_t end = ThreadCpuNs() + spin_ms * 1'000'000ull;
            volatile uint64_t x = 0;
            while (ThreadCpuNs() < end) ++x;
            to_test.WriteValue(ThreadCpuNs());
            to_child.ReadValue(&go);  // blocks until killed
          });
          spinner.join();
        })) {}

  // The TIDs the child reports first: its main thread's, the spinner's.
  bool ReadTids(pid_t* main_tid, pid_t* spinner_tid) const {
    return to_test.ReadValue(main_tid) && to_test.ReadValue(spinner_tid);
  }

  Pipe to_test;
  Pipe to_child;
  ChildProcess child;
};

TEST(ThreadMonitorTest, StateAndCpuTimeMatchTheThreadsOwnAccounting) {
  SpinnerChild c(/*spin_ms=*/300);
  pid_t main_tid = 0, spinner_tid = 0;
  ASSERT_TRUE(c.ReadTids(&main_tid, &spinner_tid));
  ThreadMonitor monitor(c.child.pid());

  // Once blocked in its pipe read (it reported its TID just before), it
  // sleeps.
  absl::StatusOr<char> state = monitor.ReadState(spinner_tid);
  for (int i = 0; i < 2000 && state.ok() && *state != 'S'; ++i) {
    usleep(1000);
    state = monitor.ReadState(spinner_tid);
  }
  ASSERT_THAT(state.status(), IsOk());
  EXPECT_EQ(*state, 'S');
  absl::StatusOr<uint64_t> spinner_before = monitor.ReadCpu(spinner_tid);
  ASSERT_THAT(spinner_before.status(), IsOk());

  const char go = 1;
  ASSERT_TRUE(c.to_child.WriteValue(go));
  // While it spins it is running or runnable.
  bool seen_running = false;
  for (int i = 0; i < 100 && !seen_running; ++i) {
    state = monitor.ReadState(spinner_tid);
    ASSERT_THAT(state.status(), IsOk());
    seen_running = *state == 'R';
    usleep(1000);
  }
  EXPECT_TRUE(seen_running);

  uint64_t reported = 0;
  ASSERT_TRUE(c.to_test.ReadValue(&reported));
  // It reported, then blocked: its kernel CPU time is at least what it
  // measured itself, plus at most the few instructions since.
  absl::StatusOr<uint64_t> after = monitor.ReadCpu(spinner_tid);
  ASSERT_THAT(after.status(), IsOk());
  EXPECT_GE(*after, reported);
  EXPECT_LT(*after, reported + 20'000'000);
  EXPECT_GE(*after - *spinner_before, 300'000'000u);

  // Read() gives both at once, and the name is the thread's own.
  absl::StatusOr<ThreadSnapshot> both = monitor.Read(main_tid);
  ASSERT_THAT(both.status(), IsOk());
  EXPECT_EQ(both->state, 'S');
  EXPECT_EQ(monitor.Name(spinner_tid), "spinner");
}

// The syscall file of a child asleep in nanosleep names that call, read
// again and again through one open file; the child stays asleep.
TEST(ThreadMonitorTest, SyscallOfASleepingThread) {
  Pipe ready = Pipe::Make();
  ChildProcess child = ChildProcess::Spawn([&] {
    ready.WriteValue(1);
    for (;;) {
      timespec t{100, 0};
      nanosleep(&t, nullptr);
    }
  });
  int one = 0;
  ASSERT_TRUE(ready.ReadValue(&one));
  ThreadMonitor monitor(child.pid());
  absl::StatusOr<SyscallState> call =
      testing::WaitUntilInASyscall(monitor, child.pid());
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_FALSE(call->running);
  // nanosleep(2) or clock_nanosleep(2), as the libc makes it.
  EXPECT_TRUE(call->number == SYS_nanosleep ||
              call->number == SYS_clock_nanosleep)
      << call->number;
  EXPECT_NE(call->sp, 0u);
  EXPECT_NE(call->pc, 0u);
  absl::StatusOr<ThreadSnapshot> before = monitor.ReadAccounting(child.pid());
  ASSERT_TRUE(before.ok());
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<SyscallState> again = monitor.ReadSyscall(child.pid());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->sp, call->sp);
    EXPECT_EQ(again->pc, call->pc);
  }
  // Reading never woke it.
  absl::StatusOr<ThreadSnapshot> after = monitor.ReadAccounting(child.pid());
  ASSERT_TRUE(after.ok());
  if (before->has_run_count) {
    EXPECT_EQ(after->run_count, before->run_count);
  }
}

TEST(ThreadMonitorTest, ExitedThreadIsProcessGone) {
  SpinnerChild c(/*spin_ms=*/1);
  pid_t main_tid = 0, spinner_tid = 0;
  ASSERT_TRUE(c.ReadTids(&main_tid, &spinner_tid));
  ThreadMonitor monitor(c.child.pid());
  ASSERT_THAT(monitor.ReadState(spinner_tid).status(), IsOk());
  c.child.Kill();
  EXPECT_TRUE(IsProcessGone(monitor.ReadState(spinner_tid).status()));
  EXPECT_TRUE(IsProcessGone(monitor.ReadCpu(spinner_tid).status()));
  EXPECT_TRUE(IsProcessGone(monitor.ReadCpu(main_tid).status()));
}

}  // namespace
}  // namespace pystrobe::testing
