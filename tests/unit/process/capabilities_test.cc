// The words for a refusal of root: capabilities by name, the kernel's rule,
// a remedy only where one exists.
#include "pystrobe/process/capabilities.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kAll = 0x1ffffffffff;  // bits 0-40
constexpr uint64_t kSysResource = 1ull << 24;
constexpr uint64_t kSysPtrace = 1ull << 19;

TEST(CapabilityNamesTest, NamesBitsAsLibcapDoes) {
  EXPECT_EQ(CapabilityName(24), "cap_sys_resource");
  EXPECT_EQ(CapabilityName(0), "cap_chown");
  EXPECT_EQ(CapabilityName(40), "cap_checkpoint_restore");
  EXPECT_EQ(CapabilityName(41), "cap_41");
  EXPECT_EQ(CapabilityNames(0x1000000), "cap_sys_resource");
  EXPECT_EQ(CapabilityNames(kSysPtrace | kSysResource),
            "cap_sys_ptrace, cap_sys_resource");
  EXPECT_EQ(CapabilityNames(0), "");
}

// pid 1 holding cap_sys_resource, pystrobe everything else: the kernel
// would let cap_sys_ptrace in, so the capabilities are not the reason and
// no remedy about them is offered.
TEST(ExplainRootRefusalTest, CapSysPtraceOverridesTheDifference) {
  RootRefusal r;
  r.our_permitted = r.our_effective = r.our_bounding = kAll & ~kSysResource;
  r.their_permitted = kAll;
  const std::string why = ExplainRootRefusal(r);
  EXPECT_THAT(why, HasSubstr("cap_sys_resource"));
  EXPECT_THAT(why, HasSubstr("security module"));
  EXPECT_THAT(why, Not(HasSubstr("setcap")));
  EXPECT_THAT(why, Not(HasSubstr("0x")));
}

TEST(ExplainRootRefusalTest, WithoutCapSysPtraceTheCapabilitiesAreWhy) {
  RootRefusal r;
  r.our_permitted = r.our_effective = kAll & ~kSysResource & ~kSysPtrace;
  r.our_bounding = kAll;  // it can be granted
  r.their_permitted = kAll;
  std::string why = ExplainRootRefusal(r);
  EXPECT_THAT(why, HasSubstr("it holds cap_sys_ptrace, cap_sys_resource, "
                             "which pystrobe lacks"));
  EXPECT_THAT(why, HasSubstr("setcap cap_sys_ptrace+ep"));
  // Dropped from the bounding set: no remedy from inside.
  r.our_bounding = *r.our_permitted;
  why = ExplainRootRefusal(r);
  EXPECT_THAT(why, Not(HasSubstr("setcap")));
  EXPECT_THAT(why, HasSubstr("bounding set"));
}

TEST(ExplainRootRefusalTest, YamaAndNamespacesComeFirst) {
  RootRefusal r;
  r.yama_scope = 3;
  EXPECT_THAT(ExplainRootRefusal(r), HasSubstr("ptrace_scope is 3"));
  r.yama_scope = 1;
  r.other_user_namespace = true;
  EXPECT_THAT(ExplainRootRefusal(r), HasSubstr("another user namespace"));
  r.other_user_namespace = false;
  EXPECT_THAT(ExplainRootRefusal(r), HasSubstr("security module"));
}

}  // namespace
}  // namespace pystrobe
