// Version detection from file names and from PY_VERSION in .rodata.
#include <optional>
#include <string>
#include <utility>

#include "binary_finder.h"
#include "gtest/gtest.h"

namespace pystrobe::testing {
namespace {

using MajorMinor = std::optional<std::pair<int, int>>;

std::string VersionString(const std::optional<PythonVersion>& v) {
  return v ? v->ToString() : "none";
}

std::optional<PythonVersion> FromRodata(std::string_view rodata,
                                        MajorMinor major_minor = {}) {
  return VersionFromRodata(rodata, major_minor);
}

TEST(VersionFromRodataTest, VersionAsTailOfBuildPath) {
  const std::string rodata("\0/tmp/build/Python-3.8.18\0", 26);
  EXPECT_EQ(VersionString(FromRodata(rodata)), "3.8.18");
  EXPECT_EQ(VersionString(FromRodata(rodata, std::make_pair(3, 8))), "3.8.18");
  EXPECT_EQ(VersionString(FromRodata(rodata, std::make_pair(3, 9))), "none");
}

TEST(VersionFromRodataTest, Suffixes) {
  EXPECT_EQ(VersionString(FromRodata(std::string("\0002.7.18+\0", 10))),
            "2.7.18");
  std::optional<PythonVersion> rc =
      FromRodata(std::string("x\0003.13.0rc1\0", 13), std::make_pair(3, 13));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(rc->major, 3);
  EXPECT_EQ(rc->minor, 13);
  EXPECT_EQ(rc->micro, 0);
  EXPECT_FALSE(rc->debug);
}

TEST(VersionFromRodataTest, SkipsOtherSeriesForTheWantedOne) {
  // Another version string before the binary's own.
  const std::string rodata(
      "2.7.5\0"
      "3.11.7\0",
      13);
  EXPECT_EQ(VersionString(FromRodata(rodata, std::make_pair(3, 11))), "3.11.7");
  EXPECT_EQ(VersionString(FromRodata(rodata, std::make_pair(2, 7))), "2.7.5");
}

TEST(VersionFromRodataTest, RejectsWhatIsNotAPythonVersion) {
  EXPECT_EQ(VersionString(FromRodata(std::string("\00010.2.3\0", 9))), "none");
  EXPECT_EQ(VersionString(FromRodata(std::string("\0004.0.1\0", 8))), "none");
  EXPECT_EQ(VersionString(FromRodata(std::string("GCC 12.2.0\0", 11))), "none");
  EXPECT_EQ(VersionString(FromRodata("")), "none");
  EXPECT_EQ(VersionString(FromRodata(std::string("3.8\0", 4))), "none");
}

TEST(VersionFromRodataTest, FourComponentsAreNotAVersion) {
  // "1.2.3.4" has no tail that is MAJOR.MINOR.MICRO of 2 or 3 and starts
  // after a separator; "3.8.18.4" is not a PY_VERSION either.
  EXPECT_EQ(VersionString(FromRodata(std::string("\0001.2.3.4\0", 10))),
            "none");
  EXPECT_EQ(VersionString(FromRodata(std::string("\0003.8.18.4\0", 11))),
            "none");
}

TEST(VersionFromRodataTest, UnterminatedLastString) {
  EXPECT_EQ(VersionString(FromRodata(std::string("\0003.12.1", 7))), "3.12.1");
}

TEST(VersionFromFileNameTest, Names) {
  EXPECT_EQ(VersionFromFileName("/usr/lib/libpython3.6m.so.1.0"),
            MajorMinor(std::make_pair(3, 6)));
  EXPECT_EQ(VersionFromFileName("libpython3.13.so.1.0"),
            MajorMinor(std::make_pair(3, 13)));
  EXPECT_EQ(VersionFromFileName("/usr/bin/python2.7"),
            MajorMinor(std::make_pair(2, 7)));
  EXPECT_EQ(VersionFromFileName("/root/.pyenv/versions/3.11.7/bin/python3.11"),
            MajorMinor(std::make_pair(3, 11)));
  EXPECT_EQ(VersionFromFileName("/usr/bin/pythonista"), std::nullopt);
  EXPECT_EQ(VersionFromFileName("/usr/bin/python3"), std::nullopt);
  EXPECT_EQ(VersionFromFileName("/opt/python3.11/bin/uwsgi"), std::nullopt);
  EXPECT_EQ(VersionFromFileName(""), std::nullopt);
}

}  // namespace
}  // namespace pystrobe::testing
