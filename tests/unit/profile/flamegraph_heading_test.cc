// The default flame graph's title and subtitle say what was recorded, from
// the profile's own comments, and frame labels leave out the long path
// above site-packages or the standard library (the tooltip keeps it).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The text of the element with id `id`: <text id="ID" ...>TEXT</text>.
std::string TextOf(const std::string& svg, const std::string& id) {
  const size_t at = svg.find("<text id=\"" + id + "\"");
  if (at == std::string::npos) return "<no " + id + ">";
  const size_t open = svg.find('>', at) + 1;
  return svg.substr(open, svg.find("</text>", open) - open);
}

Profile RecordedProfile() {
  Profile p = testing::SmallProfile();
  p.comments = {"command_line=python3 app.py --port 80",
                "python_version=3.11.2", "pystrobe.mode=wall",
                "pystrobe.rate_hz=100", "pystrobe.samples=13"};
  return p;
}

TEST(FlameGraphHeadingTest, TitleAndSubtitleSayWhatWasRecorded) {
  const std::string svg = RenderFlameGraph(RecordedProfile());
  EXPECT_EQ(TextOf(svg, "title"), "python3 app.py --port 80 (pid 4242)");
  // 1'700'000'000 s after the epoch is 2023-11-14 22:13:20 UTC.
  EXPECT_EQ(TextOf(svg, "subtitle"),
            "CPython 3.11.2, wall mode at 100 Hz, 2.0 s, 13 samples, "
            "2023-11-14 22:13:20 UTC");
}

TEST(FlameGraphHeadingTest, UnknownPartsAreLeftOut) {
  Profile p = testing::SmallProfile();  // no pystrobe comments
  p.time_nanos = 0;
  const std::string svg = RenderFlameGraph(p);
  EXPECT_EQ(TextOf(svg, "title"), "pid 4242");
  EXPECT_EQ(TextOf(svg, "subtitle"), "2.0 s, 5 stacks");
}

TEST(FlameGraphHeadingTest, AnExplicitTitleIsKept) {
  RenderOptions options;
  options.title = "my title";
  EXPECT_EQ(TextOf(RenderFlameGraph(RecordedProfile(), options), "title"),
            "my title");
}

TEST(FlameGraphHeadingTest, LabelsDropThePathAboveSitePackagesAndStdlib) {
  Profile p = RecordedProfile();
  p.functions[0].filename =
      "/home/me/.venv/lib/python3.11/site-packages/requests/models.py";
  p.functions[2].filename = "/usr/lib/python3.11/json/decoder.py";
  const std::string svg = RenderFlameGraph(p);
  EXPECT_THAT(svg,
              HasSubstr("data-n=\"&lt;module&gt; (requests/models.py:3)\""));
  EXPECT_THAT(svg, HasSubstr("data-n=\"Parser.parse (json/decoder.py:7)\""));
  // The tooltip keeps the whole path.
  EXPECT_THAT(svg, HasSubstr("<title>Parser.parse (/usr/lib/python3.11/json/"
                             "decoder.py:7) ("));
  // Paths elsewhere stay whole.
  EXPECT_THAT(svg, HasSubstr("data-n=\"compute (/srv/calc.py:22)\""));
  EXPECT_THAT(svg, Not(HasSubstr("data-n=\"Parser.parse (/usr")));
}

}  // namespace
}  // namespace pystrobe
