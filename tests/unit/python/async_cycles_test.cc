// FindAwaitCycles: rings of tasks awaiting each other, each found once.
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/python/async_tasks.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A snapshot of tasks 1..n; `edges` are {task, awaiter}.
AsyncSnapshot Snapshot(
    int n, const std::vector<std::pair<uint64_t, uint64_t>>& edges) {
  AsyncSnapshot s;
  for (int i = 1; i <= n; ++i) {
    AsyncTask t;
    t.address = static_cast<uint64_t>(i);
    s.tasks.push_back(t);
  }
  for (const auto& [task, by] : edges) {
    s.tasks[task - 1].awaited_by.push_back(by);
  }
  return s;
}

TEST(FindAwaitCyclesTest, TreeHasNone) {
  // 2 and 3 awaited by 1, 4 by 2 (gather / TaskGroup shapes).
  EXPECT_THAT(FindAwaitCycles(Snapshot(4, {{2, 1}, {3, 1}, {4, 2}})),
              IsEmpty());
}

TEST(FindAwaitCyclesTest, TwoTasksAwaitingEachOther) {
  EXPECT_THAT(FindAwaitCycles(Snapshot(3, {{1, 2}, {2, 1}, {3, 1}})),
              ElementsAre(ElementsAre(1, 2)));
}

TEST(FindAwaitCyclesTest, RingStartsAtItsLowestAddressAndIsFoundOnce) {
  // 3 -> 5 -> 4 -> 3, entered from 1 and from 2.
  EXPECT_THAT(
      FindAwaitCycles(Snapshot(5, {{3, 5}, {5, 4}, {4, 3}, {1, 3}, {2, 4}})),
      ElementsAre(ElementsAre(3, 5, 4)));
}

TEST(FindAwaitCyclesTest, SeveralRingsAndASelfAwait) {
  EXPECT_THAT(
      FindAwaitCycles(Snapshot(5, {{1, 2}, {2, 1}, {3, 4}, {4, 3}, {5, 5}})),
      UnorderedElementsAre(ElementsAre(1, 2), ElementsAre(3, 4),
                           ElementsAre(5)));
}

TEST(FindAwaitCyclesTest, AwaitersOutsideTheSnapshotAreIgnored) {
  EXPECT_THAT(FindAwaitCycles(Snapshot(2, {{1, 99}, {2, 1}})), IsEmpty());
}

}  // namespace
}  // namespace pystrobe
