#include "pystrobe/process/cpu_wait.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace pystrobe::testing {
namespace {

// A fake /proc with one process whose threads' schedstat files the test
// writes: "<cpu_ns> <wait_ns> <timeslices>".
class FakeProc {
 public:
  FakeProc() {
    char pattern[] = "/tmp/pystrobe-cpu-wait-XXXXXX";
    root_ = mkdtemp(pattern);
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  const std::string& root() const { return root_; }
  void Set(pid_t tid, uint64_t cpu, uint64_t wait, uint64_t runs = 7) {
    const std::string dir = root_ + "/100/task/" + std::to_string(tid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/schedstat")
        << cpu << " " << wait << " " << runs << "\n";
  }
  void Remove(pid_t tid) {
    std::filesystem::remove_all(root_ + "/100/task/" + std::to_string(tid));
  }

 private:
  std::string root_;
};

TEST(CpuWaitMonitorTest, CountsFromTheFirstLookAndKeepsExitedThreads) {
  FakeProc proc;
  proc.Set(100, 5'000, 1'000);  // before the recording: not counted
  CpuWaitMonitor wait(100, proc.root());
  wait.Update();
  EXPECT_EQ(wait.cpu_ns(), 0u);
  EXPECT_EQ(wait.WaitShare(), 0.0);
  proc.Set(100, 8'000, 2'000);  // +3000 on a CPU, +1000 waiting
  proc.Set(101, 600, 400);      // a new thread: all of it
  wait.Update();
  EXPECT_EQ(wait.cpu_ns(), 3'600u);
  EXPECT_EQ(wait.wait_ns(), 1'400u);
  proc.Remove(101);  // it exited: what was read of it stays
  proc.Set(100, 9'000, 2'000);
  wait.Update();
  EXPECT_EQ(wait.cpu_ns(), 4'600u);
  EXPECT_EQ(wait.wait_ns(), 1'400u);
  EXPECT_DOUBLE_EQ(wait.WaitShare(), 1'400.0 / 6'000.0);
}

// Each time a thread is scheduled in ends a wait: the mean wait tells a
// thread woken often on an idle machine (short waits) from runnable
// threads that outnumber the CPUs (a time slice each).
TEST(CpuWaitMonitorTest, CountsTheWaits) {
  FakeProc proc;
  proc.Set(100, 1'000, 0, 10);
  CpuWaitMonitor wait(100, proc.root());
  wait.Update();
  proc.Set(100, 3'000, 1'000, 30);
  proc.Set(101, 500, 500, 5);
  wait.Update();
  EXPECT_EQ(wait.waits(), 25u);
  EXPECT_FALSE(Overloaded(0.2, 0.14, 1'000));  // 0.14 ms a wait: wake-ups
  EXPECT_TRUE(Overloaded(1.4, 1.6, 357));      // 4.5 ms a wait: a slice
  // 0.79 ms a wait, 64% of the runnable time: 4 busy loops on 2 CPUs and a
  // profiler at 3 kHz preempting the target on each of its wake-ups.
  EXPECT_TRUE(Overloaded(0.7, 1.25, 1580));
  EXPECT_FALSE(Overloaded(3, 0.5, 100));  // 14%: not judged overloaded
  EXPECT_TRUE(Overloaded(1, 1, -1));      // waits unknown: the share
}

TEST(CpuWaitMonitorTest, AReusedThreadIdStartsAfresh) {
  FakeProc proc;
  proc.Set(100, 1'000, 0);
  proc.Set(102, 9'000, 9'000);
  CpuWaitMonitor wait(100, proc.root());
  wait.Update();
  proc.Set(102, 50, 30);  // counters went back: another thread, same TID
  wait.Update();
  EXPECT_EQ(wait.cpu_ns(), 50u);
  EXPECT_EQ(wait.wait_ns(), 30u);
}

TEST(CpuWaitMonitorTest, AGoneProcessLeavesTheSums) {
  FakeProc proc;
  CpuWaitMonitor wait(4242, proc.root());  // no such process
  wait.Update();
  wait.Update();
  EXPECT_EQ(wait.cpu_ns(), 0u);
  EXPECT_EQ(wait.wait_ns(), 0u);
}

}  // namespace
}  // namespace pystrobe::testing
