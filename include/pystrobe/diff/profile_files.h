// Profiles as pystrobe-diff and `record --compare` read them: a pprof file
// with one clear message per kind of bad input (missing, a folder, empty,
// not pprof, truncated, no samples), or BASE resolved through a baseline
// store (NAME, NAME@N, NAME --last K); and the metadata of a save.
//
//   ASSIGN_OR_RETURN(LoadedProfile now, LoadProfileFile("pr.pb.gz"));
//   std::string label;
//   ASSIGN_OR_RETURN(auto bases, LoadBase(store, "api", /*last=*/3, &label));
#ifndef PYSTROBE_DIFF_PROFILE_FILES_H_
#define PYSTROBE_DIFF_PROFILE_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/diff/baseline_store.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

struct LoadedProfile {
  std::string label;  // the file, or "NAME@N"
  std::string path;
  std::string bytes;  // as read
  Profile profile;
};

// Reads and decodes a pprof file. Every failure is InvalidArgument naming
// the file.
absl::StatusOr<LoadedProfile> LoadProfileFile(const std::string& path);

// What LoadProfileFile does with the bytes once read: decodes them and
// checks there is something to compare, with the same messages, naming
// `path`. Bytes from a CI artifact are untrusted: tests/fuzz/pprof_fuzzer.cc
// feeds this function.
absl::StatusOr<LoadedProfile> ParseProfileBytes(const std::string& path,
                                                std::string bytes);

// BASE of a comparison: a profile file, NAME (latest entry), NAME@N, or
// with `last` > 0 the last `last` entries of NAME. `*label` names it for
// reports ("api@3", "api@2..@4", "base.pb.gz").
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

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_PROFILE_FILES_H_
