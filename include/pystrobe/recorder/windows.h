// Continuous recording in windows (`pystrobe record --every S --keep K`):
// every S seconds the recording closes a window and writes it as its own
// complete profile, beside the output and named after it with the window's
// start: `-o app.pb.gz` -> app.20261201-140000.pb.gz. Stamps are UTC, so
// that names sort in time order (no daylight-saving jumps) and `--keep`
// can rotate by name. The aggregation restarts with each window
// (Sampler::NextWindow), so memory stays bounded however long it runs.
//
//   WindowSink sink("app.pb.gz", OutputFormat::kPprof, render, /*keep=*/24);
//   RETURN_IF_ERROR(sink.Check());
//   RecordingOptions o;  o.window_s = 3600;
//   Recording(o).Run(stop, {}, &sink);   // app.<stamp>.pb.gz every hour
#ifndef PYSTROBE_RECORDER_WINDOWS_H_
#define PYSTROBE_RECORDER_WINDOWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "pystrobe/recorder/file_sink.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {

// The file of the window that started at `start_unix_ns` (UTC stamp):
// "dir/app.pb.gz" -> "dir/app.YYYYmmdd-HHMMSS.pb.gz". The stamp goes
// before the extension: a known one of pystrobe's formats (pb.gz,
// speedscope.json, ...), else the name's last one ("x.svg", "x.json"), else
// at the end ("app" -> "app.STAMP").
std::string WindowPath(const std::string& output, int64_t start_unix_ns);
// The same with "YYYYmmdd-HHMMSS" for the stamp, for messages.
std::string WindowPattern(const std::string& output);
// `part` inserted before the extension of `output` by the same rule
// ("app.pb.gz", "base" -> "app.base.pb.gz"): the names of window files and
// of an interleaved recording's base profile (run_plan.h).
std::string InsertBeforeExtension(const std::string& output,
                                  const std::string& part);

// The window files of `output` in its folder, oldest first: exactly the
// names WindowPath makes for it (other files, temp files and other
// outputs' windows are never listed).
std::vector<std::string> ListWindowFiles(const std::string& output);

// Deletes the oldest window files of `output` beyond the newest `keep`
// (keep <= 0: none deleted). Returns the files deleted.
std::vector<std::string> RemoveOldWindows(const std::string& output, int keep);

// When the recording's window is due to close (RecordingOptions::window_s).
class WindowClock {
 public:
  // `every_s` <= 0: windows are off, never due.
  WindowClock(double every_s, int64_t now_ns)
      : every_ns_(static_cast<int64_t>(every_s * 1e9)), start_ns_(now_ns) {}
  bool enabled() const { return every_ns_ > 0; }
  bool Due(int64_t now_ns) const {
    return enabled() && now_ns - start_ns_ >= every_ns_;
  }
  // The next window starts at `now_ns`.
  void Restart(int64_t now_ns) { start_ns_ = now_ns; }

 private:
  int64_t every_ns_;
  int64_t start_ns_;
};

// A sink that writes each window to its own file (WindowPath of the
// window's start: the profile's time_nanos, or the sampler's window start)
// and, after each write, keeps only the newest `keep` window files (0: all).
// Checkpoints write the current window's file (replaced whole, atomically,
// as the window grows); a window closing writes it once more, complete.
class WindowSink : public ProfileSink {
 public:
  WindowSink(std::string output, OutputFormat format, RenderOptions render,
             int keep);

  // Whether window files can be written beside `output` (FileSink::Check).
  absl::Status Check() const;
  absl::Status Write(const Profile& profile, bool final) override;
  absl::Status WriteFrom(const Sampler& sampler,
                         const std::vector<std::string>& comments,
                         bool final) override;

  // The window files written, in order (each once), those rotated away
  // included.
  const std::vector<std::string>& written() const { return written_; }

 private:
  absl::Status Written(const std::string& path);

  std::string output_;
  OutputFormat format_;
  RenderOptions render_;
  int keep_;
  std::vector<std::string> written_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_WINDOWS_H_
