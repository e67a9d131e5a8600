#include "runtime_roots.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "remote_struct.h"

namespace pystrobe {
namespace {

// Largest region scanned for a stripped runtime.
constexpr uint64_t kMaxScanBytes = 64 << 20;
// Candidates validated at most (each costs a few cached reads).
constexpr int kMaxCandidates = 200000;

bool InWritableMapping(const std::vector<MemoryMapping>& maps, uint64_t a) {
  for (const MemoryMapping& m : maps) {
    if (m.Contains(a)) return m.readable && m.writable;
  }
  return false;
}

// Scans `section` of the binary, as mapped in the target, for an 8-aligned
// slot `slot` such that *(slot + pointer_offset) is a valid interpreter.
// Returns the slot's address.
std::optional<uint64_t> ScanSection(const PythonBinary& binary,
                                    std::string_view section_name,
                                    RemoteMemory& memory, const Layout& layout,
                                    const std::vector<MemoryMapping>& maps,
                                    int32_t pointer_offset, int* budget) {
  std::optional<ElfSection> section = binary.elf.FindSection(section_name);
  if (!section || section->size == 0 || section->size > kMaxScanBytes) {
    return std::nullopt;
  }
  const uint64_t start = section->address + binary.bias;
  std::string bytes(section->size, '\0');
  if (!memory.Read(start, bytes.data(), bytes.size()).ok()) {
    return std::nullopt;
  }
  for (uint64_t off = 0; off + pointer_offset + 8 <= bytes.size(); off += 8) {
    uint64_t value;
    std::memcpy(&value, bytes.data() + off + pointer_offset, 8);
    if (value == 0 || value % 8 != 0 || !InWritableMapping(maps, value)) {
      continue;
    }
    if (--*budget < 0) return std::nullopt;
    if (LooksLikeInterpreter(memory, layout, value)) return start + off;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> RuntimeAddress(const PythonBinary& binary) {
  if (std::optional<uint64_t> symbol = binary.SymbolAddress("_PyRuntime")) {
    return symbol;
  }
  std::optional<ElfSection> section = binary.elf.FindSection(".PyRuntime");
  if (!section || section->size == 0) return std::nullopt;
  return section->address + binary.bias;
}

bool LooksLikeInterpreter(RemoteMemory& memory, const Layout& layout,
                          uint64_t interp) {
  absl::StatusOr<uint64_t> tstate =
      ReadField<uint64_t>(memory, layout, interp, Field::kInterpTstateHead);
  if (!tstate.ok() || *tstate == 0 || *tstate % 8 != 0) return false;
  absl::StatusOr<uint64_t> back =
      ReadField<uint64_t>(memory, layout, *tstate, Field::kTstateInterp);
  return back.ok() && *back == interp;
}

absl::StatusOr<RuntimeRoots> FindRuntimeRoots(
    const PythonBinary& binary, const PythonVersion& version,
    RemoteMemory& memory, const Layout& layout,
    const std::vector<MemoryMapping>& maps) {
  RuntimeRoots roots;
  roots.types.code_type = binary.SymbolAddress("PyCode_Type").value_or(0);
  if (!version.AtLeast(3, 11)) {
    roots.types.frame_type = binary.SymbolAddress("PyFrame_Type").value_or(0);
  }
  int budget = kMaxCandidates;
  const bool has_runtime = version.AtLeast(3, 7);
  if (has_runtime) {
    std::optional<uint64_t> runtime = version.AtLeast(3, 13)
                                          ? RuntimeAddress(binary)
                                          : binary.SymbolAddress("_PyRuntime");
    // 3.13+ has _Py_DebugOffsets at the start; interpreters.head comes from
    // there, but the table gives it too and is used for a stripped scan.
    std::optional<int32_t> head_offset =
        layout.Offset(Field::kRuntimeInterpretersHead);
    if (!runtime && head_offset) {
      for (const char* name : {".PyRuntime", ".data", ".bss"}) {
        runtime = ScanSection(binary, name, memory, layout, maps, *head_offset,
                              &budget);
        if (runtime) break;
      }
    }
    if (!runtime) {
      return NotPythonError(
          absl::StrCat("cannot find _PyRuntime in ", binary.path,
                       " (no symbol, and no interpreter found in its data)"));
    }
    roots.runtime = *runtime;
    if (head_offset) roots.interpreters_head = *runtime + *head_offset;
    if (std::optional<int32_t> current =
            layout.Offset(Field::kRuntimeTstateCurrent)) {
      roots.tstate_current = *runtime + *current;
    }
    return roots;
  }
  // 2.7 and 3.6: a static `interp_head` and an exported
  // `_PyThreadState_Current`.
  std::optional<uint64_t> head = binary.SymbolAddress("interp_head");
  if (!head) {
    for (const char* name : {".data", ".bss"}) {
      head = ScanSection(binary, name, memory, layout, maps, 0, &budget);
      if (head) break;
    }
  }
  if (!head) {
    return NotPythonError(
        absl::StrCat("cannot find interp_head in ", binary.path,
                     " (no symbol, and no interpreter found in its data)"));
  }
  roots.interpreters_head = *head;
  roots.tstate_current =
      binary.SymbolAddress("_PyThreadState_Current").value_or(0);
  return roots;
}

}  // namespace pystrobe
