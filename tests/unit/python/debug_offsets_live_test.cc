// _Py_DebugOffsets read from live interpreters: pyenv's CPython 3.13.0, the
// free-threaded 3.13t and the Debian forky root's 3.14, 3.14d, 3.15 and
// 3.15d of scripts/install-deps.sh (chrooted; each skipped, saying why, when
// it is not installed). The real bytes at _PyRuntime must parse, with the
// interpreter's own PY_VERSION_HEX and flavour, and agree with the generated
// layout table (both come from the interpreter's headers, by different
// routes); the layout derived from the offsets alone (as for 3.14t/3.15t,
// which the table lacks) must agree with the table too.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ostream>
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

std::string CacheDir() {
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/pystrobe";
}
std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::string(v) : fallback;
}

struct LiveCase {
  std::string name;
  std::string root;      // chroot, or ""
  std::string exe;       // as the target sees it
  uint32_t version_hex;  // & 0xFFFFFF00
  bool debug;
  bool free_threaded;
};

void PrintTo(const LiveCase& c, std::ostream* os) {
  *os << c.name << " (" << c.root << c.exe << ")";
}

std::vector<LiveCase> Cases() {
  const char* home = std::getenv("HOME");
  const std::string forky =
      EnvOr("PYSTROBE_FORKY_ROOT", CacheDir() + "/forky-root");
  const std::string t313 =
      EnvOr("PYSTROBE_PY313T", CacheDir() + "/cpython-3.13t");
  return {
      {"Py3_13_0", "",
       std::string(home ? home : "/root") +
           "/.pyenv/versions/3.13.0/bin/python3.13",
       0x030D0000, false, false},
      {"FreeThreaded3_13t", "", t313 + "/bin/python3.13t", 0x030D0500, false,
       true},
      {"Forky3_14", forky, "/usr/bin/python3.14", 0x030E0800, false, false},
      {"Forky3_14d", forky, "/usr/bin/python3.14d", 0x030E0800, true, false},
      {"Forky3_15", forky, "/usr/bin/python3.15", 0x030F0000, false, false},
      {"Forky3_15d", forky, "/usr/bin/python3.15d", 0x030F0000, true, false},
  };
}

// A Python child that prints "ready" once initialized and then sleeps;
// killed and reaped on destruction. Chrooted ones run in a private mount
// namespace with /proc mounted in the root (every step execs: same PID).
class PythonChild {
 public:
  explicit PythonChild(const LiveCase& c) {
    std::vector<std::string> argv;
    if (!c.root.empty()) {
      argv = {"/usr/bin/unshare",
              "--mount",
              "--propagation",
              "private",
              "/bin/sh",
              "-c",
              "mount -t proc proc \"$0/proc\" && exec /usr/sbin/chroot "
              "\"$0\" \"$@\"",
              c.root};
    }
    argv.insert(argv.end(), {c.exe, "-c",
                             "import sys, time\nprint('ready', flush=True)\n"
                             "time.sleep(60)"});
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
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
  ~PythonChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  PythonChild(const PythonChild&) = delete;
  PythonChild& operator=(const PythonChild&) = delete;
  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

class DebugOffsetsLiveTest : public ::testing::TestWithParam<LiveCase> {};

TEST_P(DebugOffsetsLiveTest, RealRuntimeParsesAndAgreesWithTheTable) {
  const LiveCase& c = GetParam();
  const std::string host_exe = c.root + c.exe;
  if (access(host_exe.c_str(), X_OK) != 0) {
    GTEST_SKIP() << host_exe
                 << " is not installed (scripts/install-deps.sh sets up the "
                    "forky root and 3.13t)";
  }
  PythonChild child(c);
  ASSERT_TRUE(child.ready());
  ProcFs proc;
  absl::StatusOr<std::vector<MemoryMapping>> maps = proc.ReadMaps(child.pid());
  ASSERT_THAT(maps, IsOk());
  // The binary that defines _PyRuntime: libpython or the executable. The
  // paths in maps are the machine's view (the root's prefix included).
  std::string holder;
  std::optional<ElfSymbol> runtime;
  absl::StatusOr<ElfFile> elf = absl::NotFoundError("no _PyRuntime");
  for (const MemoryMapping& m : *maps) {
    if (m.path.empty() || m.path == holder) continue;
    if (m.path.find("python3.1") == std::string::npos) continue;
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
  EXPECT_EQ(parsed->version & 0xFFFFFF00, c.version_hex);
  EXPECT_EQ(parsed->free_threaded, c.free_threaded);
  PythonVersion version{3, static_cast<int>((c.version_hex >> 16) & 0xFF),
                        static_cast<int>((c.version_hex >> 8) & 0xFF), c.debug};
  version.free_threaded = c.free_threaded;
  const LayoutEntry* table = FindLayout(version);
  ASSERT_NE(table, nullptr) << "no table entry for " << c.name;
  ASSERT_EQ(table->version_hex, c.version_hex);
  int compared = 0;
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    const Field f = static_cast<Field>(i);
    // Fields only the target's own offsets give (the generator, set, long
    // and type fields asyncio's task reader needs on 3.14+) have no entry
    // in the table to agree with.
    if (!parsed->layout.Has(f) || !table->layout.Has(f)) continue;
    // Debian's 3.15.0 says 8 bytes more than its headers compile to here
    // (pystrobe never copies PyInterpreterState whole).
    if (f == Field::kSizeofInterpreterState) continue;
    EXPECT_EQ(parsed->layout.Offset(f), table->layout.Offset(f))
        << FieldName(f);
    ++compared;
  }
  EXPECT_GE(compared, 30);
  // What the walker would use without the table: the same values.
  const Layout derived = LayoutFromDebugOffsets(*parsed, nullptr);
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    const Field f = static_cast<Field>(i);
    if (!derived.Has(f) || !table->layout.Has(f) ||
        f == Field::kSizeofInterpreterState) {
      continue;
    }
    EXPECT_EQ(derived.Offset(f), table->layout.Offset(f))
        << "derived " << FieldName(f);
  }
  for (Field f : {Field::kCodeFirstTraceable, Field::kUnicodeDataAny,
                  Field::kSizeofCompactUnicode, Field::kUnicodeKindBit}) {
    EXPECT_TRUE(derived.Has(f)) << FieldName(f);
  }
}

INSTANTIATE_TEST_SUITE_P(Interpreters, DebugOffsetsLiveTest,
                         ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<LiveCase>& p) {
                           return p.param.name;
                         });

}  // namespace
}  // namespace pystrobe::testing
