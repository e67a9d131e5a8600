// Status propagation macros.
//
// Debian's Abseil (20220623) has no status macros, so pystrobe defines the two
// it needs, shaped like the ones Abseil and perfetto ship later:
//
//   absl::StatusOr<Frame> ReadFrame(...) {
//     PYSTROBE_RETURN_IF_ERROR(memory.Read(addr, &raw, sizeof(raw)));
//     PYSTROBE_ASSIGN_OR_RETURN(std::string name, ReadString(...));
//     ...
//   }
#ifndef PYSTROBE_BASE_STATUS_MACROS_H_
#define PYSTROBE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PYSTROBE_RETURN_IF_ERROR(expr)        \
  do {                                        \
    ::absl::Status pystrobe_status_ = (expr); \
    if (!pystrobe_status_.ok()) {             \
      return pystrobe_status_;                \
    }                                         \
  } while (false)

#define PYSTROBE_STATUS_CONCAT_INNER_(a, b) a##b
#define PYSTROBE_STATUS_CONCAT_(a, b) PYSTROBE_STATUS_CONCAT_INNER_(a, b)

#define PYSTROBE_ASSIGN_OR_RETURN(lhs, expr) \
  PYSTROBE_ASSIGN_OR_RETURN_IMPL_(           \
      PYSTROBE_STATUS_CONCAT_(pystrobe_statusor_, __LINE__), lhs, expr)

// `lhs` may be a declaration ("int x"), so it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define PYSTROBE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) {                                      \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // PYSTROBE_BASE_STATUS_MACROS_H_
