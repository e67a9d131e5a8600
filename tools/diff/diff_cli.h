// Pieces the pystrobe-diff commands share: errors, exit codes and argument
// scanning (reading profiles and resolving BASE are the diff module's:
// pystrobe/diff/profile_files.h).
#ifndef PYSTROBE_TOOLS_DIFF_DIFF_CLI_H_
#define PYSTROBE_TOOLS_DIFF_DIFF_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/diff/baseline_store.h"
#include "pystrobe/diff/profile_files.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe::diff_cli {

// Exit codes of pystrobe-diff (README.md).
enum ExitCode : int {
  kExitOk = 0,            // no regression, or not asked to fail
  kExitRegression = 1,    // a regression with --fail-on-regression
  kExitBadInput = 2,      // bad input or usage; nothing was written
  kExitInconclusive = 3,  // not conclusive, with --fail-on-inconclusive
};

inline constexpr char kDefaultStore[] = ".pystrobe/baselines";

// Prints "pystrobe-diff: <message>" as one line on stderr.
void PrintError(const absl::Status& status);
void PrintError(const std::string& message);

using ::pystrobe::LoadBase;
using ::pystrobe::LoadedProfile;
using ::pystrobe::LoadProfileFile;
using ::pystrobe::MetadataFor;
using ::pystrobe::ParseEntryRef;

// Sub-commands; `args` excludes the command name.
int RunCompare(const std::vector<std::string>& args);
int RunSave(const std::vector<std::string>& args);
int RunList(const std::vector<std::string>& args);
int RunShow(const std::vector<std::string>& args);

// Command-line scanning shared by the commands: "--opt VALUE" and
// "--opt=VALUE".
class Args {
 public:
  explicit Args(const std::vector<std::string>& args) : args_(args) {}
  bool Done() const { return i_ >= args_.size(); }
  const std::string& Current() const { return args_[i_]; }
  void Next() { ++i_; }
  // True when the current argument is `name` (or `name=...`); its value is
  // then in `value` (the next argument, or after '='), else `error` is set.
  bool Option(const char* name, std::string* value, std::string* error);
  bool Flag(const char* name) const { return args_[i_] == name; }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
};

}  // namespace pystrobe::diff_cli

#endif  // PYSTROBE_TOOLS_DIFF_DIFF_CLI_H_
