#include "pystrobe/process/proc_fs.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "child_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::ChildProcess;
using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::IsOkAndHolds;
using ::pystrobe::testing::Pipe;
using ::pystrobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr pid_t kFakePid = 4242;

ProcFs FakeProc() { return ProcFs(PYSTROBE_SOURCE_DIR "/tests/data/proc"); }

TEST(ParseMapsTest, FakeTree) {
  absl::StatusOr<std::vector<MemoryMapping>> maps =
      FakeProc().ReadMaps(kFakePid);
  ASSERT_THAT(maps, IsOk());
  ASSERT_THAT(*maps, SizeIs(11));

  const MemoryMapping& exe = (*maps)[1];
  EXPECT_EQ(exe.start, 0x55d0c0a01000u);
  EXPECT_EQ(exe.end, 0x55d0c0c00000u);
  EXPECT_TRUE(exe.readable);
  EXPECT_FALSE(exe.writable);
  EXPECT_TRUE(exe.executable);
  EXPECT_FALSE(exe.shared);
  EXPECT_EQ(exe.offset, 0x1000u);
  EXPECT_EQ(exe.inode, 1311234u);
  EXPECT_EQ(exe.path, "/opt/my app/bin/python3.11");
  EXPECT_FALSE(exe.deleted);
  EXPECT_TRUE(exe.Contains(0x55d0c0a01000));
  EXPECT_FALSE(exe.Contains(0x55d0c0c00000));

  EXPECT_EQ((*maps)[2].path, "[heap]");

  // Anonymous, with and without the trailing space some kernels print.
  EXPECT_EQ((*maps)[3].path, "");
  EXPECT_EQ((*maps)[3].inode, 0u);
  EXPECT_TRUE((*maps)[3].writable);
  EXPECT_EQ((*maps)[4].path, "");
  EXPECT_FALSE((*maps)[4].readable);

  const MemoryMapping& deleted = (*maps)[5];
  EXPECT_EQ(deleted.path, "/usr/lib/x86_64-linux-gnu/libfoo.so.1");
  EXPECT_TRUE(deleted.deleted);
  EXPECT_EQ(deleted.offset, 0x2000u);

  const MemoryMapping& shm = (*maps)[6];
  EXPECT_EQ(shm.path, "/dev/shm/ring buffer");
  EXPECT_TRUE(shm.deleted);
  EXPECT_TRUE(shm.shared);

  EXPECT_EQ((*maps)[7].path, "[stack]");
  EXPECT_EQ((*maps)[8].path, "[vvar]");
  EXPECT_EQ((*maps)[9].path, "[vdso]");

  const MemoryMapping& vsyscall = (*maps)[10];
  EXPECT_EQ(vsyscall.path, "[vsyscall]");
  EXPECT_EQ(vsyscall.start, 0xffffffffff600000u);
  EXPECT_EQ(vsyscall.end, 0xffffffffff601000u);
  EXPECT_FALSE(vsyscall.readable);
  EXPECT_TRUE(vsyscall.executable);
}

TEST(ParseMapsTest, MalformedLineNamesItsNumber) {
  absl::StatusOr<std::vector<MemoryMapping>> maps = ParseMaps(
      "00400000-00401000 r-xp 00000000 08:01 12 /bin/x\n"
      "zzzz-00402000 r-xp 00000000 08:01 12 /bin/x\n");
  EXPECT_THAT(maps, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(maps.status().message()), HasSubstr("line 2"));

  EXPECT_THAT(ParseMaps("00400000-00401000 rw 00000000 08:01 12\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMaps("00400000-00401000 rw-p 00000000 08:01\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMaps("00402000-00401000 rw-p 00000000 08:01 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseMaps(""), IsOkAndHolds(SizeIs(0)));
}

TEST(ParseMapsTest, MatchesOwnMappings) {
  // Ground truth: where the loader put a function and a stack variable.
  int on_stack = 0;
  absl::StatusOr<std::vector<MemoryMapping>> maps = ProcFs().ReadMaps(getpid());
  ASSERT_THAT(maps, IsOk());
  const auto code = reinterpret_cast<uint64_t>(&FakeProc);
  const auto stack = reinterpret_cast<uint64_t>(&on_stack);
  int code_hits = 0;
  int stack_hits = 0;
  for (const MemoryMapping& m : *maps) {
    if (m.Contains(code)) {
      ++code_hits;
      EXPECT_TRUE(m.executable);
      EXPECT_THAT(m.path, HasSubstr("process_proc_fs_test"));
    }
    if (m.Contains(stack)) {
      ++stack_hits;
      EXPECT_TRUE(m.writable);
      EXPECT_EQ(m.path, "[stack]");
    }
  }
  EXPECT_EQ(code_hits, 1);
  EXPECT_EQ(stack_hits, 1);
}

TEST(ParseSchedstatTest, ReadsTheThreeFields) {
  absl::StatusOr<SchedStat> s = ParseSchedstat("1234567890 987654 4321\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->cpu_ns, 1234567890u);
  EXPECT_EQ(s->wait_ns, 987654u);
  EXPECT_EQ(s->run_count, 4321u);
  EXPECT_FALSE(ParseSchedstat("12 34\n").ok());
  EXPECT_FALSE(ParseSchedstat("12 x 5\n").ok());
  EXPECT_FALSE(ParseSchedstat("").ok());
}

TEST(ParseSyscallTest, InACallOutsideOneAndRunning) {
  absl::StatusOr<SyscallState> in = ParseSyscall(
      "230 0x1 0x1 0x7f0a2b4fdab0 0x0 0x0 0x7f0a2c6966e8 0x7f0a2b4fda70 "
      "0x7f0a2c0ed545\n");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_FALSE(in->running);
  EXPECT_EQ(in->number, 230);
  EXPECT_EQ(in->args[2], 0x7f0a2b4fdab0u);
  EXPECT_EQ(in->args[5], 0x7f0a2c6966e8u);
  EXPECT_EQ(in->sp, 0x7f0a2b4fda70u);
  EXPECT_EQ(in->pc, 0x7f0a2c0ed545u);

  absl::StatusOr<SyscallState> outside =
      ParseSyscall("-1 0x7ffd862f1610 0x55d0c0ffee00\n");
  ASSERT_TRUE(outside.ok()) << outside.status();
  EXPECT_EQ(outside->number, -1);
  EXPECT_EQ(outside->sp, 0x7ffd862f1610u);
  EXPECT_EQ(outside->pc, 0x55d0c0ffee00u);

  absl::StatusOr<SyscallState> unknown = ParseSyscall("0 0 0\n");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->sp, 0u);
  EXPECT_EQ(unknown->pc, 0u);

  absl::StatusOr<SyscallState> running = ParseSyscall("running\n");
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_TRUE(running->running);

  EXPECT_FALSE(ParseSyscall("").ok());
  EXPECT_FALSE(ParseSyscall("230 0x1 0x2\n").ok());
  EXPECT_FALSE(ParseSyscall("-1 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n").ok());
  EXPECT_FALSE(ParseSyscall("7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 zz\n").ok());
  EXPECT_FALSE(ParseSyscall("7 1 2 3 4 5 6 7 8 9\n").ok());
}

TEST(ParseStatTest, CommWithSpacesAndParentheses) {
  absl::StatusOr<ThreadInfo> info = ParseStat(
      "77 (a) b (c) R 1 77 77 0 -1 4194304 1 2 3 4 1234 567 0 0 20 0 1 0 "
      "99 0 0\n");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->tid, 77);
  EXPECT_EQ(info->name, "a) b (c");
  EXPECT_EQ(info->state, 'R');
  EXPECT_EQ(info->cpu_ticks, 1234u + 567u);
}

TEST(ParseStatTest, Malformed) {
  EXPECT_THAT(ParseStat("77 no parentheses S 1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseStat("77 (x) S 1 2 3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseStat("x (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseStatTest, OwnStatAgreesWithGetpid) {
  absl::StatusOr<ThreadInfo> info = ProcFs().ReadThread(getpid(), getpid());
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->tid, getpid());
  EXPECT_EQ(info->state, 'R');  // this thread is running the test
  char name[17] = {};
  ASSERT_EQ(prctl(PR_GET_NAME, name), 0);
  EXPECT_EQ(info->name, name);
}

TEST(ProcFsTest, FakeTreeThreads) {
  absl::StatusOr<std::vector<ThreadInfo>> threads =
      FakeProc().ListThreads(kFakePid);
  ASSERT_THAT(threads, IsOk());
  // 4260 has a comm but no stat: it vanished mid-read and is left out.
  ASSERT_THAT(*threads, ElementsAre(Field(&ThreadInfo::tid, 4242),
                                    Field(&ThreadInfo::tid, 4250),
                                    Field(&ThreadInfo::tid, 4251)));
  EXPECT_EQ((*threads)[0].name, "python3.11");
  EXPECT_EQ((*threads)[0].state, 'S');
  EXPECT_EQ((*threads)[0].cpu_ticks, 187u);
  EXPECT_EQ((*threads)[1].name, "worker 1");
  EXPECT_EQ((*threads)[1].state, 'R');
  EXPECT_EQ((*threads)[1].cpu_ticks, 1000u);
  EXPECT_EQ((*threads)[2].name, "a) b (c");
  EXPECT_EQ((*threads)[2].state, 't');
  EXPECT_EQ((*threads)[2].cpu_ticks, 12u);

  EXPECT_THAT(FakeProc().ReadThread(kFakePid, 4250),
              IsOkAndHolds(Field(&ThreadInfo::name, "worker 1")));
  EXPECT_TRUE(IsProcessGone(FakeProc().ReadThread(kFakePid, 4260).status()));
  EXPECT_TRUE(IsProcessGone(FakeProc().ReadThread(kFakePid, 9999).status()));
}

TEST(ProcFsTest, FakeTreeProcess) {
  const ProcFs proc = FakeProc();
  EXPECT_THAT(proc.CheckExists(kFakePid), IsOk());
  EXPECT_TRUE(IsProcessGone(proc.CheckExists(4243)));
  EXPECT_THAT(proc.ExePath(kFakePid),
              IsOkAndHolds(std::string("/opt/my app/bin/python3.11")));
  EXPECT_THAT(proc.CommandLine(kFakePid),
              IsOkAndHolds(std::string(
                  "/opt/my app/bin/python3.11 -m my module --flag=1")));
  EXPECT_TRUE(IsProcessGone(proc.ExePath(4243).status()));
  EXPECT_TRUE(IsProcessGone(proc.CommandLine(4243).status()));
  EXPECT_TRUE(IsProcessGone(proc.ReadMaps(4243).status()));
  EXPECT_TRUE(IsProcessGone(proc.ListThreads(4243).status()));
  EXPECT_EQ(proc.PidPath(kFakePid),
            PYSTROBE_SOURCE_DIR "/tests/data/proc/4242");
  EXPECT_EQ(proc.InTargetRoot(kFakePid, "/usr/lib/libpython3.11.so"),
            PYSTROBE_SOURCE_DIR
            "/tests/data/proc/4242/root/usr/lib/libpython3.11.so");
}

TEST(ProcFsTest, RealProcessSelf) {
  const ProcFs proc;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  ASSERT_GT(n, 0);
  EXPECT_THAT(proc.ExePath(getpid()),
              IsOkAndHolds(std::string(exe, static_cast<size_t>(n))));
  absl::StatusOr<std::string> cmdline = proc.CommandLine(getpid());
  ASSERT_THAT(cmdline, IsOk());
  EXPECT_THAT(*cmdline, HasSubstr("process_proc_fs_test"));
  EXPECT_EQ(proc.InTargetRoot(getpid(), "/etc/hostname"),
            "/proc/" + std::to_string(getpid()) + "/root/etc/hostname");
}

// A child names its main thread and starts three more with their own names;
// each thread reports (tid, name) itself, and ListThreads must agree exactly.
TEST(ProcFsTest, ListThreadsOfLiveChild) {
  constexpr int kWorkers = 3;
  Pipe report = Pipe::Make();
  ChildProcess child = ChildProcess::Spawn([&] {
    prctl(PR_SET_NAME, "strobe main");
    report.WriteValue(static_cast<pid_t>(gettid()));
    for (int i = 0; i < kWorkers; ++i) {
      pthread_t thread;
      pthread_create(
          &thread, nullptr,
          [](void* arg) -> void* {
            const auto* pipe = static_cast<Pipe*>(arg);
            const pid_t tid = gettid();
            const std::string name = "worker " + std::to_string(tid % 1000);
            prctl(PR_SET_NAME, name.c_str());
            pipe->WriteValue(tid);
            while (true) {
              pause();
            }
          },
          &report);
    }
    while (true) {
      pause();
    }
  });

  std::vector<std::pair<pid_t, std::string>> expected;
  pid_t main_tid = 0;
  ASSERT_TRUE(report.ReadValue(&main_tid));
  expected.emplace_back(main_tid, "strobe main");
  for (int i = 0; i < kWorkers; ++i) {
    pid_t tid = 0;
    ASSERT_TRUE(report.ReadValue(&tid));
    expected.emplace_back(tid, "worker " + std::to_string(tid % 1000));
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(main_tid, child.pid());

  // A worker writes its tid right after naming itself, so by now every name
  // is set.
  absl::StatusOr<std::vector<ThreadInfo>> threads =
      ProcFs().ListThreads(child.pid());
  ASSERT_THAT(threads, IsOk());
  std::vector<std::pair<pid_t, std::string>> actual;
  for (const ThreadInfo& t : *threads) {
    actual.emplace_back(t.tid, t.name);
  }
  EXPECT_EQ(actual, expected);

  child.Kill();
  EXPECT_TRUE(IsProcessGone(ProcFs().ListThreads(main_tid).status()));
  EXPECT_TRUE(IsProcessGone(ProcFs().CheckExists(main_tid)));
}

}  // namespace
}  // namespace pystrobe
