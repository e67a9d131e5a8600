// A folder of stored baseline profiles, plain files a team can commit:
//
//   .pystrobe/baselines/NAME/0001_<commit>_<YYYYmmdd-HHMMSS>.pb.gz
//   .pystrobe/baselines/NAME/0001_<commit>_<YYYYmmdd-HHMMSS>.json  (metadata)
//
// Saving is atomic and concurrent-safe: an entry number is reserved with an
// exclusive create, the profile and its metadata are written to temp files
// and renamed into place, the metadata last. A save killed at any point
// leaves no entry that list/compare would read; two saves at once never take
// the same number.
//
//   BaselineStore store(".pystrobe/baselines");
//   ASSIGN_OR_RETURN(BaselineEntry e, store.Save("api", profile_bytes, meta));
//   ASSIGN_OR_RETURN(std::vector<BaselineEntry> last3, store.Last("api", 3));
#ifndef PYSTROBE_DIFF_BASELINE_STORE_H_
#define PYSTROBE_DIFF_BASELINE_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace pystrobe {

struct BaselineMetadata {
  std::string time;  // ISO 8601 UTC of the save
  std::string host;
  std::string git_commit;  // empty outside a git checkout
  bool git_dirty = false;
  std::string python_version;  // from the profile's comments
  std::string command_line;    // from the profile's comments
};

struct BaselineEntry {
  std::string name;
  int number = 0;
  std::string profile_path;
  std::string metadata_path;
  BaselineMetadata metadata;
};

// The JSON of an entry's metadata file, as Save writes it (bytes that are
// not UTF-8 become '?').
std::string BaselineMetadataJson(const std::string& name, int number,
                                 const std::string& profile_file,
                                 const BaselineMetadata& metadata);

// Reads an entry's metadata file's text (the store is a team's files, hand
// edits included). InvalidArgument naming `path` when it is not JSON;
// missing or mistyped fields read as empty.
// tests/fuzz/baseline_metadata_fuzzer.cc feeds this function.
absl::StatusOr<BaselineMetadata> ParseBaselineMetadata(const std::string& path,
                                                       std::string_view json);

class BaselineStore {
 public:
  explicit BaselineStore(std::string root) : root_(std::move(root)) {}

  // Stores `profile_bytes` (a pprof file's bytes) as the next entry of
  // `name`. Errors name the path (e.g. an unwritable store).
  absl::StatusOr<BaselineEntry> Save(const std::string& name,
                                     const std::string& profile_bytes,
                                     const BaselineMetadata& metadata);
  // Every complete entry of `name`, by number. NotFound for an unknown name.
  absl::StatusOr<std::vector<BaselineEntry>> List(
      const std::string& name) const;
  // Names of all baselines.
  absl::StatusOr<std::vector<std::string>> Names() const;
  // Entry `number`, or NotFound naming what exists.
  absl::StatusOr<BaselineEntry> Get(const std::string& name, int number) const;
  // The last `count` entries (fewer if fewer exist).
  absl::StatusOr<std::vector<BaselineEntry>> Last(const std::string& name,
                                                  int count) const;

  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_BASELINE_STORE_H_
