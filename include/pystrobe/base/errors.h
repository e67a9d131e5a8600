// The status codes pystrobe gives to the failures it expects.
//
// Sampling a live process fails routinely: a page is unmapped between reading
// a pointer and following it, a thread exits, the whole process exits. These
// failures get their own codes so that callers can count them rather than
// abort, and so the CLI can map each to a distinct exit code:
//
//   absl::Status s = memory.Read(addr, buf, n);
//   if (IsProcessGone(s)) return FinishProfile();
//   if (IsMemoryGone(s) || IsInconsistent(s)) { ++errors; continue; }
#ifndef PYSTROBE_BASE_ERRORS_H_
#define PYSTROBE_BASE_ERRORS_H_

#include <string_view>

#include "absl/status/status.h"

namespace pystrobe {

// Memory at an address could not be read (unmapped, or vanished meanwhile).
absl::Status MemoryGoneError(std::string_view message);
// The target process (or thread) no longer exists.
absl::Status ProcessGoneError(std::string_view message);
// Data read from the target failed validation: a torn or garbage structure.
absl::Status InconsistentError(std::string_view message);
// --async: a thread's stack was read, but the asyncio task it runs (or the
// awaiters' chain above it) changed while read, or its running task was
// missing from a torn read of asyncio's own record. Counted apart from
// InconsistentError: the stack is fine, its task is not known.
absl::Status TaskTornError(std::string_view message);
// The caller lacks the privilege to inspect the target.
absl::Status NoPermissionError(std::string_view message);
// The target is not a CPython process.
absl::Status NotPythonError(std::string_view message);
// The target runs a CPython version pystrobe does not support.
absl::Status UnsupportedVersionError(std::string_view message);

bool IsMemoryGone(const absl::Status& status);
bool IsProcessGone(const absl::Status& status);
bool IsInconsistent(const absl::Status& status);
bool IsTaskTorn(const absl::Status& status);
bool IsNoPermission(const absl::Status& status);
bool IsNotPython(const absl::Status& status);
bool IsUnsupportedVersion(const absl::Status& status);

// Maps an errno from a syscall on the target to one of the codes above where
// one fits (EFAULT/EIO: memory gone, ESRCH: process gone, EPERM/EACCES: no
// permission), else to absl::ErrnoToStatus.
absl::Status StatusFromErrno(int errno_value, std::string_view message);

}  // namespace pystrobe

#endif  // PYSTROBE_BASE_ERRORS_H_
