// libFuzzer target for the baseline store's metadata files (NNNN_*.json,
// a team's files, hand edits included): ParseBaselineMetadata, what
// BaselineStore::List reads every entry with. Any text must give metadata
// or one InvalidArgument; metadata that parsed must survive being written
// (BaselineMetadataJson, what Save writes) and read again unchanged.
//
// Seeds: tests/fuzz/corpus/baseline_metadata/ (files pystrobe-diff save
// wrote).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "pystrobe/diff/baseline_store.h"

namespace {

// Not assert(): fuzz builds may define NDEBUG.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "metadata fuzzer invariant broken: %s\n", what);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pystrobe::BaselineMetadata;
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<BaselineMetadata> m =
      pystrobe::ParseBaselineMetadata("0001_fuzz.json", json);
  if (!m.ok()) {
    Check(m.status().code() == absl::StatusCode::kInvalidArgument,
          "bad metadata is not InvalidArgument");
    return 0;
  }
  const std::string written =
      pystrobe::BaselineMetadataJson("api", 1, "0001_fuzz.pb.gz", *m);
  absl::StatusOr<BaselineMetadata> back =
      pystrobe::ParseBaselineMetadata("0001_fuzz.json", written);
  Check(back.ok(), "metadata Save writes does not read back");
  Check(pystrobe::BaselineMetadataJson("api", 1, "0001_fuzz.pb.gz", *back) ==
            written,
        "metadata changed between a write and a read");
  return 0;
}
