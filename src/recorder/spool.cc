#include "pystrobe/recorder/spool.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

constexpr absl::string_view kMagic = "pystrobe-spool 1\n";
constexpr absl::string_view kSuffix = ".window";

// "0000000000000042.window" -> 42.
bool SequenceOf(absl::string_view name, uint64_t* seq) {
  if (!absl::ConsumeSuffix(&name, kSuffix) || name.size() != 16) return false;
  return absl::SimpleAtoi(name, seq);
}

}  // namespace

std::string EncodeSpooledWindow(const SpooledWindow& w) {
  return absl::StrCat(kMagic, w.target, "\n", w.content_type, "\n", w.name,
                      "\n", w.body);
}

absl::StatusOr<SpooledWindow> DecodeSpooledWindow(const std::string& bytes) {
  absl::string_view rest = bytes;
  if (!absl::ConsumePrefix(&rest, kMagic)) {
    return absl::DataLossError("not a pystrobe spool file");
  }
  SpooledWindow w;
  for (std::string* field : {&w.target, &w.content_type, &w.name}) {
    const size_t nl = rest.find('\n');
    if (nl == absl::string_view::npos) {
      return absl::DataLossError("a truncated pystrobe spool file");
    }
    *field = std::string(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  w.body = std::string(rest);
  return w;
}

absl::StatusOr<Spool> Spool::Open(const std::string& dir, int64_t max_bytes) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create spool folder ", dir, ": ", std::strerror(errno)));
  }
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read spool folder ", dir, ": ", std::strerror(errno)));
  }
  Spool spool(dir, max_bytes);
  std::vector<std::pair<uint64_t, std::string>> found;
  while (dirent* e = readdir(d)) {
    uint64_t seq = 0;
    if (SequenceOf(e->d_name, &seq)) found.emplace_back(seq, e->d_name);
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  for (const auto& [seq, name] : found) {
    const std::string path = absl::StrCat(dir, "/", name);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;
    spool.files_.push_back({path, static_cast<int64_t>(st.st_size)});
    spool.bytes_ += st.st_size;
    spool.next_ = seq + 1;
  }
  // Whether it can be written: now, not when the backend first fails.
  const std::string probe = absl::StrCat(dir, "/.write-check");
  if (absl::Status s = WriteFileAtomically(probe, ""); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write to spool folder ", dir, ": ", s.message()));
  }
  unlink(probe.c_str());
  return spool;
}

absl::Status Spool::Add(const SpooledWindow& w, int* dropped) {
  *dropped = 0;
  const std::string bytes = EncodeSpooledWindow(w);
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size > max_bytes_) {
    *dropped = 1;
    return absl::OkStatus();
  }
  while (!files_.empty() && bytes_ + size > max_bytes_) {
    RemoveOldest();
    ++*dropped;
  }
  const std::string path =
      absl::StrFormat("%s/%016u%s", dir_, next_, std::string(kSuffix));
  if (absl::Status s = WriteFileAtomically(path, bytes); !s.ok()) return s;
  ++next_;
  files_.push_back({path, size});
  bytes_ += size;
  return absl::OkStatus();
}

absl::StatusOr<SpooledWindow> Spool::Oldest() const {
  if (files_.empty()) return absl::NotFoundError("the spool is empty");
  std::ifstream in(files_.front().path, std::ios::binary);
  if (!in) {
    return absl::DataLossError(absl::StrCat("cannot read ", files_.front().path,
                                            ": ", std::strerror(errno)));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return DecodeSpooledWindow(bytes.str());
}

void Spool::RemoveOldest() {
  if (files_.empty()) return;
  unlink(files_.front().path.c_str());
  bytes_ -= files_.front().bytes;
  files_.pop_front();
}

}  // namespace pystrobe
