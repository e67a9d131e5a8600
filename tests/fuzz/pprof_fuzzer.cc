// libFuzzer target for what pystrobe-diff does with every profile file it is
// given (a CI artifact: untrusted bytes): ParseProfileBytes, the function
// LoadProfileFile hands the file's bytes to (gzip, protobuf, pprof's
// references), then the function table and the comparison `compare` builds
// from a profile that decoded. Any input must give a profile or one
// InvalidArgument, never a crash, leak or hang; a profile that decoded must
// encode again (EncodePprof) and decode to as many samples.
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
#include "pystrobe/profile/formats.h"

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

  absl::StatusOr<std::string> encoded = EncodePprof(profile);
  Check(encoded.ok(), "a decoded profile does not encode");
  absl::StatusOr<Profile> again = DecodePprof(*encoded);
  Check(again.ok(), "an encoded profile does not decode");
  Check(again->samples.size() == profile.samples.size(),
        "the round trip changed the number of samples");
  Check(again->sample_types.size() == profile.sample_types.size(),
        "the round trip changed the sample types");

  // What `pystrobe-diff compare` and `show` do next with it.
  for (Granularity by : {Granularity::kFunction, Granularity::kLine}) {
    TableOptions options;
    options.by = by;
    absl::StatusOr<FunctionTable> table = BuildFunctionTable(profile, options);
    if (!table.ok()) {
      continue;
    }
    absl::StatusOr<Comparison> comparison =
        Compare({*table}, *table, CompareOptions{});
    (void)comparison;
  }
  return 0;
}
