// The differential flame graph: well-formed XML (xmllint), the regressed
// frame red, the faster one blue, the unchanged one grey, both values in the
// tooltip.

#include "pystrobe/diff/diff_flamegraph.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;

// main -> {fast, slow, same}: `slow` has `slow_ms`, `fast` has `fast_ms`.
Profile Make(int64_t slow_ms, int64_t fast_ms) {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.default_sample_type = "wall";
  const uint64_t main = p.AddFunction({"main", "main", "/srv/app.py", 1});
  const uint64_t slow = p.AddFunction({"slow", "slow", "/srv/app.py", 10});
  const uint64_t fast = p.AddFunction({"fast", "fast", "/srv/app.py", 20});
  const uint64_t same = p.AddFunction({"same", "same", "/srv/app.py", 30});
  const uint64_t l_main = p.AddLocation({main, 2});
  const int64_t ms = 1'000'000;
  p.samples.push_back(
      {{p.AddLocation({slow, 11}), l_main}, {slow_ms, slow_ms * ms}, {}});
  p.samples.push_back(
      {{p.AddLocation({fast, 21}), l_main}, {fast_ms, fast_ms * ms}, {}});
  p.samples.push_back(
      {{p.AddLocation({same, 31}), l_main}, {100, 100 * ms}, {}});
  return p;
}

// The fill of the frame whose data-n attribute is `name`.
std::string FillOf(const std::string& svg, const std::string& name) {
  const size_t g = svg.find("data-n=\"" + name + "\"");
  if (g == std::string::npos) return "";
  const size_t fill = svg.find("fill=\"", g);
  const size_t end = svg.find('"', fill + 6);
  return svg.substr(fill + 6, end - fill - 6);
}

// r, g, b of "rgb(r,g,b)".
void Rgb(const std::string& color, int* r, int* g, int* b) {
  ASSERT_EQ(std::sscanf(color.c_str(), "rgb(%d,%d,%d)", r, g, b), 3) << color;
}

TEST(DiffFlameGraphTest, ColoursGrowthRedShrinkBlueAndIsWellFormed) {
  const Profile base = Make(/*slow_ms=*/100, /*fast_ms=*/100);
  const Profile now = Make(/*slow_ms=*/300, /*fast_ms=*/20);
  DiffFlameGraphOptions o;
  o.normalize = Normalize::kNone;
  absl::StatusOr<std::string> svg = RenderDiffFlameGraph({&base}, now, o);
  ASSERT_TRUE(svg.ok()) << svg.status();

  int r = 0, g = 0, b = 0;
  Rgb(FillOf(*svg, "slow (/srv/app.py)"), &r, &g, &b);
  EXPECT_EQ(r, 255);
  EXPECT_LT(g, 100);  // a tripling: deep red
  EXPECT_EQ(g, b);
  Rgb(FillOf(*svg, "fast (/srv/app.py)"), &r, &g, &b);
  EXPECT_EQ(b, 255);
  EXPECT_LT(r, 150);
  Rgb(FillOf(*svg, "same (/srv/app.py)"), &r, &g, &b);
  EXPECT_EQ(r, g);
  EXPECT_EQ(g, b);
  EXPECT_THAT(*svg, HasSubstr("slow (/srv/app.py) | total: base 0.100s, new "
                              "0.300s (+200%)"));

  char path[] = "/tmp/pystrobe-diff-svg-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << *svg;
  const int rc =
      std::system(("xmllint --noout " + std::string(path) + " 2>&1").c_str());
  unlink(path);
  EXPECT_EQ(rc, 0) << "xmllint rejected the SVG";
}

TEST(DiffFlameGraphTest, SharesCompareProfilesOfDifferentLengths) {
  // Twice as long, same proportions: nothing changed.
  Profile base = Make(100, 100);
  Profile now = Make(200, 200);
  now.samples[2].values = {200, 200'000'000};
  absl::StatusOr<std::string> svg =
      RenderDiffFlameGraph({&base}, now, DiffFlameGraphOptions{});
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(FillOf(*svg, "slow (/srv/app.py)"), "rgb(210,210,210)");
  EXPECT_EQ(FillOf(*svg, "main (/srv/app.py)"), "rgb(210,210,210)");
}

TEST(DiffFlameGraphTest, MissingSampleTypeOnTheBaseSideIsAnError) {
  Profile base = Make(1, 1);
  base.sample_types[1] = {"cpu", "nanoseconds"};
  const Profile now = Make(1, 1);
  EXPECT_FALSE(
      RenderDiffFlameGraph({&base}, now, DiffFlameGraphOptions{}).ok());
}

TEST(DiffFlameGraphTest, DiffColor) {
  EXPECT_EQ(DiffColor(1, 1.01, 5), "rgb(210,210,210)");
  EXPECT_EQ(DiffColor(0, 1, 5), "rgb(255,30,30)");  // new: full red
  EXPECT_EQ(DiffColor(1, 0, 5), "rgb(37,37,255)");  // gone: deep blue
}

}  // namespace
}  // namespace pystrobe
