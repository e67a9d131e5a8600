// How a dead process ended, read from its /proc/PID/stat while it is a
// zombie: the kernel's own wait status, compared with what waitpid() then
// returns to the parent.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {
namespace {

// Forks a child that runs `body`, waits until it is a zombie (without
// reaping it) and returns its pid.
template <typename F>
pid_t ZombieChild(F body) {
  const pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  siginfo_t info{};
  waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
  return pid;
}

int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(ExitStatusTest, AZombieThatExitedTellsItsStatus) {
  const pid_t pid = ZombieChild([] { _exit(3); });
  const std::optional<int> status = ProcFs().ExitStatus(pid);
  const int reaped = Reap(pid);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, reaped);
  EXPECT_EQ(DescribeWaitStatus(*status), "exit status 3");
}

TEST(ExitStatusTest, AZombieThatWasKilledTellsTheSignal) {
  const pid_t pid = ZombieChild([] {
    raise(SIGKILL);
    pause();
  });
  const std::optional<int> status = ProcFs().ExitStatus(pid);
  const int reaped = Reap(pid);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, reaped);
  EXPECT_EQ(DescribeWaitStatus(*status), "killed by signal 9 (SIGKILL)");
}

TEST(ExitStatusTest, NothingForALiveOrReapedProcess) {
  EXPECT_EQ(ProcFs().ExitStatus(getpid()), std::nullopt);
  const pid_t pid = ZombieChild([] { _exit(0); });
  Reap(pid);
  EXPECT_EQ(ProcFs().ExitStatus(pid), std::nullopt);
}

TEST(ParseExitStatusTest, OnlyForZombiesWithTheField) {
  std::string fields;
  for (int field = 4; field <= 51; ++field) fields += " 0";
  EXPECT_EQ(ParseExitStatus("7 (a) b) Z" + fields + " 256\n"), 256);
  EXPECT_EQ(ParseExitStatus("7 (a) R" + fields + " 256\n"), std::nullopt);
  EXPECT_EQ(ParseExitStatus("7 (a) Z 0 0\n"), std::nullopt);  // old kernel
  EXPECT_EQ(ParseExitStatus("garbage"), std::nullopt);
}

}  // namespace
}  // namespace pystrobe
