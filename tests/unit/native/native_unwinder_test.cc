// NativeUnwinder on a forked child of the test (its maps are the test's).
#include "pystrobe/native/native_unwinder.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../process/asleep_in_syscall.h"
#include "../process/child_process.h"
#include "gtest/gtest.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/thread_monitor.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::ChildProcess;

// The first address past the last mapping of the file mapped at `path`'s
// module (its consecutive mappings) that no mapping of that file covers.
uint64_t EndOfModule(const std::vector<MemoryMapping>& maps,
                     const std::string& path) {
  uint64_t end = 0;
  for (const MemoryMapping& m : maps) {
    if (m.path != path) continue;
    if (end == 0 || m.start == end) end = m.end;
  }
  return end;
}

// elfutils 0.188's dwfl_addrmodule answers an address past a module's end
// (in the gap before the next one) with that module. A library dlopened
// into such a gap after the maps were read was then named after its
// neighbour (and unwound with its CFI) for the rest of the recording.
TEST(NativeUnwinderTest, AddressPastAModuleIsInNoModule) {
  ChildProcess child = ChildProcess::Spawn([] { pause(); });
  absl::StatusOr<std::vector<MemoryMapping>> maps =
      ProcFs().ReadMaps(child.pid());
  ASSERT_TRUE(maps.ok()) << maps.status();
  std::string libc;
  uint64_t inside = 0;
  for (const MemoryMapping& m : *maps) {
    if (m.executable && m.path.find("/libc.so") != std::string::npos) {
      libc = m.path;
      inside = m.start + 16;
    }
  }
  ASSERT_FALSE(libc.empty()) << "the test is not linked with libc.so";
  const uint64_t past = EndOfModule(*maps, libc);
  // The next file's mapping bounds the gap.
  uint64_t next = UINT64_MAX;
  for (const MemoryMapping& m : *maps) {
    if (m.end > past && !m.path.empty() && m.path[0] == '/') {
      next = std::min(next, m.start);
    }
  }
  if (next <= past) GTEST_SKIP() << "a file is mapped right after libc";

  absl::StatusOr<std::unique_ptr<NativeUnwinder>> unwinder =
      NativeUnwinder::Create(child.pid());
  ASSERT_TRUE(unwinder.ok()) << unwinder.status();
  EXPECT_EQ((*unwinder)->Symbolize(inside)->module, libc);
  for (uint64_t address : {past, past + (next - past) / 2, next - 1}) {
    std::shared_ptr<const NativeSymbol> sym = (*unwinder)->Symbolize(address);
    EXPECT_EQ(sym->module, "[unknown]")
        << std::hex << address << " past " << libc << " (ends " << past << ")";
  }
}

[[gnu::noinline]] void NapForever() {
  for (;;) {
    timespec t{100, 0};
    nanosleep(&t, nullptr);
  }
}

// A child asleep in nanosleep, not stopped: unwound from the stack pointer
// and program counter of its syscall file alone, its stack shows libc's
// sleep under the function that called it.
TEST(NativeUnwinderTest, SleepingThreadFromItsSyscallFile) {
  ChildProcess child = ChildProcess::Spawn([] { NapForever(); });
  ThreadMonitor monitor(child.pid());
  absl::StatusOr<SyscallState> call =
      testing::WaitUntilInASyscall(monitor, child.pid());
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_FALSE(call->running);
  absl::StatusOr<std::unique_ptr<NativeUnwinder>> unwinder =
      NativeUnwinder::Create(child.pid());
  ASSERT_TRUE(unwinder.ok()) << unwinder.status();
  std::vector<NativeFrame> frames;
  ASSERT_TRUE((*unwinder)
                  ->UnwindSleeping(child.pid(), call->sp, call->pc, &frames)
                  .ok());
  std::string names;
  for (const NativeFrame& f : frames) {
    names += f.symbol->function + " (" + f.symbol->module + ")\n";
  }
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].pc, call->pc);
  EXPECT_NE(frames[0].symbol->module.find("/libc.so"), std::string::npos)
      << names;
  EXPECT_NE(frames[0].symbol->function.find("sleep"), std::string::npos)
      << names;
  auto nap =
      std::find_if(frames.begin(), frames.end(), [](const NativeFrame& f) {
        return f.symbol->function.find("NapForever") != std::string::npos;
      });
  EXPECT_NE(nap, frames.end()) << names;
  // The child slept on: reading its stack did not wake it.
  absl::StatusOr<SyscallState> again = monitor.ReadSyscall(child.pid());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pc, call->pc);
  EXPECT_EQ(again->sp, call->sp);
}

}  // namespace
}  // namespace pystrobe
