// The frame walker fuzzer's entry point over 10,000+ deterministic inputs:
// half raw random address spaces, half valid fake processes (some left
// intact, most with random mutations). Every walk must end within the depth
// bound with a bounded code cache, and intact images must walk exactly.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "frame_walker.h"
#include "frame_walker_fuzz.h"
#include "gtest/gtest.h"

namespace pystrobe::testing {
namespace {

TEST(FrameWalkerRandomTest, RandomAndMutatedImages) {
  constexpr int kImages = 10240;
  std::mt19937_64 rng(20240611);
  int ok = 0, failed = 0, built = 0, intact = 0, intact_ok = 0;
  size_t max_frames = 0;
  int violations = 0;
  std::vector<int> version_seen(8, 0);
  for (int i = 0; i < kImages; ++i) {
    std::vector<uint8_t> input;
    const bool build = i % 2 == 1;
    const uint8_t version = static_cast<uint8_t>(rng() % 6);
    input.push_back(static_cast<uint8_t>(version | (build ? 8 : 0)));
    if (build) {
      for (int k = 0; k < 8; ++k) input.push_back(static_cast<uint8_t>(rng()));
      // One in eight intact, the rest with 1-12 mutations.
      const int mutations =
          rng() % 8 == 0 ? 0 : 1 + static_cast<int>(rng() % 12);
      for (int m = 0; m < mutations * 6; ++m) {
        input.push_back(static_cast<uint8_t>(rng()));
      }
    } else {
      const size_t size = 64 + rng() % 4096;
      for (size_t k = 0; k < size; ++k) {
        input.push_back(static_cast<uint8_t>(rng()));
      }
    }
    FuzzOutcome outcome = WalkFuzzInput(input.data(), input.size());
    ++version_seen[version];
    if (!outcome.violation.empty()) {
      ++violations;
      ADD_FAILURE() << "image " << i << ": " << outcome.violation;
      if (violations > 10) break;
    }
    EXPECT_LE(outcome.frames, static_cast<size_t>(FrameWalker::kMaxDepth));
    EXPECT_LE(outcome.cache_size, kFuzzCacheEntries);
    max_frames = std::max(max_frames, outcome.frames);
    (outcome.ok ? ok : failed)++;
    if (outcome.built) {
      ++built;
      if (outcome.mutations == 0) {
        ++intact;
        intact_ok += outcome.ok ? 1 : 0;
      }
    }
  }
  std::printf(
      "%d images (%d raw, %d built of which %d intact): %d walks succeeded, "
      "%d failed; deepest %zu frames\n",
      kImages, kImages - built, built, intact, ok, failed, max_frames);
  EXPECT_EQ(built, kImages / 2);
  EXPECT_GT(intact, 100);
  EXPECT_EQ(intact_ok, intact);
  // Mutated images must not all fail (the mutations must leave some walks
  // intact) nor all pass (they must reach the walker's checks).
  EXPECT_GT(ok, intact);
  EXPECT_GT(failed, kImages / 2);
  for (int v = 0; v < 6; ++v) EXPECT_GT(version_seen[v], 0) << v;
}

// Inputs shorter than a seed or a thread state.
TEST(FrameWalkerRandomTest, EmptyAndTinyInputs) {
  for (size_t size = 0; size < 12; ++size) {
    std::vector<uint8_t> input(size, 0x0b);
    FuzzOutcome outcome = WalkFuzzInput(input.data(), input.size());
    EXPECT_TRUE(outcome.violation.empty()) << size << ": " << outcome.violation;
  }
}

}  // namespace
}  // namespace pystrobe::testing
