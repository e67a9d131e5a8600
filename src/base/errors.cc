#include "pystrobe/base/errors.h"

#include <cerrno>

namespace pystrobe {
namespace {

// Each routine failure is a distinct (code, payload) pair: the code is a
// standard one, the payload tells the pystrobe kind apart from other errors
// with the same code.
constexpr std::string_view kKindUrl = "pystrobe/kind";

// Debian's Abseil is built with its own absl::string_view (not
// std::string_view): convert explicitly at the boundary.
absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

absl::Status Make(absl::StatusCode code, std::string_view kind,
                  std::string_view message) {
  absl::Status status(code, AbslView(message));
  status.SetPayload(AbslView(kKindUrl), absl::Cord(AbslView(kind)));
  return status;
}

bool Is(const absl::Status& status, absl::StatusCode code,
        std::string_view kind) {
  if (status.code() != code) return false;
  auto payload = status.GetPayload(AbslView(kKindUrl));
  return payload.has_value() && *payload == AbslView(kind);
}

}  // namespace

absl::Status MemoryGoneError(std::string_view message) {
  return Make(absl::StatusCode::kOutOfRange, "memory-gone", message);
}
absl::Status ProcessGoneError(std::string_view message) {
  return Make(absl::StatusCode::kNotFound, "process-gone", message);
}
absl::Status InconsistentError(std::string_view message) {
  return Make(absl::StatusCode::kDataLoss, "inconsistent", message);
}
absl::Status TaskTornError(std::string_view message) {
  return Make(absl::StatusCode::kDataLoss, "task-torn", message);
}
absl::Status NoPermissionError(std::string_view message) {
  return Make(absl::StatusCode::kPermissionDenied, "no-permission", message);
}
absl::Status NotPythonError(std::string_view message) {
  return Make(absl::StatusCode::kFailedPrecondition, "not-python", message);
}
absl::Status UnsupportedVersionError(std::string_view message) {
  return Make(absl::StatusCode::kUnimplemented, "unsupported-version", message);
}

bool IsMemoryGone(const absl::Status& s) {
  return Is(s, absl::StatusCode::kOutOfRange, "memory-gone");
}
bool IsProcessGone(const absl::Status& s) {
  return Is(s, absl::StatusCode::kNotFound, "process-gone");
}
bool IsInconsistent(const absl::Status& s) {
  return Is(s, absl::StatusCode::kDataLoss, "inconsistent");
}
bool IsTaskTorn(const absl::Status& s) {
  return Is(s, absl::StatusCode::kDataLoss, "task-torn");
}
bool IsNoPermission(const absl::Status& s) {
  return Is(s, absl::StatusCode::kPermissionDenied, "no-permission");
}
bool IsNotPython(const absl::Status& s) {
  return Is(s, absl::StatusCode::kFailedPrecondition, "not-python");
}
bool IsUnsupportedVersion(const absl::Status& s) {
  return Is(s, absl::StatusCode::kUnimplemented, "unsupported-version");
}

absl::Status StatusFromErrno(int errno_value, std::string_view message) {
  switch (errno_value) {
    case EFAULT:
    case EIO:
      return MemoryGoneError(message);
    case ESRCH:
      return ProcessGoneError(message);
    case EPERM:
    case EACCES:
      return NoPermissionError(message);
    default:
      return absl::ErrnoToStatus(errno_value, AbslView(message));
  }
}

}  // namespace pystrobe
