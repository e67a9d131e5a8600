// Reading profile files for pystrobe-diff and `record --compare`: one clear
// message per kind of bad input; resolving BASE (a file or a stored
// baseline); the metadata of a save.
#include "pystrobe/diff/profile_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

// Compressed profiles larger than this are not profiles anyone meant.
constexpr off_t kMaxProfileFileBytes = off_t{1} << 30;

absl::Status Bad(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<std::string> ReadProfileBytes(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return Bad(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return Bad(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return Bad(absl::StrCat(path, " is a folder, not a profile file"));
  }
  if (S_ISREG(st.st_mode) && st.st_size > kMaxProfileFileBytes) {
    return Bad(absl::StrCat(path, " is too large for a profile (", st.st_size,
                            " bytes)"));
  }
  std::string data;
  if (S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Bad(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > static_cast<size_t>(kMaxProfileFileBytes)) {
      return Bad(absl::StrCat(path, " is too large for a profile"));
    }
  }
  return data;
}

// Runs `git ARGS` in the current folder; its stdout, or nullopt when git is
// missing or fails (not a checkout).
std::optional<std::string> Git(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return std::nullopt;
  ScopedFd read_end(pipe_fds[0]);
  ScopedFd write_end(pipe_fds[1]);
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    dup2(write_end.get(), STDOUT_FILENO);
    execvp("git", cargv.data());
    _exit(127);
  }
  write_end.reset();
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = read(read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < (1 << 20)) out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

// The value of a "key=value" profile comment (as pystrobe record writes).
std::string CommentValue(const Profile& p, absl::string_view key) {
  for (const std::string& c : p.comments) {
    absl::string_view v(c);
    if (absl::ConsumePrefix(&v, key) && absl::ConsumePrefix(&v, "=")) {
      return std::string(v);
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<LoadedProfile> LoadProfileFile(const std::string& path) {
  PYSTROBE_ASSIGN_OR_RETURN(std::string bytes, ReadProfileBytes(path));
  return ParseProfileBytes(path, std::move(bytes));
}

absl::StatusOr<LoadedProfile> ParseProfileBytes(const std::string& path,
                                                std::string bytes) {
  LoadedProfile loaded;
  loaded.label = path;
  loaded.path = path;
  loaded.bytes = std::move(bytes);
  if (loaded.bytes.empty()) {
    return Bad(absl::StrCat(path, " is empty, not a pprof profile"));
  }
  absl::StatusOr<Profile> profile = DecodePprof(loaded.bytes);
  if (!profile.ok()) {
    return Bad(absl::StrCat(path, ": ", profile.status().message()));
  }
  if (profile->samples.empty()) {
    return Bad(absl::StrCat(path, " is an empty profile (no samples)"));
  }
  if (profile->sample_types.empty()) {
    return Bad(absl::StrCat(path, " is a profile without sample types"));
  }
  loaded.profile = *std::move(profile);
  return loaded;
}

absl::Status ParseEntryRef(const std::string& ref, std::string* name,
                           int* number) {
  const size_t at = ref.rfind('@');
  *number = 0;
  if (at == std::string::npos) {
    *name = ref;
    return absl::OkStatus();
  }
  *name = ref.substr(0, at);
  if (!absl::SimpleAtoi(ref.substr(at + 1), number) || *number <= 0) {
    return Bad(absl::StrCat("bad baseline entry '", ref,
                            "': want NAME@N with N a positive number"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LoadedProfile>> LoadBase(const BaselineStore& store,
                                                    const std::string& base,
                                                    int last,
                                                    std::string* label) {
  std::vector<LoadedProfile> out;
  struct stat st {};
  const bool is_file = stat(base.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
  // What looks like a path is one, existing or not, so that a typo in a file
  // name is reported as a missing file.
  const bool looks_like_file =
      absl::StrContains(base, "/") || absl::EndsWith(base, ".gz") ||
      absl::EndsWith(base, ".pb") || absl::EndsWith(base, ".pprof") ||
      absl::EndsWith(base, ".prof");
  if (last == 0 && (is_file || looks_like_file)) {
    PYSTROBE_ASSIGN_OR_RETURN(LoadedProfile p, LoadProfileFile(base));
    *label = base;
    out.push_back(std::move(p));
    return out;
  }
  std::string name;
  int number = 0;
  PYSTROBE_RETURN_IF_ERROR(ParseEntryRef(base, &name, &number));
  if (last > 0 && number > 0) {
    return Bad(absl::StrCat("--last wants a baseline NAME, not an entry (",
                            base, ")"));
  }
  std::vector<BaselineEntry> entries;
  if (number > 0) {
    absl::StatusOr<BaselineEntry> e = store.Get(name, number);
    if (!e.ok()) return Bad(std::string(e.status().message()));
    entries.push_back(*std::move(e));
  } else {
    absl::StatusOr<std::vector<BaselineEntry>> es =
        store.Last(name, last > 0 ? last : 1);
    if (!es.ok()) {
      if (es.status().code() == absl::StatusCode::kNotFound && last == 0) {
        return Bad(absl::StrCat(
            "'", base,
            "' is neither a file nor a baseline: ", es.status().message()));
      }
      return Bad(std::string(es.status().message()));
    }
    if (es->empty()) {
      return Bad(absl::StrCat("baseline '", name, "' in ", store.root(),
                              " has no entries"));
    }
    entries = *std::move(es);
  }
  for (const BaselineEntry& e : entries) {
    PYSTROBE_ASSIGN_OR_RETURN(LoadedProfile p, LoadProfileFile(e.profile_path));
    p.label = absl::StrCat(e.name, "@", e.number);
    out.push_back(std::move(p));
  }
  if (entries.size() == 1) {
    *label = out[0].label;
  } else {
    *label = absl::StrCat(name, "@", entries.front().number, "..@",
                          entries.back().number);
  }
  return out;
}

BaselineMetadata MetadataFor(const Profile& profile) {
  BaselineMetadata m;
  char host[HOST_NAME_MAX + 1] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) m.host = host;
  if (std::optional<std::string> head = Git({"rev-parse", "--short", "HEAD"})) {
    m.git_commit = std::string(absl::StripAsciiWhitespace(*head));
    // Untracked files (the store itself, often) do not make a tree dirty.
    std::optional<std::string> status =
        Git({"status", "--porcelain", "--untracked-files=no"});
    m.git_dirty = status.has_value() && !status->empty();
  }
  m.python_version = CommentValue(profile, "python_version");
  m.command_line = CommentValue(profile, "command_line");
  return m;
}

}  // namespace pystrobe
