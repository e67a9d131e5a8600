// The sink that writes a recording's profile to a file, in any of
// pystrobe's formats, atomically (temp file, fsync, rename): checkpoints and
// the final profile replace one another, so the file on disk is always a
// complete profile.
//
//   FileSink sink("app.pb.gz", OutputFormat::kPprof, {});
//   RETURN_IF_ERROR(sink.Check());   // before sampling: is it writable?
#ifndef PYSTROBE_RECORDER_FILE_SINK_H_
#define PYSTROBE_RECORDER_FILE_SINK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {

enum class OutputFormat { kPprof, kCollapsed, kSpeedscope, kFlameGraph };

// "pprof" -> kPprof, ...; nullopt for an unknown name.
std::optional<OutputFormat> ParseOutputFormat(const std::string& name);
// The file name extension of a format: "pb.gz", "txt", ...
const char* Extension(OutputFormat format);
// The format a file name's extension names: .svg, .speedscope.json,
// .txt/.collapsed, .pb.gz/.pb; nullopt for any other name.
std::optional<OutputFormat> FormatForPath(const std::string& path);
// The format of a recording's output: `given` (-f) if any, else the one
// `path`'s extension names, else pprof. A contradiction (-f pprof with
// app.svg) is an InvalidArgument naming both.
absl::StatusOr<OutputFormat> ChooseOutputFormat(
    std::optional<OutputFormat> given, const std::string& path);
// The profile in `format`.
absl::StatusOr<std::string> RenderProfile(const Profile& profile,
                                          OutputFormat format,
                                          const RenderOptions& options);

class FileSink : public ProfileSink {
 public:
  FileSink(std::string path, OutputFormat format, RenderOptions render)
      : path_(std::move(path)), format_(format), render_(std::move(render)) {}

  // Whether the file can be written (its folder exists and takes a new
  // file), before any sampling: one line naming the path and the reason.
  absl::Status Check() const;
  absl::Status Write(const Profile& profile, bool final) override;
  absl::Status WriteFrom(const Sampler& sampler,
                         const std::vector<std::string>& comments,
                         bool final) override;
  // An interleaved recording: `now` to the path, `base` beside it
  // (BaseOutputPath: "out.pb.gz" -> "out.base.pb.gz").
  absl::Status WritePair(const Profile& base, const Profile& now,
                         bool final) override;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  OutputFormat format_;
  RenderOptions render_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_FILE_SINK_H_
