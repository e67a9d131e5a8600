// Pieces the pystrobe-diff commands share: errors and exit codes, reading
// profile files with one clear message per kind of bad input, resolving
// BASE (a file or a stored baseline), and the metadata of a save.
#ifndef PYSTROBE_TOOLS_DIFF_DIFF_CLI_H_
#define PYSTROBE_TOOLS_DIFF_DIFF_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/diff/baseline_store.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe::diff_cli {

// Exit codes of pystrobe-diff (README.md).
enum ExitCode : int {
  kExitOk = 0,          // no regression, or not asked to fail
  kExitRegression = 1,  // a regression with --fail-on-regression
  kExitBadInput = 2,    // bad input or usage; nothing was written
};

inline constexpr char kDefaultStore[] = ".pystrobe/baselines";

// Prints "pystrobe-diff: <message>" as one line on stderr.
void PrintError(const absl::Status& status);
void PrintError(const std::string& message);

struct LoadedProfile {
  std::string label;  // the file, or "NAME@N"
  std::string path;
  std::string bytes;  // as read
  Profile profile;
};

// Reads and decodes a pprof file. Every failure (missing, a folder, empty,
// not pprof, truncated, no samples) is InvalidArgument naming the file.
absl::StatusOr<LoadedProfile> LoadProfileFile(const std::string& path);

// BASE of `compare`: a profile file, NAME (latest entry), NAME@N, or with
// `last` > 0 the last `last` entries of NAME.
absl::StatusOr<std::vector<LoadedProfile>> LoadBase(const BaselineStore& store,
                                                    const std::string& base,
                                                    int last,
                                                    std::string* label);

// "NAME" or "NAME@N" split; number 0 when absent. InvalidArgument on a bad
// number.
absl::Status ParseEntryRef(const std::string& ref, std::string* name,
                           int* number);

// Metadata for a save: the git state of the current folder (when it is a
// checkout), the host, and what the profile's comments say.
BaselineMetadata MetadataFor(const Profile& profile);

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
