// libFuzzer target for FrameWalker over fake remote memory: raw address
// spaces and mutated valid fake processes of every frame model (see
// tests/unit/python/frame_walker_fuzz.h for the input format and the
// invariants). The randomized unit test frame_walker_random_test runs the
// same entry point over 10,000+ deterministic inputs in every build.
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "frame_walker_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pystrobe::testing::FuzzOutcome outcome =
      pystrobe::testing::WalkFuzzInput(data, size);
  if (!outcome.violation.empty()) {
    std::fprintf(stderr, "frame walker invariant broken: %s\n",
                 outcome.violation.c_str());
    // Not assert(): fuzz builds may define NDEBUG.
    __builtin_trap();
  }
  return 0;
}
