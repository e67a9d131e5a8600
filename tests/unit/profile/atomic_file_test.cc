// WriteFileAtomically: contents, replacement, permissions, and failures that
// name the path and leave no temp file behind.

#include <dirent.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "status_matchers.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::MakeTempDir;
using ::pystrobe::testing::ReadFileOrDie;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(WriteFileAtomicallyTest, WritesAndReplaces) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/out.pb.gz";
  std::string big(3 << 20, 'x');
  big[12345] = '\0';
  ASSERT_THAT(WriteFileAtomically(path, big), IsOk());
  EXPECT_EQ(ReadFileOrDie(path), big);
  ASSERT_THAT(WriteFileAtomically(path, "second"), IsOk());
  EXPECT_EQ(ReadFileOrDie(path), "second");
  EXPECT_THAT(ListDir(dir), ElementsAre("out.pb.gz"));  // no temp files left
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(WriteFileAtomicallyTest, RelativePathInCurrentFolder) {
  const std::string dir = MakeTempDir();
  ASSERT_EQ(chdir(dir.c_str()), 0);
  ASSERT_THAT(WriteFileAtomically("rel.svg", "<svg/>"), IsOk());
  EXPECT_EQ(ReadFileOrDie(dir + "/rel.svg"), "<svg/>");
}

TEST(WriteFileAtomicallyTest, MissingFolderNamesThePath) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/no/such/folder/out.svg";
  const absl::Status s = WriteFileAtomically(path, "data");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
}

TEST(WriteFileAtomicallyTest, RenameFailureRemovesTempFile) {
  // The target is a non-empty folder: rename fails after the temp file was
  // written, which must then be removed.
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/target";
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  ASSERT_THAT(WriteFileAtomically(path + "/inner", "x"), IsOk());
  const absl::Status s = WriteFileAtomically(path, "data");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_THAT(ListDir(dir), ElementsAre("target"));
}

TEST(WriteFileAtomicallyTest, RejectsFolderPath) {
  EXPECT_FALSE(WriteFileAtomically("", "x").ok());
  EXPECT_FALSE(WriteFileAtomically("/tmp/", "x").ok());
}

}  // namespace
}  // namespace pystrobe
