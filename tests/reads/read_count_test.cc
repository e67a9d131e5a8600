// Counts the syscalls a repeated read of an unchanged stack costs.
//
// The design's promise: a second snapshot of a 100-deep stack reuses the
// decoded code objects and reads frames and structs a page at a time, so it
// costs a handful of process_vm_readv calls, not one per frame (a C sampler
// that reads each frame with its own syscall makes 100+).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/python/python_process.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;

constexpr char kWorkload[] = R"(
import sys, threading
lock = threading.Lock()
lock.acquire()
def recurse(n):
    if n == 0:
        open(sys.argv[1] + '.tmp', 'w').close()
        import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
        lock.acquire()
    else:
        recurse(n - 1)
recurse(100)
)";

std::string FindPython312() {
  const char* home = getenv("HOME");
  std::string path = std::string(home ? home : "/root") +
                     "/.pyenv/versions/3.12.1/bin/python3.12";
  return access(path.c_str(), X_OK) == 0 ? path : "";
}

TEST(ReadCount, SecondDumpOfUnchanged100DeepStackIsCheap) {
  std::string python = FindPython312();
  if (python.empty()) GTEST_SKIP() << "CPython 3.12.1 not installed";
  char dir_template[] = "/tmp/pystrobe-reads-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string script = dir + "/deep.py";
  const std::string ready = dir + "/ready";
  std::ofstream(script) << kWorkload;

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(python.c_str(), python.c_str(), script.c_str(), ready.c_str(),
          nullptr);
    _exit(127);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{child};
  for (int i = 0; i < 3000 && access(ready.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(access(ready.c_str(), F_OK), 0) << "workload never got ready";

  auto python_process = PythonProcess::Attach(child);
  ASSERT_THAT(python_process, IsOk());
  auto first = (*python_process)->ReadThreads();
  ASSERT_THAT(first, IsOk());
  ASSERT_EQ(first->size(), 1u);
  ASSERT_THAT((*first)[0].status, IsOk());
  // 100 recursive frames, the module frame.
  EXPECT_EQ((*first)[0].frames.size(), 102u);

  const uint64_t before = (*python_process)->memory().read_count();
  auto second = (*python_process)->ReadThreads();
  ASSERT_THAT(second, IsOk());
  const uint64_t reads = (*python_process)->memory().read_count() - before;
  ASSERT_EQ((*second)[0].frames.size(), (*first)[0].frames.size());
  for (size_t i = 0; i < (*first)[0].frames.size(); ++i) {
    EXPECT_EQ((*second)[0].frames[i].code, (*first)[0].frames[i].code)
        << "frame " << i << " was decoded again";
    EXPECT_EQ((*second)[0].frames[i].line, (*first)[0].frames[i].line);
  }
  std::printf("second dump of a %zu-frame stack: %llu remote reads\n",
              (*second)[0].frames.size(),
              static_cast<unsigned long long>(reads));
  // The pages the first dump touched (runtime, interpreter, GIL, thread
  // state, the frames' data stack pages, the code objects) are prefetched
  // in one batched read; nothing else is new. Without the prefetch this was
  // 11 reads, and one read per frame would be over 100.
  EXPECT_LE(reads, 2u);
  std::remove(script.c_str());
  std::remove(ready.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace pystrobe
