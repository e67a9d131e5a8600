// Finding the interpreter inside a target process: which mapped binary holds
// CPython (libpython, or the executable for static builds), its version and
// build flavour, and the addresses of the runtime's roots.
#ifndef PYSTROBE_SRC_PYTHON_BINARY_FINDER_H_
#define PYSTROBE_SRC_PYTHON_BINARY_FINDER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/elf/elf_file.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/version.h"

namespace pystrobe {

struct PythonBinary {
  std::string path;  // as mapped (the target's view)
  ElfFile elf;
  uint64_t bias = 0;
  // major.minor from the file name ("libpython3.8.so.1.0", "python2.7"),
  // when it has one.
  std::optional<std::pair<int, int>> name_version;

  // Runtime address of a symbol, if the binary has it.
  std::optional<uint64_t> SymbolAddress(std::string_view name) const;
};

// Finds the binary that holds the interpreter. NotPythonError, naming the
// executable, when there is none.
absl::StatusOr<PythonBinary> FindPythonBinary(
    const ProcFs& proc, pid_t pid, const std::vector<MemoryMapping>& maps);

// major.minor from a file name: "libpython3.6m.so.1.0" -> (3, 6).
std::optional<std::pair<int, int>> VersionFromFileName(std::string_view path);

// Finds PY_VERSION ("3.8.18", "2.7.18+") among the NUL-terminated strings of
// `rodata`; with `major_minor`, only that series is accepted.
std::optional<PythonVersion> VersionFromRodata(
    std::string_view rodata, std::optional<std::pair<int, int>> major_minor);

// The version of the interpreter in `binary`: Py_Version (3.11+) read from
// the target, else the file name and the version string in .rodata.
absl::StatusOr<PythonVersion> DetectVersion(const PythonBinary& binary,
                                            RemoteMemory& memory);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_BINARY_FINDER_H_
