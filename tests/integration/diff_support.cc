#include "diff_support.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe::integration {

std::string PystrobeDiffBinary() {
  const std::string pystrobe = PystrobeBinary();
  return pystrobe.substr(0, pystrobe.rfind('/')) + "/pystrobe-diff";
}

Profile MakeProfile(const std::vector<std::pair<std::string, int>>& self,
                    int runs, const std::string& type) {
  Profile p;
  p.sample_types = {{"samples", "count"}, {type, "nanoseconds"}};
  p.period_type = {type, "nanoseconds"};
  p.period = 10'000'000;
  p.default_sample_type = type;
  p.duration_nanos = 1'000'000'000;
  p.comments = {"command_line=python3 app.py", "python_version=3.11.2",
                "pystrobe.target=launched",
                absl::StrCat("pystrobe.runs=", runs)};
  const uint64_t main = p.AddFunction({"main", "main", "/srv/app.py", 1});
  const uint64_t l_main = p.AddLocation({main, 2});
  int line = 10;
  int salt = 0;
  for (const auto& [name, count] : self) {
    const uint64_t f = p.AddFunction({name, name, "/srv/app.py", line});
    const uint64_t loc = p.AddLocation({f, line + 1});
    line += 10;
    // Runs of fixed work, each within a sample or two of count / runs, as
    // runs of the same code are: the spread between them is the noise.
    for (int r = 0; r < runs; ++r) {
      const int wobble = ((r * 7 + salt) % 5) - 2;  // -2..2, deterministic
      const int n =
          std::max(0, count / runs + (count >= 10 * runs ? wobble : 0));
      if (n == 0) continue;
      p.samples.push_back(
          {{loc, l_main}, {n, int64_t{n} * 10'000'000}, {{"run", "", r, ""}}});
    }
    ++salt;
  }
  return p;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

void WriteProfile(const Profile& p, const std::string& path) {
  absl::StatusOr<std::string> gz = EncodePprof(p);
  ASSERT_TRUE(gz.ok()) << gz.status();
  WriteBytes(path, *gz);
}

CommandResult RunDiff(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {PystrobeDiffBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, absl::Seconds(120));
}

::testing::AssertionResult IsBadInput(const CommandResult& r) {
  if (!r.exited || r.exit_code != 2) {
    return ::testing::AssertionFailure() << "want exit 2, got " << r.Describe();
  }
  if (!r.out.empty()) {
    return ::testing::AssertionFailure()
           << "stdout not empty: " << r.Describe();
  }
  if (!absl::StartsWith(r.err, "pystrobe-diff: ") || r.err.back() != '\n' ||
      r.err.find('\n') != r.err.size() - 1) {
    return ::testing::AssertionFailure()
           << "want one stderr line starting 'pystrobe-diff: ', got "
           << r.Describe();
  }
  return ::testing::AssertionSuccess() << r.err;
}

}  // namespace pystrobe::integration
