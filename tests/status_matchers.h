// gmock matchers for absl::Status and absl::StatusOr, shaped like the ones
// later Abseil releases ship (absl/status/status_matchers.h):
//
//   EXPECT_THAT(ReadMaps(pid), IsOk());
//   EXPECT_THAT(memory.Read(0, buf, 8), StatusIs(absl::StatusCode::kOutOfRange));
//   EXPECT_THAT(ParseStat(text), IsOkAndHolds(Field(&ThreadInfo::state, 'S')));
#ifndef PYSTROBE_TESTS_STATUS_MATCHERS_H_
#define PYSTROBE_TESTS_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace pystrobe::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code,
          "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code;
}

MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a value that matches") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_STATUS_MATCHERS_H_
