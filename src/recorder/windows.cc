#include "pystrobe/recorder/windows.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace pystrobe {
namespace {

// "dir/app.pb.gz" -> {"dir/", "app", ".pb.gz"}.
struct OutputName {
  std::string dir;  // with its trailing slash, or ""
  std::string stem;
  std::string extension;  // with its dot, or ""
};

OutputName SplitOutput(const std::string& output) {
  OutputName n;
  const size_t slash = output.rfind('/');
  n.dir = slash == std::string::npos ? "" : output.substr(0, slash + 1);
  const std::string base =
      slash == std::string::npos ? output : output.substr(slash + 1);
  // Compound extensions first: "app.pb.gz" is app + .pb.gz, not app.pb + .gz.
  for (const char* ext : {".pb.gz", ".speedscope.json", ".pprof.gz"}) {
    if (absl::EndsWith(base, ext) && base.size() > std::string(ext).size()) {
      n.stem = base.substr(0, base.size() - std::string(ext).size());
      n.extension = ext;
      return n;
    }
  }
  const size_t dot = base.rfind('.');
  if (dot == std::string::npos || dot == 0) {
    n.stem = base;
    return n;
  }
  n.stem = base.substr(0, dot);
  n.extension = base.substr(dot);
  return n;
}

// "YYYYmmdd-HHMMSS".
bool IsStamp(absl::string_view s) {
  if (s.size() != 15 || s[8] != '-') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

}  // namespace

std::string InsertBeforeExtension(const std::string& output,
                                  const std::string& part) {
  const OutputName n = SplitOutput(output);
  return absl::StrCat(n.dir, n.stem, ".", part, n.extension);
}

std::string WindowPattern(const std::string& output) {
  return InsertBeforeExtension(output, "YYYYmmdd-HHMMSS");
}

std::string WindowPath(const std::string& output, int64_t start_unix_ns) {
  const time_t seconds = static_cast<time_t>(start_unix_ns / 1'000'000'000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &utc);
  return InsertBeforeExtension(output, stamp);
}

std::vector<std::string> ListWindowFiles(const std::string& output) {
  const OutputName n = SplitOutput(output);
  std::vector<std::string> names;
  DIR* dir = opendir(n.dir.empty() ? "." : n.dir.c_str());
  if (dir == nullptr) return names;
  const std::string prefix = n.stem + ".";
  while (dirent* e = readdir(dir)) {
    absl::string_view name = e->d_name;
    if (name.size() != prefix.size() + 15 + n.extension.size() ||
        !absl::StartsWith(name, prefix) || !absl::EndsWith(name, n.extension) ||
        !IsStamp(name.substr(prefix.size(), 15))) {
      continue;
    }
    names.emplace_back(name);
  }
  closedir(dir);
  // Same prefix and extension: the UTC stamps order them in time.
  std::sort(names.begin(), names.end());
  for (std::string& name : names) name = n.dir + name;
  return names;
}

std::vector<std::string> RemoveOldWindows(const std::string& output, int keep) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  std::vector<std::string> files = ListWindowFiles(output);
  if (files.size() <= static_cast<size_t>(keep)) return removed;
  files.resize(files.size() - static_cast<size_t>(keep));
  for (std::string& f : files) {
    if (unlink(f.c_str()) == 0) removed.push_back(std::move(f));
  }
  return removed;
}

WindowSink::WindowSink(std::string output, OutputFormat format,
                       RenderOptions render, int keep)
    : output_(std::move(output)),
      format_(format),
      render_(std::move(render)),
      keep_(keep) {}

absl::Status WindowSink::Check() const {
  // The window files go into the output's folder, as the output would.
  return FileSink(WindowPath(output_, 0), format_, render_).Check();
}

absl::Status WindowSink::Written(const std::string& path) {
  if (written_.empty() || written_.back() != path) written_.push_back(path);
  RemoveOldWindows(output_, keep_);
  return absl::OkStatus();
}

absl::Status WindowSink::Write(const Profile& profile, bool final) {
  // The end of a recording right after a window closed: nothing to add.
  if (final && profile.samples.empty() && !written_.empty()) {
    return absl::OkStatus();
  }
  const std::string path = WindowPath(output_, profile.time_nanos);
  FileSink file(path, format_, render_);
  if (absl::Status s = file.Write(profile, final); !s.ok()) return s;
  return Written(path);
}

absl::Status WindowSink::WriteFrom(const Sampler& sampler,
                                   const std::vector<std::string>& comments,
                                   bool final) {
  if (final && sampler.window_stats().ticks == 0 && !written_.empty()) {
    return absl::OkStatus();
  }
  const std::string path = WindowPath(output_, sampler.window_start_unix_ns());
  FileSink file(path, format_, render_);
  if (absl::Status s = file.WriteFrom(sampler, comments, final); !s.ok()) {
    return s;
  }
  return Written(path);
}

}  // namespace pystrobe
