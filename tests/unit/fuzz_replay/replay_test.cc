// Runs a libFuzzer target's own LLVMFuzzerTestOneInput (tests/fuzz/, linked
// in beside this file) over its seed corpus and deterministic mutations of
// it, in every build: gcc, no libFuzzer, and under ASan+UBSan in
// scripts/test.sh's sanitizer build. A broken invariant traps, which fails
// the test. Not a substitute for fuzzing (no coverage feedback), but a
// regression in a parser of untrusted input shows up without clang.
#include <dirent.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> ReadCorpus(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> inputs;
  for (const std::string& name : names) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    inputs.emplace_back(std::istreambuf_iterator<char>(in),
                        std::istreambuf_iterator<char>());
  }
  return inputs;
}

void RunInput(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
}

// One of libFuzzer's simpler mutations, chosen by `rng`.
std::string Mutate(std::string s, std::mt19937_64& rng) {
  auto pick = [&rng](size_t n) {
    return n == 0 ? 0 : static_cast<size_t>(rng() % n);
  };
  switch (rng() % 6) {
    case 0:  // flip a bit
      if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << (rng() % 8));
      break;
    case 1:  // an interesting byte
      if (!s.empty()) {
        constexpr char kBytes[] = {0, 1, '\x7f', '\x80', '\xff', '\n', ' '};
        s[pick(s.size())] = kBytes[rng() % sizeof(kBytes)];
      }
      break;
    case 2:  // truncate
      s.resize(pick(s.size() + 1));
      break;
    case 3: {  // erase a run
      const size_t at = pick(s.size());
      s.erase(at, pick(s.size() - at + 1));
      break;
    }
    case 4: {  // copy a run elsewhere
      const size_t from = pick(s.size());
      const std::string run = s.substr(from, pick(64));
      s.insert(pick(s.size() + 1), run);
      break;
    }
    default:  // random bytes
      for (int i = 0; i < 4 && !s.empty(); ++i) {
        s[pick(s.size())] = static_cast<char>(rng());
      }
  }
  return s;
}

TEST(FuzzReplayTest, SeedsAndTheirMutations) {
  const std::vector<std::string> seeds = ReadCorpus(FUZZ_CORPUS);
  ASSERT_FALSE(seeds.empty()) << "no seeds in " << FUZZ_CORPUS;
  RunInput("");
  std::mt19937_64 rng(18);
  size_t runs = 1;
  for (const std::string& seed : seeds) {
    RunInput(seed);
    std::string input = seed;
    for (int i = 0; i < 400; ++i) {
      // Mostly one mutation of the seed, sometimes a chain.
      input = Mutate(i % 4 == 0 ? input : seed, rng);
      RunInput(input);
      ++runs;
    }
  }
  RecordProperty("inputs", static_cast<int>(runs));
}

}  // namespace
