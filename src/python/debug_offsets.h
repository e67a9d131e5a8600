// CPython 3.13+ publishes its own struct offsets in _Py_DebugOffsets, at the
// very start of _PyRuntime (cookie "xdebugpy"). pystrobe reads them at attach
// time and lets them override the generated table, so a 3.13.x patch release
// with a changed layout still works. The struct is the target's data: every
// offset is validated against the size it claims before use.
//
//   std::string raw(kDebugOffsetsReadSize, '\0');
//   RETURN_IF_ERROR(memory.Read(runtime, raw.data(), raw.size()));
//   ASSIGN_OR_RETURN(DebugOffsets offsets, ParseDebugOffsets(raw));
//   ApplyDebugOffsets(offsets, layout);
#ifndef PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_
#define PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "pystrobe/python/layout.h"

namespace pystrobe {

// Bytes to read from the start of _PyRuntime: the 3.13 struct is 3 + 69
// uint64 words (576 bytes); reading more is harmless (_PyRuntime is large)
// and leaves room for the fields later versions append.
inline constexpr size_t kDebugOffsetsReadSize = 1024;

struct DebugOffsets {
  uint64_t version = 0;  // PY_VERSION_HEX of the target
  bool free_threaded = false;
  Layout layout;  // only the fields _Py_DebugOffsets provides are set
};

// Parses and validates the 3.13 _Py_DebugOffsets at the start of `raw`.
// InvalidArgument when the cookie is missing; InconsistentError when an
// offset lies outside the struct it belongs to.
absl::StatusOr<DebugOffsets> ParseDebugOffsets(std::string_view raw);

// Copies every field `offsets` has into `layout`.
void ApplyDebugOffsets(const DebugOffsets& offsets, Layout& layout);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_DEBUG_OFFSETS_H_
