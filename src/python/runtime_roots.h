// The roots a walk starts from: where the pointer to the first interpreter
// lives, where the GIL holder is recorded, and the type objects frames are
// checked against.
//
// By symbol first (_PyRuntime for 3.7+, interp_head for 2.7 and 3.6, which is
// static and so only in .symtab). When the symbols are stripped, a validated
// scan of the binary's writable data (.PyRuntime, .data, .bss) finds the
// structure whose interpreter's first thread state points back to it.
#ifndef PYSTROBE_SRC_PYTHON_RUNTIME_ROOTS_H_
#define PYSTROBE_SRC_PYTHON_RUNTIME_ROOTS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "binary_finder.h"
#include "frame_walker.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"

namespace pystrobe {

struct RuntimeRoots {
  uint64_t runtime = 0;            // &_PyRuntime (3.7+)
  uint64_t interpreters_head = 0;  // address of the first interpreter pointer
  uint64_t tstate_current = 0;     // address of the GIL holder pointer, or 0
  TypeAddresses types;
};

// Where _PyRuntime is without scanning: its symbol, else (3.13+, which
// place it in a section of its own for out-of-process readers) the start of
// the .PyRuntime section.
std::optional<uint64_t> RuntimeAddress(const PythonBinary& binary);

absl::StatusOr<RuntimeRoots> FindRuntimeRoots(
    const PythonBinary& binary, const PythonVersion& version,
    RemoteMemory& memory, const Layout& layout,
    const std::vector<MemoryMapping>& maps);

// True if `interp` looks like a live PyInterpreterState: its first thread
// state (if any) points back to it.
bool LooksLikeInterpreter(RemoteMemory& memory, const Layout& layout,
                          uint64_t interp);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_RUNTIME_ROOTS_H_
