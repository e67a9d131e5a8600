// Writing and reading profiles.
//
// pprof: protobuf wire-compatible with google/pprof's profile.proto, gzip
// compressed; readable by `go tool pprof` and every pprof viewer.
// Collapsed stacks: "frame;frame;...;leaf count" lines, root first, as
// flamegraph.pl and speedscope read them, where a frame is
// "file:function:line" (or "file:function" without lines).
// speedscope: the JSON file format of https://www.speedscope.app
// (https://www.speedscope.app/file-format-schema.json), one sampled profile
// per thread. Flame graph: one self-contained interactive SVG.
//
//   ASSIGN_OR_RETURN(std::string bytes, EncodePprof(profile));
//   ASSIGN_OR_RETURN(Profile back, DecodePprof(bytes));
#ifndef PYSTROBE_PROFILE_FORMATS_H_
#define PYSTROBE_PROFILE_FORMATS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {

// Serializes to gzip-compressed pprof protobuf.
absl::StatusOr<std::string> EncodePprof(const Profile& profile);

// Parses a pprof profile, gzip-compressed or not. Bad input (empty, not
// gzip and not a profile, truncated, inconsistent ids or string indices)
// is InvalidArgument with one line saying what is wrong. Decompressed size
// is capped (kMaxDecodedPprofBytes). A profile without samples is not an
// error: callers decide. Locations are re-interned: a pprof Location with
// several Line entries (inlined calls, as Go writes them) becomes one Location
// per Line, consecutive in the stack, innermost first; a Location without
// lines (unsymbolized) becomes a function named by its hex address.
absl::StatusOr<Profile> DecodePprof(std::string_view bytes);

inline constexpr uint64_t kMaxDecodedPprofBytes = uint64_t{1} << 30;

struct RenderOptions {
  // Value index to weigh stacks by (default: the last sample type, i.e.
  // wall/cpu nanoseconds when present).
  int value_index = -1;
  // Put a root frame per thread (from the thread_name/thread_id labels).
  bool per_thread = false;
  // Put a root frame per process, "PID COMMAND" (from the pid/process
  // labels), above the thread's when both are set.
  bool per_process = false;
  // Include line numbers in frame names.
  bool lines = true;
  std::string title = "pystrobe";
};

// The name a frame has in collapsed stacks: "file:function:line", where
// function is the qualified name when known; ":line" is left out without
// lines or when the line is unknown (0).
std::string CollapsedFrameName(const Profile& profile, const Location& location,
                               bool lines);

// "frame;frame;...;leaf value" lines, root first, sorted, values summed per
// identical stack; stacks whose value is 0 are left out.
std::string RenderCollapsed(const Profile& profile,
                            const RenderOptions& options = {});

// A speedscope file: shared frames, one "sampled" profile per thread (one in
// all when samples carry no thread labels), weights in nanoseconds when the
// chosen sample type is in nanoseconds, else "none".
std::string RenderSpeedscope(const Profile& profile,
                             const RenderOptions& options = {});

// What a flame graph style callback learns about one frame of the merged
// call tree.
struct FlameFrame {
  // Frame names from the root down to and including this frame, as they
  // appear in the SVG ("function (file:line)"); a differential renderer looks
  // the same path up in the other profile.
  const std::vector<std::string>* path = nullptr;
  int64_t value = 0;       // inclusive: this frame and everything it called
  int64_t self_value = 0;  // this frame as the leaf
  int64_t total = 0;       // value of the whole graph
};

// Hooks for other kinds of flame graph (pystrobe-diff's differential one)
// that keep the layout, zoom, search and clipping of the default one.
struct FlameGraphStyle {
  // CSS colour of a frame ("rgb(230,120,40)"); unset: a warm colour hashed
  // from the function name.
  std::function<std::string(const FlameFrame&)> color;
  // Tooltip text (plain text; the renderer escapes it); unset:
  // "name (N samples, P%)" in the unit of the chosen sample type.
  std::function<std::string(const FlameFrame&)> tooltip;
  // A line under the title, e.g. the legend of a differential graph.
  std::string subtitle;
};

// One self-contained SVG (inline CSS and JavaScript, nothing external):
// root at the bottom, width proportional to value, click to zoom, a search
// box that highlights matches and shows their share, tooltips. Frames
// narrower than 0.1% of the total are left out so that the file stays small
// however many distinct stacks the profile has.
std::string RenderFlameGraph(const Profile& profile,
                             const RenderOptions& options = {});
std::string RenderFlameGraph(const Profile& profile,
                             const RenderOptions& options,
                             const FlameGraphStyle& style);

// Writes `contents` to `path` atomically: a temp file in the same folder,
// fsync, rename, fsync of the folder. Readers never see a partial file, and
// after a crash `path` holds either the old or the new contents. The file is
// created with mode 0644. Errors name the path; the temp file is removed.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents);

}  // namespace pystrobe

#endif  // PYSTROBE_PROFILE_FORMATS_H_
