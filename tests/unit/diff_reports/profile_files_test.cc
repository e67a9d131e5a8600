// Reading profile files for pystrobe-diff: ParseProfileBytes (what the
// pprof fuzzer feeds) gives what LoadProfileFile gives for the same bytes
// in a file, one clear InvalidArgument per kind of bad input, and the
// inputs the fuzzer found are kept here as regression tests.

#include "pystrobe/diff/profile_files.h"

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "status_matchers.h"
#include "unit/profile/test_profiles.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::testing::HasSubstr;

TEST(ParseProfileBytesTest, GivesWhatLoadProfileFileGivesForTheFile) {
  absl::StatusOr<std::string> bytes =
      EncodePprof(pystrobe::testing::SmallProfile());
  ASSERT_THAT(bytes, IsOk());
  const std::string dir = pystrobe::testing::MakeTempDir();
  const std::string path = dir + "/small.pb.gz";
  pystrobe::testing::WriteFileOrDie(path, *bytes);

  absl::StatusOr<LoadedProfile> from_file = LoadProfileFile(path);
  absl::StatusOr<LoadedProfile> from_bytes = ParseProfileBytes(path, *bytes);
  ASSERT_THAT(from_file, IsOk());
  ASSERT_THAT(from_bytes, IsOk());
  EXPECT_EQ(from_bytes->label, path);
  EXPECT_EQ(from_bytes->path, path);
  EXPECT_EQ(from_bytes->bytes, from_file->bytes);
  EXPECT_EQ(from_bytes->profile.samples.size(),
            from_file->profile.samples.size());
  EXPECT_EQ(from_bytes->profile.functions.size(),
            from_file->profile.functions.size());
  EXPECT_EQ(from_bytes->profile.comments, from_file->profile.comments);

  // A bad file and its bytes fail alike, naming the file.
  pystrobe::testing::WriteFileOrDie(path, "not a profile");
  EXPECT_EQ(LoadProfileFile(path).status(),
            ParseProfileBytes(path, "not a profile").status());
  std::system(("rm -rf " + dir).c_str());
}

TEST(ParseProfileBytesTest, BadInputIsOneInvalidArgumentNamingTheFile) {
  {
    const absl::Status status = ParseProfileBytes("a.pb.gz", "").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("a.pb.gz is empty"));
  }
  {
    const absl::Status status =
        ParseProfileBytes("a.pb.gz", "\x1f\x8b\x08").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("a.pb.gz: "));
  }
  {
    const absl::Status status = ParseProfileBytes("a.pb.gz", "hello").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("not a pprof profile"));
  }
  Profile empty = pystrobe::testing::SmallProfile();
  empty.samples.clear();
  absl::StatusOr<std::string> bytes = EncodePprof(empty);
  ASSERT_THAT(bytes, IsOk());
  {
    const absl::Status status = ParseProfileBytes("a.pb.gz", *bytes).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("no samples"));
  }
}

}  // namespace
}  // namespace pystrobe
