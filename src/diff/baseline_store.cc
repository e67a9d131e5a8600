// The baseline store: numbered entries in one folder per baseline name.
//
// An entry is visible only once its metadata file exists, and the metadata
// is renamed into place after the profile, so readers never see a profile
// that is still being written. Numbers are reserved with an O_EXCL create of
// NNNN.lock: of two savers racing for a number, exactly one gets it.

#include "pystrobe/diff/baseline_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/base/text.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

constexpr char kProfileSuffix[] = ".pb.gz";
constexpr char kMetadataSuffix[] = ".json";
constexpr char kLockSuffix[] = ".lock";
// Entry numbers are written with at least this many digits.
constexpr int kNumberDigits = 4;
// A store is a team's files: a saver that cannot find a free number after
// this many tries is looking at something else.
constexpr int kMaxReserveAttempts = 100000;

absl::Status ErrnoError(int err, absl::string_view what,
                        const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

// Names in `dir` (without "." and ".."). ENOENT is reported as NotFound.
absl::StatusOr<std::vector<std::string>> ReadDirectory(const std::string& dir) {
  std::unique_ptr<DIR, DirCloser> d(opendir(dir.c_str()));
  if (d == nullptr) {
    return ErrnoError(errno, "cannot read", dir);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = readdir(d.get())) {
    const absl::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// mkdir -p, one component at a time; an existing folder is fine.
absl::Status MakeDirectories(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    partial = path.substr(0, slash);
    pos = slash + 1;
    if (partial.empty() || partial == "." || partial == "..") continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError(errno, "cannot create the baseline store folder",
                        partial);
    }
    if (!IsDirectory(partial)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot use ", partial, " as a baseline store folder: not a folder"));
    }
  }
  return absl::OkStatus();
}

// Baseline names become folder names: keep them to a safe alphabet.
absl::Status CheckName(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 100 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                           c == '_' || c == '-' || c == '.';
                  });
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad baseline name '", name,
        "': use letters, digits, '_', '-' and '.', not starting with '.'"));
  }
  return absl::OkStatus();
}

// The number an entry file starts with ("0012_..." or "0012.lock"), or -1.
int EntryNumber(absl::string_view file) {
  size_t digits = 0;
  while (digits < file.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(file[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 9 || digits == file.size()) return -1;
  if (file[digits] != '_' && file[digits] != '.') return -1;
  int number = 0;
  if (!absl::SimpleAtoi(file.substr(0, digits), &number)) return -1;
  return number;
}

std::string UtcTime(time_t t, const char* format) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = strftime(buf, sizeof(buf), format, &tm);
  return std::string(buf, n);
}

std::string PaddedNumber(int number) {
  std::string s = absl::StrCat(number);
  if (s.size() < kNumberDigits) s.insert(0, kNumberDigits - s.size(), '0');
  return s;
}

// Commit hashes and dates go into file names: keep what is safe there.
std::string FileNamePart(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-') {
      out.push_back(c);
    }
  }
  return out.empty() ? "nogit" : out;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->append(JsonQuoted(std::string_view(s.data(), s.size())));
}

// Command lines may hold bytes that are not UTF-8; JSON (and protobuf's
// parser) wants UTF-8, so those bytes become '?'.
std::string ValidUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80         ? 1
              : (c >> 5) == 6  ? 2
              : (c >> 4) == 14 ? 3
              : (c >> 3) == 30 ? 4
                               : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      ok =
          (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) >> 6) == 2;
    }
    if (ok) {
      out.append(s.data() + i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, "cannot read", path);
  std::string data;
  char buf[8192];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot read", path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (1 << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is too large for baseline metadata"));
    }
  }
  return data;
}

// Takes the lowest free number above every number in use: entries, stray
// profiles of killed saves and reservations all count.
absl::StatusOr<int> ReserveNumber(const std::string& dir) {
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<std::string> files, ReadDirectory(dir));
  int next = 1;
  for (const std::string& f : files) next = std::max(next, EntryNumber(f) + 1);
  for (int attempt = 0; attempt < kMaxReserveAttempts; ++attempt, ++next) {
    const std::string number = PaddedNumber(next);
    const std::string lock = absl::StrCat(dir, "/", number, kLockSuffix);
    ScopedFd fd(
        open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) {
      if (errno == EEXIST) continue;
      return ErrnoError(errno, "cannot write to the baseline store", dir);
    }
    // A saver that finished and removed its lock after our scan left its
    // files behind: the number is taken after all.
    PYSTROBE_ASSIGN_OR_RETURN(files, ReadDirectory(dir));
    const bool taken =
        std::any_of(files.begin(), files.end(), [&](const std::string& f) {
          return EntryNumber(f) == next && !absl::EndsWith(f, kLockSuffix);
        });
    if (taken) {
      unlink(lock.c_str());
      continue;
    }
    return next;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no free entry number in ", dir));
}

}  // namespace

std::string BaselineMetadataJson(const std::string& name, int number,
                                 const std::string& profile_file,
                                 const BaselineMetadata& m) {
  std::string out = "{\n";
  auto field = [&out](absl::string_view key, absl::string_view value) {
    out.append("  ");
    AppendJsonString(key, &out);
    out.append(": ");
    AppendJsonString(ValidUtf8(value), &out);
    out.append(",\n");
  };
  field("name", name);
  absl::StrAppend(&out, "  \"number\": ", number, ",\n");
  field("profile", profile_file);
  field("time", m.time);
  field("host", m.host);
  field("git_commit", m.git_commit);
  absl::StrAppend(&out, "  \"git_dirty\": ", m.git_dirty ? "true" : "false",
                  ",\n");
  field("python_version", m.python_version);
  out.append("  \"command_line\": ");
  AppendJsonString(ValidUtf8(m.command_line), &out);
  out.append("\n}\n");
  return out;
}

absl::StatusOr<BaselineMetadata> ParseBaselineMetadata(const std::string& path,
                                                       std::string_view json) {
  google::protobuf::Struct s;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &s);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not valid baseline metadata JSON"));
  }
  const auto& fields = s.fields();
  auto str = [&fields](const char* key) -> std::string {
    auto it = fields.find(key);
    return it == fields.end() ? "" : it->second.string_value();
  };
  BaselineMetadata m;
  m.time = str("time");
  m.host = str("host");
  m.git_commit = str("git_commit");
  auto dirty = fields.find("git_dirty");
  m.git_dirty = dirty != fields.end() && dirty->second.bool_value();
  m.python_version = str("python_version");
  m.command_line = str("command_line");
  return m;
}

absl::StatusOr<BaselineEntry> BaselineStore::Save(
    const std::string& name, const std::string& profile_bytes,
    const BaselineMetadata& metadata) {
  PYSTROBE_RETURN_IF_ERROR(CheckName(name));
  const std::string dir = absl::StrCat(root_, "/", name);
  PYSTROBE_RETURN_IF_ERROR(MakeDirectories(dir));
  PYSTROBE_ASSIGN_OR_RETURN(const int number, ReserveNumber(dir));
  const std::string lock =
      absl::StrCat(dir, "/", PaddedNumber(number), kLockSuffix);
  const time_t now = time(nullptr);

  const std::string date = UtcTime(now, "%Y%m%d-%H%M%S");
  const std::string stem = absl::StrCat(
      PaddedNumber(number), "_", FileNamePart(metadata.git_commit), "_", date);
  BaselineEntry entry;
  entry.name = name;
  entry.number = number;
  entry.profile_path = absl::StrCat(dir, "/", stem, kProfileSuffix);
  entry.metadata_path = absl::StrCat(dir, "/", stem, kMetadataSuffix);
  entry.metadata = metadata;
  if (entry.metadata.time.empty()) {
    entry.metadata.time = UtcTime(now, "%Y-%m-%dT%H:%M:%SZ");
  }
  absl::Status status = WriteFileAtomically(entry.profile_path, profile_bytes);
  if (status.ok()) {
    status = WriteFileAtomically(
        entry.metadata_path,
        BaselineMetadataJson(name, number, stem + kProfileSuffix,
                             entry.metadata));
  }
  if (!status.ok()) {
    // Nothing half-made stays behind: without metadata the profile is
    // invisible anyway, but a team should not have to commit it.
    unlink(entry.profile_path.c_str());
    unlink(lock.c_str());
    return status;
  }
  // The entry's files now hold its number; the reservation can go.
  unlink(lock.c_str());
  return entry;
}

absl::StatusOr<std::vector<BaselineEntry>> BaselineStore::List(
    const std::string& name) const {
  PYSTROBE_RETURN_IF_ERROR(CheckName(name));
  const std::string dir = absl::StrCat(root_, "/", name);
  if (!IsDirectory(dir)) {
    PYSTROBE_ASSIGN_OR_RETURN(std::vector<std::string> names, Names());
    return absl::NotFoundError(absl::StrCat(
        "no baseline '", name, "' in ", root_,
        names.empty()
            ? " (the store is empty)"
            : absl::StrCat(" (have: ", absl::StrJoin(names, ", "), ")")));
  }
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<std::string> files, ReadDirectory(dir));
  std::map<int, BaselineEntry> by_number;
  for (const std::string& f : files) {
    const int number = EntryNumber(f);
    if (number < 0 || !absl::EndsWith(f, kMetadataSuffix) ||
        f.find(".tmp.") != std::string::npos) {
      continue;
    }
    const std::string stem = f.substr(0, f.size() - strlen(kMetadataSuffix));
    BaselineEntry e;
    e.name = name;
    e.number = number;
    e.metadata_path = absl::StrCat(dir, "/", f);
    e.profile_path = absl::StrCat(dir, "/", stem, kProfileSuffix);
    if (!Exists(e.profile_path)) continue;  // not an entry we wrote
    PYSTROBE_ASSIGN_OR_RETURN(std::string json, ReadSmallFile(e.metadata_path));
    PYSTROBE_ASSIGN_OR_RETURN(e.metadata,
                              ParseBaselineMetadata(e.metadata_path, json));
    // Two files claiming one number can only come from hand edits; keep the
    // first, deterministically.
    by_number.emplace(number, std::move(e));
  }
  std::vector<BaselineEntry> entries;
  entries.reserve(by_number.size());
  for (auto& [number, e] : by_number) entries.push_back(std::move(e));
  return entries;
}

absl::StatusOr<std::vector<std::string>> BaselineStore::Names() const {
  if (!Exists(root_)) return std::vector<std::string>{};
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<std::string> files,
                            ReadDirectory(root_));
  std::vector<std::string> names;
  for (const std::string& f : files) {
    if (CheckName(f).ok() && IsDirectory(absl::StrCat(root_, "/", f))) {
      names.push_back(f);
    }
  }
  return names;
}

absl::StatusOr<BaselineEntry> BaselineStore::Get(const std::string& name,
                                                 int number) const {
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<BaselineEntry> entries, List(name));
  std::vector<std::string> numbers;
  for (BaselineEntry& e : entries) {
    if (e.number == number) return std::move(e);
    numbers.push_back(absl::StrCat(e.number));
  }
  return absl::NotFoundError(absl::StrCat(
      "baseline '", name, "' has no entry ", number,
      numbers.empty()
          ? " (it has no entries)"
          : absl::StrCat(" (entries: ", absl::StrJoin(numbers, ", "), ")")));
}

absl::StatusOr<std::vector<BaselineEntry>> BaselineStore::Last(
    const std::string& name, int count) const {
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<BaselineEntry> entries, List(name));
  if (count < static_cast<int>(entries.size())) {
    entries.erase(entries.begin(), entries.end() - std::max(count, 0));
  }
  return entries;
}

}  // namespace pystrobe
