// ModuleMap::FindModules: which runs of /proc/PID/maps become the modules
// the native unwinder reports to libdwfl (the part of ModuleMap that reads
// maps, and what tests/fuzz/proc_maps_fuzzer.cc feeds).

#include "module_map.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/process/proc_fs.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;

// A PIE interpreter on a shared libpython, as a chrooted target shows it.
constexpr char kMaps[] =
    "56244530f000-562445310000 r--p 00000000 fe:00 10043470   "
    "/usr/local/bin/python3.14-pie\n"
    "562445310000-562445311000 r-xp 00001000 fe:00 10043470   "
    "/usr/local/bin/python3.14-pie\n"
    "562445311000-562445313000 r--p 00002000 fe:00 10043470   "
    "/usr/local/bin/python3.14-pie\n"
    "562446000000-562446100000 rw-p 00000000 00:00 0          [heap]\n"
    "7f0000000000-7f0000100000 r--p 00000000 fe:00 55         "
    "/usr/lib/locale/locale-archive\n"
    "7f0000200000-7f0000300000 r--p 00000000 fe:00 66         "
    "/usr/lib/libpython3.14.so.1.0\n"
    "7f0000300000-7f0000600000 r-xp 00100000 fe:00 66         "
    "/usr/lib/libpython3.14.so.1.0\n"
    "7f0000600000-7f0000700000 r--p 00400000 fe:00 66         "
    "/usr/lib/libpython3.14.so.1.0\n"
    "7f0000800000-7f0000801000 rw-p 00500000 fe:00 66         "
    "/usr/lib/libpython3.14.so.1.0\n"
    "7f0000900000-7f0000901000 r-xp 00000000 fe:00 77         /tmp/jit "
    "(deleted)\n"
    "7ffd5a3c0000-7ffd5a3e1000 rw-p 00000000 00:00 0          [stack]\n"
    "7ffd5a3f4000-7ffd5a3f6000 r-xp 00000000 00:00 0          [vdso]\n";

TEST(FindModulesTest, OneModulePerExecutableRunOfAFile) {
  absl::StatusOr<std::vector<MemoryMapping>> maps = ParseMaps(kMaps);
  ASSERT_THAT(maps, IsOk());
  const std::vector<ModuleMap::FoundModule> modules =
      ModuleMap::FindModules(*maps);
  ASSERT_EQ(modules.size(), 4u);

  EXPECT_EQ(modules[0].range.path, "/usr/local/bin/python3.14-pie");
  EXPECT_EQ(modules[0].range.start, 0x56244530f000u);
  EXPECT_EQ(modules[0].range.end, 0x562445313000u);
  EXPECT_EQ(modules[0].first_mapping, 0u);

  // The locale archive maps no code; libpython's rw- page lies after a
  // gap, so the module ends before it.
  EXPECT_EQ(modules[1].range.path, "/usr/lib/libpython3.14.so.1.0");
  EXPECT_EQ(modules[1].range.start, 0x7f0000200000u);
  EXPECT_EQ(modules[1].range.end, 0x7f0000700000u);
  EXPECT_EQ(modules[1].range.offset, 0u);
  EXPECT_EQ(modules[1].first_mapping, 5u);

  EXPECT_EQ(modules[2].range.path, "/tmp/jit");
  EXPECT_TRUE((*maps)[modules[2].first_mapping].deleted);

  EXPECT_EQ(modules[3].range.path, "[vdso]");
  EXPECT_EQ(modules[3].first_mapping, 11u);
}

TEST(FindModulesTest, NothingFromNoMapsOrOnlyAnonymousOnes) {
  EXPECT_TRUE(ModuleMap::FindModules({}).empty());
  absl::StatusOr<std::vector<MemoryMapping>> maps = ParseMaps(
      "1000-2000 r-xp 00000000 00:00 0\n"
      "2000-3000 r-xp 00000000 00:00 0     [heap]\n"
      "3000-4000 r-xp 00000000 00:00 0     relative/path\n");
  ASSERT_THAT(maps, IsOk());
  EXPECT_TRUE(ModuleMap::FindModules(*maps).empty());
}

TEST(FindModulesTest, AVdsoLargerThanAKernelsIsLeftOut) {
  // Report() copies a vDSO whole: a maps file (a fake /proc root, a fuzzed
  // one) must not make it allocate gigabytes.
  absl::StatusOr<std::vector<MemoryMapping>> maps = ParseMaps(
      "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0     [vdso]\n"
      "7ffe00000000-7fff00000000 r-xp 00000000 00:00 0     [vdso]\n");
  ASSERT_THAT(maps, IsOk());
  std::vector<ModuleMap::FoundModule> modules = ModuleMap::FindModules(*maps);
  ASSERT_EQ(modules.size(), 1u);
  EXPECT_EQ(modules[0].range.end - modules[0].range.start, 0x2000u);
}

}  // namespace
}  // namespace pystrobe
