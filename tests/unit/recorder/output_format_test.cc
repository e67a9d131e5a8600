// The format of `record -o FILE`: named by -f, else by FILE's extension;
// -f contradicting the extension is refused with one line naming both.
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/recorder/file_sink.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using testing::IsOkAndHolds;
using ::testing::Not;
using ::testing::Optional;
using testing::StatusIs;

TEST(FormatForPathTest, NamesTheFormatOfEachKnownExtension) {
  EXPECT_THAT(FormatForPath("app.svg"), Optional(OutputFormat::kFlameGraph));
  EXPECT_THAT(FormatForPath("/tmp/x/app.speedscope.json"),
              Optional(OutputFormat::kSpeedscope));
  EXPECT_THAT(FormatForPath("app.txt"), Optional(OutputFormat::kCollapsed));
  EXPECT_THAT(FormatForPath("app.collapsed"),
              Optional(OutputFormat::kCollapsed));
  EXPECT_THAT(FormatForPath("app.pb.gz"), Optional(OutputFormat::kPprof));
  EXPECT_THAT(FormatForPath("app.pb"), Optional(OutputFormat::kPprof));
}

TEST(FormatForPathTest, OtherNamesNameNoFormat) {
  EXPECT_EQ(FormatForPath("app.prof"), std::nullopt);
  EXPECT_EQ(FormatForPath("app.json"), std::nullopt);  // not speedscope's
  EXPECT_EQ(FormatForPath("app"), std::nullopt);
  EXPECT_EQ(FormatForPath(".svg"), std::nullopt);  // a hidden file, no name
  EXPECT_EQ(FormatForPath("svg"), std::nullopt);
}

TEST(ChooseOutputFormatTest, TheExtensionDecidesWithoutFormat) {
  EXPECT_THAT(ChooseOutputFormat(std::nullopt, "app.svg"),
              IsOkAndHolds(OutputFormat::kFlameGraph));
  EXPECT_THAT(ChooseOutputFormat(std::nullopt, "app.speedscope.json"),
              IsOkAndHolds(OutputFormat::kSpeedscope));
  // An unknown extension, or no output named: the default, pprof.
  EXPECT_THAT(ChooseOutputFormat(std::nullopt, "app.prof"),
              IsOkAndHolds(OutputFormat::kPprof));
  EXPECT_THAT(ChooseOutputFormat(std::nullopt, ""),
              IsOkAndHolds(OutputFormat::kPprof));
}

TEST(ChooseOutputFormatTest, FormatAgreeingOrOnAnUnknownExtensionIsKept) {
  EXPECT_THAT(ChooseOutputFormat(OutputFormat::kFlameGraph, "app.svg"),
              IsOkAndHolds(OutputFormat::kFlameGraph));
  EXPECT_THAT(ChooseOutputFormat(OutputFormat::kCollapsed, "app.stacks"),
              IsOkAndHolds(OutputFormat::kCollapsed));
}

TEST(ChooseOutputFormatTest, AContradictionIsRefusedNamingBoth) {
  absl::StatusOr<OutputFormat> f =
      ChooseOutputFormat(OutputFormat::kPprof, "x.svg");
  ASSERT_THAT(f, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string message(f.status().message());
  EXPECT_THAT(message, HasSubstr("-f pprof"));
  EXPECT_THAT(message, HasSubstr("x.svg"));
  EXPECT_THAT(message, HasSubstr("flamegraph"));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
}

}  // namespace
}  // namespace pystrobe
