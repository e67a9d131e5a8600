// _Py_DebugOffsets read from a live CPython 3.13.0 (under ~/.pyenv; skipped
// when it is not installed): the real bytes at _PyRuntime must parse, with
// the interpreter's own PY_VERSION_HEX, and agree with the generated 3.13
// layout table (both come from the interpreter's headers, by different
// routes).
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "debug_offsets.h"
#include "gtest/gtest.h"
#include "pystrobe/elf/elf_file.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "status_matchers.h"

namespace pystrobe::testing {
namespace {

// A python3.13 child that prints "ready" once initialized and then sleeps;
// killed and reaped on destruction.
class Python313 {
 public:
  explicit Python313(const std::string& executable) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      execl(executable.c_str(), executable.c_str(), "-c",
            "import sys, time\nprint('ready', flush=True)\ntime.sleep(60)",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    char buf[6] = {};
    size_t got = 0;
    while (got < 6) {
      ssize_t n = read(fds[0], buf + got, 6 - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    close(fds[0]);
    ready_ = got == 6 && std::string(buf, 6) == "ready\n";
  }
  ~Python313() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

std::string Python313Path() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") +
         "/.pyenv/versions/3.13.0/bin/python3.13";
}

TEST(DebugOffsetsLiveTest, RealRuntimeParses) {
  const std::string exe = Python313Path();
  if (access(exe.c_str(), X_OK) != 0) {
    GTEST_SKIP() << exe << " is not installed";
  }
  Python313 child(exe);
  ASSERT_TRUE(child.ready());
  ProcFs proc;
  absl::StatusOr<std::vector<MemoryMapping>> maps = proc.ReadMaps(child.pid());
  ASSERT_THAT(maps, IsOk());
  // The binary that defines _PyRuntime: libpython3.13.so or the executable.
  std::string holder;
  std::optional<ElfSymbol> runtime;
  absl::StatusOr<ElfFile> elf = absl::NotFoundError("no _PyRuntime");
  for (const MemoryMapping& m : *maps) {
    if (m.path.empty() || m.path == holder) continue;
    if (m.path.find("python3.13") == std::string::npos) continue;
    absl::StatusOr<ElfFile> candidate = ElfFile::Open(m.path);
    if (!candidate.ok()) continue;
    runtime = candidate->FindSymbol("_PyRuntime");
    if (runtime) {
      holder = m.path;
      elf = std::move(candidate);
      break;
    }
  }
  ASSERT_THAT(elf, IsOk());
  absl::StatusOr<uint64_t> bias = elf->LoadBias(*maps, holder);
  ASSERT_THAT(bias, IsOk());
  absl::StatusOr<std::unique_ptr<RemoteMemory>> memory =
      OpenRemoteMemory(child.pid());
  ASSERT_THAT(memory, IsOk());
  std::string raw(kDebugOffsetsReadSize, '\0');
  ASSERT_THAT((*memory)->Read(runtime->value + *bias, raw.data(), raw.size()),
              IsOk());
  EXPECT_EQ(raw.substr(0, 8), "xdebugpy");

  absl::StatusOr<DebugOffsets> parsed = ParseDebugOffsets(raw);
  ASSERT_THAT(parsed, IsOk());
  // PY_VERSION_HEX of 3.13.0 final: 0x030D00F0.
  EXPECT_EQ(parsed->version, 0x030D00F0u);
  EXPECT_FALSE(parsed->free_threaded);
  const LayoutEntry* table = FindLayout(PythonVersion{3, 13, 0, false});
  ASSERT_NE(table, nullptr);
  int compared = 0;
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    const Field f = static_cast<Field>(i);
    if (!parsed->layout.Has(f)) continue;
    EXPECT_EQ(parsed->layout.Offset(f), table->layout.Offset(f))
        << FieldName(f);
    ++compared;
  }
  EXPECT_GE(compared, 31);
}

}  // namespace
}  // namespace pystrobe::testing
