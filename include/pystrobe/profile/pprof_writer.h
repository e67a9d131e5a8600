// Streaming pprof encoder: writes a profile's protobuf wire format straight
// into a gzip stream as its parts come, so that encoding never holds the
// profile twice (no protobuf message, no uncompressed copy). EncodePprof
// uses it for a Profile; the sampler uses it to write its aggregation
// without building a Profile first (memory at the final write of a long
// recording).
//
// Parts may come in any order (protobuf parsers merge repeated fields
// wherever they appear); strings are interned as they are used and the
// string table is written by Finish, "" first.
//
//   PprofWriter w;
//   w.AddSampleType({"samples", "count"});
//   w.AddFunction(1, {"Server.handle", "handle", "/srv/app.py", 10});
//   w.AddLocation(1, /*function_id=*/1, /*line=*/12);
//   uint64_t stack[] = {1};
//   int64_t values[] = {3};
//   w.AddSample(stack, values, {{w.String("thread_name"), w.String("main")}});
//   ASSIGN_OR_RETURN(std::string gz, w.Finish(header));
#ifndef PYSTROBE_PROFILE_PPROF_WRITER_H_
#define PYSTROBE_PROFILE_PPROF_WRITER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

// A label by string-table indices (from PprofWriter::String).
struct PprofLabel {
  int64_t key = 0;
  int64_t str = 0;  // 0 for a numeric label
  int64_t num = 0;
  int64_t num_unit = 0;
};

// What Finish writes besides the parts added.
struct PprofHeader {
  int64_t time_nanos = 0;
  int64_t duration_nanos = 0;
  ValueType period_type;  // empty: none
  int64_t period = 0;
  std::vector<std::string> comments;
  std::string default_sample_type;
};

class PprofWriter {
 public:
  PprofWriter();
  ~PprofWriter();
  PprofWriter(const PprofWriter&) = delete;
  PprofWriter& operator=(const PprofWriter&) = delete;

  // The string table index of `s`, adding it if new.
  int64_t String(std::string_view s);

  void AddSampleType(const ValueType& type);
  // Function `id` (1-based, unique). A system name equal to the name is
  // left out: pprof would otherwise take the name for one to demangle
  // ("<module>" becomes ""; see pprof.cc).
  void AddFunction(uint64_t id, const Function& f);
  // Location `id` (1-based, unique) of one line of `function_id`, in
  // mapping `mapping_id`: 1 is the mapping of every Python frame (written
  // by Finish), native frames have theirs (AddMapping, ids from 2).
  void AddLocation(uint64_t id, uint64_t function_id, int64_t line,
                   uint64_t mapping_id = 1);
  // Mapping `id` (>= 2, unique) of native frames: file, build-id, address
  // range; it claims symbols and lines, as pystrobe names the frames.
  void AddMapping(uint64_t id, const Mapping& m);
  void AddSample(absl::Span<const uint64_t> location_ids,
                 absl::Span<const int64_t> values,
                 absl::Span<const PprofLabel> labels);

  // Writes the mapping, the header and the string table, and returns the
  // gzip-compressed profile. The writer is spent afterwards.
  absl::StatusOr<std::string> Finish(const PprofHeader& header);

 private:
  struct Stream;
  // Appends bytes to the message, compressing as the buffer fills.
  void Put(std::string_view bytes);
  void Flush(bool finish);

  std::unique_ptr<Stream> stream_;
  std::string buffer_;               // wire bytes not yet compressed
  std::string scratch_;              // one nested message being built
  std::deque<std::string> strings_;  // by index; elements never move
  absl::flat_hash_map<std::string_view, int64_t> string_ids_;  // into strings_
  bool failed_ = false;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_PPROF_WRITER_H_
