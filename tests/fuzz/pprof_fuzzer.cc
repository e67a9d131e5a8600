// libFuzzer target for what pystrobe-diff does with every profile file it is
// given (a CI artifact: untrusted bytes): ParseProfileBytes, the function
// LoadProfileFile hands the file's bytes to (gzip, protobuf, pprof's
// references, the checks for something to compare), then BuildFunctionTable,
// what `compare`, `show` and `save` build from a profile that decoded. Any
// input must give a profile or one InvalidArgument, never a crash, leak or
// hang.
//
// Not here: Compare() on the tables (compare_fuzzer.cc builds profiles
// from structured bytes and compares them) and an EncodePprof round trip.
//
// Seeds: tests/fuzz/corpus/pprof/ (profiles pystrobe wrote, gzipped and not).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/diff/profile_files.h"

namespace {

// Not assert(): fuzz builds may define NDEBUG.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "pprof fuzzer invariant broken: %s\n", what);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pystrobe;  // NOLINT(build/namespaces): a fuzz harness
  absl::StatusOr<LoadedProfile> loaded = ParseProfileBytes(
      "fuzz.pb.gz", std::string(reinterpret_cast<const char*>(data), size));
  if (!loaded.ok()) {
    Check(loaded.status().code() == absl::StatusCode::kInvalidArgument ||
              loaded.status().code() == absl::StatusCode::kResourceExhausted,
          "a bad profile is not InvalidArgument");
    return 0;
  }
  const Profile& profile = loaded->profile;

  // What `pystrobe-diff compare` and `show` do next with it.
  absl::StatusOr<FunctionTable> table = BuildFunctionTable(profile, {});
  (void)table;
  return 0;
}
