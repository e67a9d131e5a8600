// ElfFile checked against ground truth that does not come from pystrobe:
// dlsym and the addresses a library reports about itself, the address a
// non-PIE program or a real CPython prints, and the kernel's /proc/PID/maps.
#include "pystrobe/elf/elf_file.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/process/proc_fs.h"
#include "status_matchers.h"

extern char** environ;

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::IsOkAndHolds;
using ::pystrobe::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFixtureLib[] = ELF_FIXTURE_LIB;
constexpr char kFixtureNoPie[] = ELF_FIXTURE_NOPIE;
constexpr char kFixtureBuildId[] = ELF_FIXTURE_BUILD_ID;
// fixture_lib.cc's file-static variable, as the Itanium C++ ABI names a
// variable with internal linkage (extern "C" does not apply to it).
constexpr char kFileStatic[] = "_ZL19fixture_file_static";
constexpr char kSystemPython[] = "/usr/bin/python3.11";

// The kernel shows canonical paths in maps; the build path may hold symlinks.
std::string RealPath(const std::string& path) {
  char buffer[PATH_MAX];
  if (realpath(path.c_str(), buffer) == nullptr) {
    return path;
  }
  return buffer;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A fresh file name under the test's temp dir, removed when it goes away.
class TempPath {
 public:
  explicit TempPath(const std::string& stem) {
    std::string pattern =
        ::testing::TempDir() + "/elf_test_" + stem + "_XXXXXX";
    const int fd = mkstemp(pattern.data());
    if (fd >= 0) {
      close(fd);
    }
    path_ = pattern;
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  ~TempPath() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<MemoryMapping> SelfMaps() {
  absl::StatusOr<std::vector<MemoryMapping>> maps = ProcFs().ReadMaps(getpid());
  EXPECT_THAT(maps, IsOk());
  return maps.ok() ? *std::move(maps) : std::vector<MemoryMapping>();
}

const MemoryMapping* FindMapping(const std::vector<MemoryMapping>& maps,
                                 const std::string& path) {
  for (const MemoryMapping& mapping : maps) {
    if (mapping.path == path) {
      return &mapping;
    }
  }
  return nullptr;
}

uint64_t Address(const void* pointer) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(pointer));
}

// A program that prints one line and then waits for its stdin to close, so
// that its maps can be read while it runs.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int to_child[2];
    int from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
      return;
    }
    ScopedFd child_in(to_child[0]);
    ScopedFd child_out(from_child[1]);
    stdin_ = ScopedFd(to_child[1]);
    stdout_ = ScopedFd(from_child[0]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_in.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, child_out.get(), 1);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv) {
      args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) !=
        0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    stdin_.reset();
    if (pid_ > 0) {
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  pid_t pid() const { return pid_; }

  std::string ReadLine() {
    std::string line;
    char c = 0;
    while (line.size() < 256 && read(stdout_.get(), &c, 1) == 1 && c != '\n') {
      line.push_back(c);
    }
    return line;
  }

 private:
  pid_t pid_ = -1;
  ScopedFd stdin_;
  ScopedFd stdout_;
};

// Every accessor, for files that opened despite damage: nothing may crash.
void Exercise(const ElfFile& elf) {
  (void)elf.FindSymbol("pystrobe_fixture_global");
  (void)elf.FindSymbol("");
  (void)elf.build_id();
  for (const ElfSection& section : elf.sections()) {
    (void)elf.SectionBytes(section.name, 1 << 20);
  }
  std::vector<MemoryMapping> maps;
  for (const ElfLoadSegment& load : elf.load_segments()) {
    MemoryMapping mapping;
    mapping.start = 0x7f0000000000 + (load.vaddr & ~uint64_t{0xfff});
    mapping.end = mapping.start + 0x1000;
    mapping.offset = load.offset & ~uint64_t{0xfff};
    mapping.path = "/fuzz";
    maps.push_back(mapping);
  }
  (void)elf.LoadBias(maps, "/fuzz");
}

class SharedLibraryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = RealPath(kFixtureLib);
    handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
  }
  void TearDown() override {
    if (handle_ != nullptr) {
      dlclose(handle_);
    }
  }

  std::string path_;
  void* handle_ = nullptr;
};

TEST_F(SharedLibraryTest, SymbolsPlusLoadBiasMatchTheDynamicLinker) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path_);
  ASSERT_THAT(elf, IsOk());
  EXPECT_TRUE(elf->is_pie_or_shared());
  EXPECT_TRUE(elf->has_symtab());
  EXPECT_EQ(elf->path(), path_);

  absl::StatusOr<uint64_t> bias = elf->LoadBias(SelfMaps(), path_);
  ASSERT_THAT(bias, IsOk());
  EXPECT_NE(*bias, 0u);  // a shared library is never loaded at its vaddr 0

  for (const char* name :
       {"pystrobe_fixture_global", "pystrobe_fixture_zeroed",
        "pystrobe_fixture_function", "pystrobe_fixture_static_address"}) {
    SCOPED_TRACE(name);
    void* expected = dlsym(handle_, name);
    ASSERT_NE(expected, nullptr) << dlerror();
    std::optional<ElfSymbol> symbol = elf->FindSymbol(name);
    ASSERT_TRUE(symbol.has_value());
    EXPECT_EQ(symbol->name, name);
    EXPECT_EQ(symbol->value + *bias, Address(expected));
  }
  EXPECT_EQ(elf->FindSymbol("pystrobe_fixture_global")->size, sizeof(int));
  EXPECT_EQ(elf->FindSymbol("pystrobe_fixture_zeroed")->size,
            256 * sizeof(int));
  EXPECT_FALSE(elf->FindSymbol("pystrobe_no_such_symbol").has_value());
  EXPECT_FALSE(elf->FindSymbol("").has_value());
}

TEST_F(SharedLibraryTest, FileStaticIsFoundThroughSymtab) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path_);
  ASSERT_THAT(elf, IsOk());
  absl::StatusOr<uint64_t> bias = elf->LoadBias(SelfMaps(), path_);
  ASSERT_THAT(bias, IsOk());

  // Not exported, so only .symtab knows it.
  EXPECT_EQ(dlsym(handle_, kFileStatic), nullptr);
  auto report = reinterpret_cast<void* (*)()>(
      dlsym(handle_, "pystrobe_fixture_static_address"));
  ASSERT_NE(report, nullptr);
  std::optional<ElfSymbol> symbol = elf->FindSymbol(kFileStatic);
  ASSERT_TRUE(symbol.has_value());
  EXPECT_EQ(symbol->value + *bias, Address(report()));
}

TEST_F(SharedLibraryTest, BuildIdIsTheOneGivenToTheLinker) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path_);
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->build_id(), kFixtureBuildId);
}

TEST_F(SharedLibraryTest, SectionsHoldTheInitializedData) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path_);
  ASSERT_THAT(elf, IsOk());
  std::optional<ElfSection> data = elf->FindSection(".data");
  std::optional<ElfSection> bss = elf->FindSection(".bss");
  ASSERT_TRUE(data.has_value());
  ASSERT_TRUE(bss.has_value());
  EXPECT_FALSE(data->nobits);
  EXPECT_TRUE(bss->nobits);
  EXPECT_EQ(bss->name, ".bss");
  EXPECT_FALSE(elf->FindSection(".no_such_section").has_value());

  // Each variable lies in the section its initializer puts it in.
  const ElfSymbol global = *elf->FindSymbol("pystrobe_fixture_global");
  const ElfSymbol file_static = *elf->FindSymbol(kFileStatic);
  const ElfSymbol zeroed = *elf->FindSymbol("pystrobe_fixture_zeroed");
  for (const ElfSymbol& symbol : {global, file_static}) {
    EXPECT_GE(symbol.value, data->address) << symbol.name;
    EXPECT_LE(symbol.value + symbol.size, data->address + data->size)
        << symbol.name;
  }
  EXPECT_GE(zeroed.value, bss->address);
  EXPECT_LE(zeroed.value + zeroed.size, bss->address + bss->size);

  // The file's bytes hold the initial values from fixture_lib.c.
  absl::StatusOr<std::string> bytes = elf->SectionBytes(".data");
  ASSERT_THAT(bytes, IsOk());
  ASSERT_EQ(bytes->size(), data->size);
  int value = 0;
  std::memcpy(&value, bytes->data() + (global.value - data->address),
              sizeof(value));
  EXPECT_EQ(value, 42);
  std::memcpy(&value, bytes->data() + (file_static.value - data->address),
              sizeof(value));
  EXPECT_EQ(value, 7);

  EXPECT_THAT(elf->SectionBytes(".bss"), IsOkAndHolds(""));
  EXPECT_THAT(elf->SectionBytes(".data", data->size - 1),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(elf->SectionBytes(".no_such_section"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SharedLibraryTest, OpenMappedElfGoesThroughTheTargetRoot) {
  const std::vector<MemoryMapping> maps = SelfMaps();
  const MemoryMapping* mapping = FindMapping(maps, path_);
  ASSERT_NE(mapping, nullptr);
  ProcFs proc;
  absl::StatusOr<ElfFile> elf = OpenMappedElf(proc, getpid(), *mapping);
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->path(), proc.InTargetRoot(getpid(), path_));
  EXPECT_EQ(elf->build_id(), kFixtureBuildId);
}

// The bias arithmetic on mappings laid out as the loader lays them out, at a
// chosen bias: also when the first segment's mapping is missing.
TEST(LoadBiasTest, FindsTheBiasFromAnySegmentMapping) {
  absl::StatusOr<ElfFile> elf = ElfFile::Open(RealPath(kFixtureLib));
  ASSERT_THAT(elf, IsOk());
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t bias = 0x7f1234560000;
  std::vector<MemoryMapping> maps;
  for (const ElfLoadSegment& load : elf->load_segments()) {
    MemoryMapping mapping;
    mapping.start = bias + (load.vaddr & ~(page - 1));
    mapping.end = bias + load.vaddr + load.filesz;
    mapping.offset = load.offset & ~(page - 1);
    mapping.path = "/lib/fake.so";
    maps.push_back(mapping);
  }
  ASSERT_GE(maps.size(), 2u);
  EXPECT_THAT(elf->LoadBias(maps, "/lib/fake.so"), IsOkAndHolds(bias));
  maps.erase(maps.begin());
  EXPECT_THAT(elf->LoadBias(maps, "/lib/fake.so"), IsOkAndHolds(bias));
  EXPECT_THAT(elf->LoadBias(maps, "/lib/other.so"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(elf->LoadBias({}, "/lib/fake.so"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(NonPieTest, BiasIsZeroAndSymbolsAreAbsolute) {
  const std::string path = RealPath(kFixtureNoPie);
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  ASSERT_THAT(elf, IsOk());
  EXPECT_FALSE(elf->is_pie_or_shared());

  // Mappings as the kernel makes them for ET_EXEC: at the link-time address.
  std::vector<MemoryMapping> fake;
  for (const ElfLoadSegment& load : elf->load_segments()) {
    MemoryMapping mapping;
    mapping.start = load.vaddr & ~uint64_t{0xfff};
    mapping.end = load.vaddr + load.filesz;
    mapping.offset = load.offset & ~uint64_t{0xfff};
    mapping.path = path;
    fake.push_back(mapping);
  }
  EXPECT_THAT(elf->LoadBias(fake, path), IsOkAndHolds(0u));

  // And as the kernel really made them for a running copy.
  Child child({path});
  ASSERT_GT(child.pid(), 0);
  const uint64_t printed = strtoull(child.ReadLine().c_str(), nullptr, 0);
  ASSERT_NE(printed, 0u);
  absl::StatusOr<std::vector<MemoryMapping>> maps =
      ProcFs().ReadMaps(child.pid());
  ASSERT_THAT(maps, IsOk());
  EXPECT_THAT(elf->LoadBias(*maps, path), IsOkAndHolds(0u));
  std::optional<ElfSymbol> symbol = elf->FindSymbol("pystrobe_nopie_global");
  ASSERT_TRUE(symbol.has_value());
  EXPECT_EQ(symbol->value, printed);
}

TEST(SystemPythonTest, StrippedExecutableFindsPyRuntimeInDynsym) {
  if (access(kSystemPython, X_OK) != 0) {
    GTEST_SKIP() << kSystemPython << " is not installed";
  }
  const std::string path = RealPath(kSystemPython);
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  ASSERT_THAT(elf, IsOk());
  EXPECT_FALSE(elf->has_symtab());
  EXPECT_FALSE(elf->is_pie_or_shared());  // Debian builds it ET_EXEC
  EXPECT_FALSE(elf->build_id().empty());
  std::optional<ElfSymbol> runtime = elf->FindSymbol("_PyRuntime");
  ASSERT_TRUE(runtime.has_value());

  // The interpreter's own dlsym of _PyRuntime, through ctypes.
  Child child(
      {path, "-c",
       "import ctypes, sys\n"
       "runtime = ctypes.c_char.in_dll(ctypes.pythonapi, '_PyRuntime')\n"
       "print(ctypes.addressof(runtime), flush=True)\n"
       "sys.stdin.read()\n"});
  ASSERT_GT(child.pid(), 0);
  const uint64_t printed = strtoull(child.ReadLine().c_str(), nullptr, 0);
  ASSERT_NE(printed, 0u);
  absl::StatusOr<std::vector<MemoryMapping>> maps =
      ProcFs().ReadMaps(child.pid());
  ASSERT_THAT(maps, IsOk());
  absl::StatusOr<uint64_t> bias = elf->LoadBias(*maps, path);
  ASSERT_THAT(bias, IsOk());
  EXPECT_EQ(runtime->value + *bias, printed);
}

TEST(DeletedFileTest, OpenMappedElfReadsADeletedLibraryThroughMapFiles) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "/proc/PID/map_files needs CAP_SYS_ADMIN";
  }
  TempPath copy("deleted_lib");
  WriteFile(copy.path(), ReadFile(kFixtureLib));
  const std::string copy_path = RealPath(copy.path());
  void* handle = dlopen(copy_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  ASSERT_EQ(unlink(copy_path.c_str()), 0);

  const std::vector<MemoryMapping> maps = SelfMaps();
  const MemoryMapping* mapping = FindMapping(maps, copy_path);
  ASSERT_NE(mapping, nullptr);
  EXPECT_TRUE(mapping->deleted);
  absl::StatusOr<ElfFile> elf = OpenMappedElf(ProcFs(), getpid(), *mapping);
  ASSERT_THAT(elf, IsOk());
  EXPECT_THAT(elf->path(), HasSubstr("/map_files/"));
  EXPECT_EQ(elf->build_id(), kFixtureBuildId);

  absl::StatusOr<uint64_t> bias = elf->LoadBias(maps, copy_path);
  ASSERT_THAT(bias, IsOk());
  std::optional<ElfSymbol> symbol = elf->FindSymbol("pystrobe_fixture_global");
  ASSERT_TRUE(symbol.has_value());
  EXPECT_EQ(symbol->value + *bias,
            Address(dlsym(handle, "pystrobe_fixture_global")));
  dlclose(handle);
}

TEST(OpenMappedElfTest, ErrorsNameEveryPathTried) {
  // A /proc root without this process: both ways fail.
  ProcFs empty_proc(::testing::TempDir() + "/elf_test_no_proc");
  MemoryMapping mapping;
  mapping.start = 0x7f0000001000;
  mapping.end = 0x7f0000002000;
  mapping.path = "/usr/lib/libnothing.so";
  absl::StatusOr<ElfFile> elf = OpenMappedElf(empty_proc, 42, mapping);
  ASSERT_THAT(elf, Not(IsOk()));
  EXPECT_THAT(elf.status().message(),
              HasSubstr("/42/root/usr/lib/libnothing.so"));
  EXPECT_THAT(elf.status().message(),
              HasSubstr("/42/map_files/7f0000001000-7f0000002000"));

  mapping.path = "";
  EXPECT_THAT(OpenMappedElf(empty_proc, 42, mapping),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BadInputTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = ::testing::TempDir() + "/elf_test_missing";
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  EXPECT_THAT(elf, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(elf.status().message(), HasSubstr(path));
}

TEST(BadInputTest, TextFileIsNotAnElfFile) {
  TempPath text("text");
  WriteFile(text.path(), "#!/bin/sh\necho this is not an ELF file at all\n");
  absl::StatusOr<ElfFile> elf = ElfFile::Open(text.path());
  EXPECT_THAT(elf, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(elf.status().message(),
              HasSubstr(text.path() + " is not an ELF file"));
}

TEST(BadInputTest, ArchiveIsNotAnElfFile) {
  TempPath archive("archive");
  WriteFile(archive.path(), "!<arch>\n");
  EXPECT_THAT(ElfFile::Open(archive.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BadInputTest, EmptyFileAndDirectoryAreRejected) {
  TempPath empty("empty");
  WriteFile(empty.path(), "");
  EXPECT_THAT(ElfFile::Open(empty.path()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ElfFile::Open(::testing::TempDir()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BadInputTest, TruncatedLibraryIsAnError) {
  const std::string original = ReadFile(kFixtureLib);
  ASSERT_GT(original.size(), 4096u);
  TempPath truncated("truncated");
  WriteFile(truncated.path(), original.substr(0, 100));
  EXPECT_THAT(ElfFile::Open(truncated.path()), Not(IsOk()));

  // Every other cut: an error or a file that answers, never a crash.
  for (size_t size = 0; size < original.size(); size += 97) {
    WriteFile(truncated.path(), original.substr(0, size));
    absl::StatusOr<ElfFile> elf = ElfFile::Open(truncated.path());
    if (elf.ok()) {
      Exercise(*elf);
    }
  }
}

TEST(BadInputTest, RandomlyCorruptedLibraryNeverCrashes) {
  const std::string original = ReadFile(kFixtureLib);
  ASSERT_GT(original.size(), 4096u);
  TempPath corrupt("corrupt");
  const unsigned seed = std::random_device()();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 random(seed);
  // Headers decide how everything else is read; aim half the flips there
  // (the ELF and program headers at the start, section headers at the end).
  std::uniform_int_distribution<size_t> anywhere(0, original.size() - 1);
  std::uniform_int_distribution<size_t> head(0, 1023);
  std::uniform_int_distribution<size_t> tail(original.size() - 2048,
                                             original.size() - 1);
  std::uniform_int_distribution<int> flips(1, 8);
  std::uniform_int_distribution<int> byte(0, 255);
  int opened = 0;
  for (int iteration = 0; iteration < 500; ++iteration) {
    std::string bytes = original;
    const int count = flips(random);
    for (int i = 0; i < count; ++i) {
      size_t position = 0;
      switch (random() % 3) {
        case 0:
          position = anywhere(random);
          break;
        case 1:
          position = head(random);
          break;
        default:
          position = tail(random);
          break;
      }
      bytes[position] = static_cast<char>(byte(random));
    }
    WriteFile(corrupt.path(), bytes);
    absl::StatusOr<ElfFile> elf = ElfFile::Open(corrupt.path());
    if (elf.ok()) {
      ++opened;
      Exercise(*elf);
    }
  }
  // Most damage to code or data leaves a readable file; all of it failing
  // would mean Open rejects too much.
  std::cout << "opened " << opened << " of 500 corrupted copies\n";
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace pystrobe
