// `pystrobe dump` as root on a process holding a capability pystrobe lacks:
// pystrobe runs under capsh with cap_sys_ptrace dropped from its bounding
// set, the target (our child) keeps it. The kernel refuses; the one line
// names the capability, says why, and offers no remedy that cannot work.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(DumpCapabilitiesTest, ACapabilityPystrobeLacksIsNamed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (access("/usr/sbin/capsh", X_OK) != 0) GTEST_SKIP() << "no capsh";
  std::vector<Interpreter> pythons = FindInterpreters();
  if (pythons.empty()) GTEST_SKIP() << "no CPython found";
  ScopedTempDir dir;
  absl::StatusOr<ChildProcess> target = ChildProcess::Start(
      {pythons.front().path, "-c", "import time; time.sleep(120)"}, {},
      dir.path() + "/target.log");
  ASSERT_TRUE(target.ok()) << target.status();
  // The target really holds cap_sys_ptrace (bit 19) in its permitted set.
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", target->pid(), "/status"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_THAT(*status, HasSubstr("CapPrm:")) << *status;

  CommandResult r = RunCommand(
      {"/usr/sbin/capsh", "--drop=cap_sys_ptrace", "--", "-c",
       absl::StrCat("exec ", PystrobeBinary(), " dump --pid ", target->pid())});
  EXPECT_TRUE(r.exited && r.exit_code == 4) << r.Describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("it holds cap_sys_ptrace"));
  EXPECT_THAT(r.err, HasSubstr("which pystrobe lacks"));
  EXPECT_THAT(r.err, HasSubstr("bounding set"));
  EXPECT_THAT(r.err, Not(HasSubstr("0x")));
  EXPECT_THAT(r.err, Not(HasSubstr("setcap")));  // it could not help
  std::cout << r.err;

  // The same pystrobe with cap_sys_ptrace reads it (the refusal was the
  // capability's).
  CommandResult ok = RunCommand(
      {PystrobeBinary(), "dump", "--pid", std::to_string(target->pid())});
  EXPECT_TRUE(ok.exited && ok.exit_code == 0) << ok.Describe();
}

}  // namespace
}  // namespace pystrobe::integration
