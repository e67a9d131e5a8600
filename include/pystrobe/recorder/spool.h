// The on-disk spool of `record --push ... --spool DIR`: windows that could
// not be sent yet wait here, oldest first, until the backend is back, and
// survive pystrobe's restart (a new recording with the same DIR sends them
// first). Bounded by bytes: adding past the bound deletes the oldest files,
// and says how many. Each window is one file, written atomically, named by
// a sequence number so that names sort in the order they were added.
//
//   ASSIGN_OR_RETURN(Spool spool, Spool::Open("/var/spool/pystrobe", 64 <<
//   20)); int dropped = 0; RETURN_IF_ERROR(spool.Add(window, &dropped)); while
//   (!spool.empty()) { ASSIGN_OR_RETURN(SpooledWindow w, spool.Oldest()); ...
//     spool.RemoveOldest(); }
#ifndef PYSTROBE_RECORDER_SPOOL_H_
#define PYSTROBE_RECORDER_SPOOL_H_

#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pystrobe {

// A request to a backend that waits to be sent: where on the backend, what
// kind of body, the body, and a name for messages (the window's stamp).
struct SpooledWindow {
  std::string target;  // path and query on the backend
  std::string content_type;
  std::string name;
  std::string body;
  size_t bytes() const {
    return target.size() + content_type.size() + name.size() + body.size();
  }
};

class Spool {
 public:
  // Creates `dir` if missing (its parent must exist) and lists the windows
  // a previous recording left there. `max_bytes` > 0.
  static absl::StatusOr<Spool> Open(const std::string& dir, int64_t max_bytes);

  // Adds `w` as the newest; then deletes the oldest windows while the
  // spool holds more than max_bytes (a window larger than the bound alone
  // is not kept: it counts as dropped). `*dropped` gets the number deleted.
  absl::Status Add(const SpooledWindow& w, int* dropped);
  // The oldest window, read back. A file that cannot be read or parsed is
  // an error (the caller removes it and counts it dropped).
  absl::StatusOr<SpooledWindow> Oldest() const;
  void RemoveOldest();

  bool empty() const { return files_.empty(); }
  size_t size() const { return files_.size(); }
  int64_t bytes() const { return bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    std::string path;
    int64_t bytes;
  };
  Spool(std::string dir, int64_t max_bytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  std::string dir_;
  int64_t max_bytes_;
  int64_t bytes_ = 0;
  uint64_t next_ = 1;
  std::deque<Entry> files_;
};

// The file format, for the tests: "pystrobe-spool 1\n", then the target,
// the content type and the name each on its own line, then the body.
std::string EncodeSpooledWindow(const SpooledWindow& w);
absl::StatusOr<SpooledWindow> DecodeSpooledWindow(const std::string& bytes);

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_SPOOL_H_
