// Private helpers of the process module for reading procfs files with the
// error codes pystrobe expects: a file that is missing or answers ESRCH means
// the process (or thread) exited; EACCES/EPERM means we may not inspect it.
#ifndef PYSTROBE_SRC_PROCESS_PROC_FILES_H_
#define PYSTROBE_SRC_PROCESS_PROC_FILES_H_

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pystrobe {

// Maps an errno from opening or reading a file of process `pid`:
// ENOENT/ESRCH -> ProcessGoneError, EACCES/EPERM -> NoPermissionError with
// PermissionAdvice(pid), anything else -> StatusFromErrno.
absl::Status ProcFileStatus(int errno_value, pid_t pid, std::string_view path);

// The whole content of a procfs file (they report size 0, so read to EOF).
absl::StatusOr<std::string> ReadProcFile(const std::string& path, pid_t pid);

// The numeric entries of a task directory (`<root>/PID/task`), sorted.
absl::StatusOr<std::vector<pid_t>> ListTaskIds(const std::string& task_dir,
                                               pid_t pid);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PROCESS_PROC_FILES_H_
