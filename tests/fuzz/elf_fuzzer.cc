// libFuzzer target for ELF symbol reading: ElfFile::Open (what pystrobe
// runs on every binary a target maps) on the input as a file, then what
// finding the interpreter asks of it: CPython's symbols, the .rodata bytes
// and the version string in them, the build-id, the load bias against
// mappings made from its own segments.
//
// The input is a memfd opened through /proc/self/fd/N: a regular file that
// libelf mmaps and SectionBytes preads, so the code path is Open's own,
// without touching the disk.
//
// Seeds: tests/fuzz/corpus/elf/ (tiny binaries compiled for the purpose,
// stripped and not, static and PIE).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "binary_finder.h"
#include "pystrobe/elf/elf_file.h"
#include "pystrobe/process/proc_fs.h"

namespace {

// Not assert(): fuzz builds may define NDEBUG.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ELF fuzzer invariant broken: %s\n", what);
    __builtin_trap();
  }
}

int MemFd() {
  static const int fd = [] {
    const int f = memfd_create("elf_fuzzer", MFD_CLOEXEC);
    if (f < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    return f;
  }();
  return fd;
}

void WriteAll(int fd, const uint8_t* data, size_t size) {
  Check(ftruncate(fd, 0) == 0, "ftruncate");
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    Check(n > 0, "pwrite");
    done += static_cast<size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pystrobe;  // NOLINT(build/namespaces): a fuzz harness
  const int fd = MemFd();
  WriteAll(fd, data, size);
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  absl::StatusOr<ElfFile> elf = ElfFile::Open(path);
  if (!elf.ok()) {
    return 0;
  }
  for (const char* name : {"_PyRuntime", "Py_Version", "PyCode_Type",
                           "interp_head", "_PyThreadState_Current", "main"}) {
    std::optional<ElfSymbol> symbol = elf->FindSymbol(name);
    if (symbol) Check(symbol->name == name, "a symbol under another name");
  }
  Check(elf->build_id().size() % 2 == 0, "a build-id of odd length");
  Check(elf->sections().size() <= size, "more sections than bytes");
  absl::StatusOr<std::string> rodata = elf->SectionBytes(".rodata", size);
  if (rodata.ok()) {
    Check(rodata->size() <= size, "a section larger than the file");
    (void)VersionFromRodata(*rodata, std::nullopt);
    (void)VersionFromRodata(*rodata, std::make_pair(3, 11));
  }
  for (const ElfSection& section : elf->sections()) {
    absl::StatusOr<std::string> bytes = elf->SectionBytes(section.name, size);
    if (bytes.ok()) Check(bytes->size() <= size, "a section past the end");
  }
  // The mappings a loader would make of it, at a page-aligned base.
  std::vector<MemoryMapping> maps;
  for (const ElfLoadSegment& load : elf->load_segments()) {
    MemoryMapping m;
    m.start = 0x7f0000000000 + (load.vaddr & ~uint64_t{0xfff});
    m.end = m.start + 0x1000;
    m.offset = load.offset & ~uint64_t{0xfff};
    m.path = "/usr/lib/libpython3.11.so.1.0";
    maps.push_back(m);
  }
  (void)elf->LoadBias(maps, "/usr/lib/libpython3.11.so.1.0");
  return 0;
}
