// What the --native integration tests share: the C extension
// (tests/workloads/native_ext.c, built with gcc against each interpreter's
// own headers) and its workload (tests/workloads/native_burn.py).
#ifndef PYSTROBE_TESTS_INTEGRATION_NATIVE_SUPPORT_H_
#define PYSTROBE_TESTS_INTEGRATION_NATIVE_SUPPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "interpreters.h"
#include "subprocess.h"

namespace pystrobe::integration {

// The interpreters that can build and import the extension (2.7 and 3.6+).
std::vector<Interpreter> NativeInterpreters();

// Builds the extension for `py` into `dir`/ext; returns that folder as the
// target sees it.
absl::StatusOr<std::string> BuildExtension(const Interpreter& py,
                                           const std::string& dir);

struct Started {
  ChildProcess child;
  std::string ready;  // host path of the workload's report
};

// Builds the extension and starts native_burn.py with `args` ("READY"
// stands for the report's path as the target sees it).
absl::StatusOr<Started> StartNativeBurn(const Interpreter& py,
                                        const ScopedTempDir& dir,
                                        const std::vector<std::string>& args);

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_NATIVE_SUPPORT_H_
