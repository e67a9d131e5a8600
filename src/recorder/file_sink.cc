#include "pystrobe/recorder/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/recorder/run_plan.h"

namespace pystrobe {

std::optional<OutputFormat> ParseOutputFormat(const std::string& name) {
  if (name == "pprof") return OutputFormat::kPprof;
  if (name == "collapsed") return OutputFormat::kCollapsed;
  if (name == "speedscope") return OutputFormat::kSpeedscope;
  if (name == "flamegraph") return OutputFormat::kFlameGraph;
  return std::nullopt;
}

namespace {

const char* FormatName(OutputFormat format) {
  switch (format) {
    case OutputFormat::kPprof:
      return "pprof";
    case OutputFormat::kCollapsed:
      return "collapsed";
    case OutputFormat::kSpeedscope:
      return "speedscope";
    case OutputFormat::kFlameGraph:
      return "flamegraph";
  }
  return "unknown";
}

}  // namespace

const char* Extension(OutputFormat format) {
  switch (format) {
    case OutputFormat::kPprof:
      return "pb.gz";
    case OutputFormat::kCollapsed:
      return "txt";
    case OutputFormat::kSpeedscope:
      return "speedscope.json";
    case OutputFormat::kFlameGraph:
      return "svg";
  }
  return "out";
}

std::optional<OutputFormat> FormatForPath(const std::string& path) {
  auto ends_with = [&path](absl::string_view suffix) {
    return path.size() > suffix.size() && absl::EndsWith(path, suffix);
  };
  if (ends_with(".svg")) return OutputFormat::kFlameGraph;
  if (ends_with(".speedscope.json")) return OutputFormat::kSpeedscope;
  if (ends_with(".txt") || ends_with(".collapsed")) {
    return OutputFormat::kCollapsed;
  }
  if (ends_with(".pb.gz") || ends_with(".pb")) return OutputFormat::kPprof;
  return std::nullopt;
}

absl::StatusOr<OutputFormat> ChooseOutputFormat(
    std::optional<OutputFormat> given, const std::string& path) {
  std::optional<OutputFormat> named = FormatForPath(path);
  if (!given) return named.value_or(OutputFormat::kPprof);
  if (named && *named != *given) {
    return absl::InvalidArgumentError(
        absl::StrCat("-f ", FormatName(*given), " contradicts -o ", path,
                     " (a ", FormatName(*named),
                     " file by its extension): drop -f, or name the "
                     "file .",
                     Extension(*given)));
  }
  return *given;
}

absl::StatusOr<std::string> RenderProfile(const Profile& profile,
                                          OutputFormat format,
                                          const RenderOptions& options) {
  switch (format) {
    case OutputFormat::kPprof:
      return EncodePprof(profile);
    case OutputFormat::kCollapsed:
      return RenderCollapsed(profile, options);
    case OutputFormat::kSpeedscope:
      return RenderSpeedscope(profile, options);
    case OutputFormat::kFlameGraph:
      return RenderFlameGraph(profile, options);
  }
  return absl::InternalError("unknown output format");
}

absl::Status FileSink::Check() const {
  struct stat st {};
  if (stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path_, ": it is a folder"));
  }
  // The atomic write creates a temp file beside the output: try exactly
  // that, so that a folder that is missing, read-only or full fails now and
  // not after the recording.
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos
                              ? "."
                              : (slash == 0 ? "/" : path_.substr(0, slash));
  const std::string probe =
      absl::StrCat(dir, "/.pystrobe-write-check-", getpid());
  ScopedFd fd(
      open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path_, ": ", std::strerror(errno),
                     errno == ENOENT ? " (its folder does not exist)" : ""));
  }
  fd.reset();
  unlink(probe.c_str());
  if (access(path_.c_str(), F_OK) == 0 && access(path_.c_str(), W_OK) != 0 &&
      access(dir.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status FileSink::Write(const Profile& profile, bool /*final*/) {
  absl::StatusOr<std::string> bytes = RenderProfile(profile, format_, render_);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(path_, *bytes);
}

absl::Status FileSink::WritePair(const Profile& base, const Profile& now,
                                 bool final) {
  absl::StatusOr<std::string> bytes = RenderProfile(base, format_, render_);
  if (!bytes.ok()) return bytes.status();
  absl::Status written = WriteFileAtomically(BaseOutputPath(path_), *bytes);
  if (!written.ok()) return written;
  return Write(now, final);
}

}  // namespace pystrobe

namespace pystrobe {

absl::Status FileSink::WriteFrom(const Sampler& sampler,
                                 const std::vector<std::string>& comments,
                                 bool final) {
  // Every write replaces the file whole; checkpoints and the final one
  // differ only in when they come.
  if (format_ != OutputFormat::kPprof) {
    return Write(sampler.BuildProfile(comments), final);
  }
  absl::StatusOr<std::string> bytes = sampler.EncodeProfile(comments);
  return bytes.ok() ? WriteFileAtomically(path_, *bytes) : bytes.status();
}

}  // namespace pystrobe
