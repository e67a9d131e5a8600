// CPython 3.13+ publishes its own struct offsets in _Py_DebugOffsets, at the
// very start of _PyRuntime (cookie "xdebugpy"). pystrobe reads them at attach
// time and lets them override the generated table, so a patch release with a
// changed layout still works, and a build the table lacks (3.14t, 3.15t) can
// be read at all. The struct is the target's data: every offset is validated
// against the size it claims before use.
//
// The struct grows with each minor version (3.14 and 3.15 insert members in
// the middle of its groups), so its word order is spelled out per version,
// from Include/internal/pycore_runtime.h (3.13) and
// Include/internal/pycore_debug_offsets.h (3.14, 3.15). A version whose order
// pystrobe does not know (3.16) is refused, never guessed.
//
//   std::string raw(kDebugOffsetsReadSize, '\0');
//   RETURN_IF_ERROR(memory.Read(runtime, raw.data(), raw.size()));
//   ASSIGN_OR_RETURN(DebugOffsets offsets, ParseDebugOffsets(raw));
//   ASSIGN_OR_RETURN(Layout layout, LayoutFromDebugOffsets(offsets, entry));
#ifndef PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_
#define PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "pystrobe/python/layout.h"

namespace pystrobe {

// Bytes to read from the start of _PyRuntime: 3.13's struct is 584 bytes,
// 3.14's 760, 3.15's 888; reading more is harmless (_PyRuntime is large).
inline constexpr size_t kDebugOffsetsReadSize = 1024;

struct DebugOffsets {
  uint64_t version = 0;  // PY_VERSION_HEX of the target
  bool free_threaded = false;
  Layout layout;  // only the fields _Py_DebugOffsets provides are set
};

// The PY_VERSION_HEX in a _Py_DebugOffsets image (no validation beyond the
// cookie): InvalidArgument when `raw` does not start with the cookie.
absl::StatusOr<uint64_t> DebugOffsetsVersion(std::string_view raw);

// Parses and validates the _Py_DebugOffsets of CPython 3.13, 3.14 or 3.15 at
// the start of `raw`. InvalidArgument when the cookie is missing;
// UnsupportedVersionError for a version whose struct pystrobe does not know;
// InconsistentError when an offset lies outside the struct it belongs to or
// the values contradict each other.
absl::StatusOr<DebugOffsets> ParseDebugOffsets(std::string_view raw);

// The layout to read the target with: the offsets the target carries, and
// for what they lack, the generated table's `entry` when it is of the same
// flavour and agrees with them on every field both have; otherwise (no
// entry, or a patch release whose structs moved) values derived from the
// offsets by rules that hold in the headers of 3.13-3.15 (debug_offsets.cc
// says which). `entry` may be nullptr.
Layout LayoutFromDebugOffsets(const DebugOffsets& offsets,
                              const LayoutEntry* entry);

// Copies every field `offsets` has into `layout`.
void ApplyDebugOffsets(const DebugOffsets& offsets, Layout& layout);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_
