// Profile transforms: StripNativeFrames / HasNativeFrames.
#include "pystrobe/profile/merge.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace {

std::vector<std::string> Names(const Profile& p, const Sample& s) {
  std::vector<std::string> out;
  for (uint64_t id : s.location_ids) {
    out.push_back(p.FunctionOf(p.LocationAt(id)).name);
  }
  return out;
}

// main -> handle -> [C] numpy_sort -> [C] quicksort; main -> [C] PyRun
// (a C frame outside Python frames); a thread in C with no Python frame.
Profile MixedProfile() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  const uint64_t so =
      p.AddMapping({0x1000, 0x9000, 0, "/usr/lib/numpy.so", ""});
  const uint64_t main =
      p.AddLocation({p.AddFunction({"main", "main", "a.py", 1}), 3});
  const uint64_t handle =
      p.AddLocation({p.AddFunction({"handle", "handle", "a.py", 9}), 10});
  const uint64_t sort = p.AddLocation(
      {p.AddFunction({"numpy_sort", "numpy_sort", "sort.c", 0}), 40, so});
  const uint64_t quick = p.AddLocation(
      {p.AddFunction({"quicksort", "quicksort", "sort.c", 0}), 80, so});
  const uint64_t run =
      p.AddLocation({p.AddFunction({"PyRun", "PyRun", "python", 0}), 0, so});
  p.samples.push_back({{quick, sort, handle, main}, {3, 30}, {}});
  p.samples.push_back({{handle, main}, {2, 20}, {}});
  p.samples.push_back({{main, run}, {1, 10}, {}});
  p.samples.push_back({{quick, run}, {4, 40}, {}});
  return p;
}

TEST(StripNativeFramesTest, CTimeGoesToThePythonCaller) {
  Profile p = MixedProfile();
  ASSERT_TRUE(HasNativeFrames(p));
  EXPECT_EQ(StripNativeFrames(&p), 4);  // the sample with no Python frame
  EXPECT_FALSE(HasNativeFrames(p));
  ASSERT_EQ(p.samples.size(), 3u);
  EXPECT_EQ(Names(p, p.samples[0]),
            (std::vector<std::string>{"handle", "main"}));
  EXPECT_EQ(p.samples[0].values, (std::vector<int64_t>{3, 30}));
  EXPECT_EQ(Names(p, p.samples[1]),
            (std::vector<std::string>{"handle", "main"}));
  EXPECT_EQ(Names(p, p.samples[2]), (std::vector<std::string>{"main"}));
}

TEST(StripNativeFramesTest, APythonOnlyProfileIsUnchanged) {
  Profile p = MixedProfile();
  StripNativeFrames(&p);
  const std::vector<Sample> before = p.samples;
  EXPECT_FALSE(HasNativeFrames(p));
  EXPECT_EQ(StripNativeFrames(&p), 0);
  ASSERT_EQ(p.samples.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(p.samples[i].location_ids, before[i].location_ids);
  }
}

}  // namespace
}  // namespace pystrobe
