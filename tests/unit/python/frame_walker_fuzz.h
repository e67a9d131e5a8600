// One entry point for the frame walker fuzzer (tests/fuzz) and the
// randomized unit test: bytes in, one walk (twice) over a fake address
// space, invariants checked.
//
// Input: byte 0 picks the version (low 3 bits, modulo the six fake
// versions) and the mode (bit 3):
//   raw:   the remaining bytes are the address space, mapped at
//          FakePython::kBase, with the PyThreadState at its start;
//   built: bytes 1-8 seed the generator of a valid fake process (random
//          stack of random code objects, names of every string kind, line
//          tables encoded by hand), and every further 6 bytes are one
//          mutation of its arena: op, offset (u32 LE), value.
//
// Invariants (any violation is reported in FuzzOutcome::violation):
//   - the walk ends, with at most FrameWalker::kMaxDepth frames;
//   - the CodeCache stays within its max_entries;
//   - a second walk of the same memory gives the same result and, when the
//     cache was never full, decodes nothing;
//   - a built image with no mutation walks OK, and its frames are exactly
//     the generated ones (names, qualnames, file names, lines).
#ifndef PYSTROBE_TESTS_UNIT_PYTHON_FRAME_WALKER_FUZZ_H_
#define PYSTROBE_TESTS_UNIT_PYTHON_FRAME_WALKER_FUZZ_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace pystrobe::testing {

struct FuzzOutcome {
  bool built = false;  // a generated process (else raw bytes)
  int mutations = 0;   // applied to a built image
  bool ok = false;     // the first walk succeeded
  size_t frames = 0;   // frames of the first walk
  size_t cache_size = 0;
  std::string violation;  // empty: every invariant held
};

// Max entries of the CodeCache used by WalkFuzzInput.
inline constexpr size_t kFuzzCacheEntries = 32;

FuzzOutcome WalkFuzzInput(const uint8_t* data, size_t size);

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_PYTHON_FRAME_WALKER_FUZZ_H_
