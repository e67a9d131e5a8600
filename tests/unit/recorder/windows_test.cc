// Window files of `record --every`: their names (UTC stamp before the
// extension, for every format), which files count as this output's windows,
// --keep's rotation, and the sink that writes each window to its own file.
#include "pystrobe/recorder/windows.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// 2023-11-14 22:13:20 UTC, plus 0.75 s.
constexpr int64_t kStart = 1'700'000'000'750'000'000;

void Touch(const std::string& path) { std::ofstream(path) << "x"; }

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

TEST(WindowPathTest, TheUtcStampGoesBeforeTheExtension) {
  EXPECT_EQ(WindowPath("app.pb.gz", kStart), "app.20231114-221320.pb.gz");
  EXPECT_EQ(WindowPath("/srv/out/app.pb.gz", kStart),
            "/srv/out/app.20231114-221320.pb.gz");
  EXPECT_EQ(WindowPath("app.txt", kStart), "app.20231114-221320.txt");
  EXPECT_EQ(WindowPath("app.speedscope.json", kStart),
            "app.20231114-221320.speedscope.json");
  EXPECT_EQ(WindowPath("app.svg", kStart), "app.20231114-221320.svg");
  EXPECT_EQ(WindowPath("app.json", kStart), "app.20231114-221320.json");
  EXPECT_EQ(WindowPath("my.app.svg", kStart), "my.app.20231114-221320.svg");
  EXPECT_EQ(WindowPath("app", kStart), "app.20231114-221320");
  EXPECT_EQ(WindowPath("dir.d/app", kStart), "dir.d/app.20231114-221320");
  EXPECT_EQ(WindowPath(".hidden", kStart), ".hidden.20231114-221320");
  EXPECT_EQ(WindowPattern("out/app.pb.gz"), "out/app.YYYYmmdd-HHMMSS.pb.gz");
}

TEST(WindowPathTest, StampsOfWindowsASecondApartDiffer) {
  EXPECT_NE(WindowPath("a.pb.gz", kStart),
            WindowPath("a.pb.gz", kStart + 1'000'000'000));
  EXPECT_EQ(WindowPath("a.pb.gz", kStart),
            WindowPath("a.pb.gz", kStart + 200'000'000));
}

class WindowFilesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }
  void TearDown() override {
    std::string out;
    testing::RunCommand("rm -rf " + dir_, &out);
  }
  std::string P(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(WindowFilesTest, OnlyThisOutputsWindowsAreListedOldestFirst) {
  for (const char* name :
       {"app.20231114-221322.pb.gz", "app.20231114-221320.pb.gz",
        "app.20231115-000000.pb.gz",
        // Not windows of app.pb.gz:
        "app.pb.gz", "app.20231114-22132.pb.gz", "app.20231114-221320.txt",
        "app.20231114x221320.pb.gz", "other.20231114-221320.pb.gz",
        "xapp.20231114-221320.pb.gz", ".app.20231114-221320.pb.gz.tmp",
        "app.20231114-221320.pb.gz.tmp.123", "app.2023111a-221320.pb.gz"}) {
    Touch(P(name));
  }
  EXPECT_THAT(ListWindowFiles(P("app.pb.gz")),
              ElementsAre(P("app.20231114-221320.pb.gz"),
                          P("app.20231114-221322.pb.gz"),
                          P("app.20231115-000000.pb.gz")));
  EXPECT_THAT(ListWindowFiles(P("app.txt")),
              ElementsAre(P("app.20231114-221320.txt")));
  EXPECT_THAT(ListWindowFiles(P("none.pb.gz")), IsEmpty());
  EXPECT_THAT(ListWindowFiles(P("missing/app.pb.gz")), IsEmpty());
}

TEST_F(WindowFilesTest, KeepDeletesTheOldestBeyondK) {
  for (const char* name :
       {"app.20231114-221320.pb.gz", "app.20231114-221322.pb.gz",
        "app.20231114-221324.pb.gz", "app.20231114-221326.pb.gz",
        "other.20231114-221300.pb.gz", "app.pb.gz"}) {
    Touch(P(name));
  }
  EXPECT_THAT(RemoveOldWindows(P("app.pb.gz"), 0), IsEmpty());
  EXPECT_THAT(RemoveOldWindows(P("app.pb.gz"), 2),
              ElementsAre(P("app.20231114-221320.pb.gz"),
                          P("app.20231114-221322.pb.gz")));
  EXPECT_THAT(ListWindowFiles(P("app.pb.gz")),
              ElementsAre(P("app.20231114-221324.pb.gz"),
                          P("app.20231114-221326.pb.gz")));
  EXPECT_TRUE(Exists(P("other.20231114-221300.pb.gz")));
  EXPECT_TRUE(Exists(P("app.pb.gz")));
  EXPECT_THAT(RemoveOldWindows(P("app.pb.gz"), 5), IsEmpty());
}

TEST_F(WindowFilesTest, TheSinkWritesEachWindowToItsFileAndRotates) {
  WindowSink sink(P("app.txt"), OutputFormat::kCollapsed, {}, /*keep=*/2);
  ASSERT_TRUE(sink.Check().ok());
  Profile p = testing::SmallProfile();
  std::vector<std::string> expected;
  for (int w = 0; w < 4; ++w) {
    p.time_nanos = kStart + int64_t{w} * 2'000'000'000;
    // A checkpoint, then the window complete: one file per window.
    ASSERT_TRUE(sink.Write(p, /*final=*/false).ok());
    ASSERT_TRUE(sink.Write(p, /*final=*/w == 3).ok());
    expected.push_back(WindowPath(P("app.txt"), p.time_nanos));
  }
  EXPECT_EQ(sink.written(), expected);
  EXPECT_THAT(ListWindowFiles(P("app.txt")),
              ElementsAre(expected[2], expected[3]));
  std::ifstream in(expected[3]);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  absl::StatusOr<std::string> want =
      RenderProfile(p, OutputFormat::kCollapsed, {});
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(text, *want);
  EXPECT_FALSE(Exists(P("app.txt"))) << "the plain output is not written";
}

TEST_F(WindowFilesTest, AnEmptyLastWindowAfterAClosedOneIsNotWritten) {
  WindowSink sink(P("app.pb.gz"), OutputFormat::kPprof, {}, 0);
  Profile p = testing::SmallProfile();
  p.time_nanos = kStart;
  ASSERT_TRUE(sink.Write(p, false).ok());
  Profile empty = p;
  empty.samples.clear();
  empty.time_nanos = kStart + 2'000'000'000;
  ASSERT_TRUE(sink.Write(empty, /*final=*/true).ok());
  EXPECT_THAT(ListWindowFiles(P("app.pb.gz")),
              ElementsAre(WindowPath(P("app.pb.gz"), kStart)));
  // But a recording of one empty window still leaves its file.
  WindowSink alone(P("b.pb.gz"), OutputFormat::kPprof, {}, 0);
  ASSERT_TRUE(alone.Write(empty, true).ok());
  EXPECT_EQ(ListWindowFiles(P("b.pb.gz")).size(), 1u);
}

TEST_F(WindowFilesTest, CheckFailsForAMissingFolder) {
  WindowSink sink(P("missing/app.pb.gz"), OutputFormat::kPprof, {}, 0);
  absl::Status s = sink.Check();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("missing/app."));
}

TEST(WindowClockTest, DueEveryPeriodFromItsRestart) {
  WindowClock off(0, 0);
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.Due(int64_t{1} << 60));
  WindowClock clock(2, 1'000);
  EXPECT_FALSE(clock.Due(1'000 + 1'999'999'999));
  EXPECT_TRUE(clock.Due(1'000 + 2'000'000'000));
  clock.Restart(2'000'001'000);
  EXPECT_FALSE(clock.Due(3'000'000'000));
  EXPECT_TRUE(clock.Due(4'000'001'000));
}

}  // namespace
}  // namespace pystrobe
