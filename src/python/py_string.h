// Decoding CPython string and bytes objects from the target into UTF-8.
//
// 2.7: names and file names are `str` (PyStringObject, bytes); `unicode`
// holds Py_UNICODE (UCS2 or UCS4 by build). 3.3+: PEP 393 strings, compact
// ASCII, compact UCS1/UCS2/UCS4, or legacy with a separate data pointer.
// Lengths are capped, so a garbage object costs a bounded read.
//
//   ASSIGN_OR_RETURN(std::string name,
//                    ReadPyString(memory, layout, version, co_name_address));
#ifndef PYSTROBE_SRC_PYTHON_PY_STRING_H_
#define PYSTROBE_SRC_PYTHON_PY_STRING_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/version.h"

namespace pystrobe {

// Longest string pystrobe decodes, in code points; longer ones are an error
// (no real function or file name is this long; garbage often claims to be).
inline constexpr int64_t kMaxStringLength = 1 << 16;
// Longest bytes object (line tables).
inline constexpr int64_t kMaxBytesLength = 8 << 20;

// A str (3.x) or a 2.7 str, as UTF-8. Code points that UTF-8 cannot carry
// (lone surrogates) become U+FFFD.
absl::StatusOr<std::string> ReadPyString(RemoteMemory& memory,
                                         const Layout& layout,
                                         const PythonVersion& version,
                                         uint64_t address);

// A 2.7 unicode object, as UTF-8.
absl::StatusOr<std::string> ReadPy2Unicode(RemoteMemory& memory,
                                           const Layout& layout,
                                           uint64_t address);

// The contents of a bytes object (2.7: str).
absl::StatusOr<std::string> ReadPyBytes(RemoteMemory& memory,
                                        const Layout& layout, uint64_t address);

// Appends code point `cp` to `out` as UTF-8 (U+FFFD for surrogates and
// values above U+10FFFF).
void AppendUtf8(uint32_t cp, std::string& out);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_PY_STRING_H_
