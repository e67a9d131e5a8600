// Helpers of the pystrobe-diff integration tests: the binary, small pprof
// files built without pystrobe record, and checks of how a command failed.
#ifndef PYSTROBE_TESTS_INTEGRATION_DIFF_SUPPORT_H_
#define PYSTROBE_TESTS_INTEGRATION_DIFF_SUPPORT_H_

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pystrobe/profile/profile.h"
#include "subprocess.h"

namespace pystrobe::integration {

// Path of the `pystrobe-diff` CLI under test (beside `pystrobe`).
std::string PystrobeDiffBinary();

// A wall-time profile of `runs` launched runs (numeric label "run", as
// `record --repeat` writes) of functions main -> each of `self` (name,
// samples over all runs), 10 ms per sample, runs within 2 samples of each
// other.
Profile MakeProfile(const std::vector<std::pair<std::string, int>>& self,
                    int runs = 5, const std::string& type = "wall");

// Writes `p` as gzipped pprof to `path`; dies on failure.
void WriteProfile(const Profile& p, const std::string& path);
void WriteBytes(const std::string& path, const std::string& bytes);

// `pystrobe-diff ARGS...`.
CommandResult RunDiff(const std::vector<std::string>& args);

// Exit 2, nothing on stdout, exactly one stderr line "pystrobe-diff: ...".
::testing::AssertionResult IsBadInput(const CommandResult& r);

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_DIFF_SUPPORT_H_
