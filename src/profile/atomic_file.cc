// Atomic file replacement: write a temp file beside the target, fsync it,
// rename it over the target, fsync the folder so the rename itself survives
// a crash.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

absl::Status ErrnoError(int err, std::string_view what,
                        const std::string& path) {
  return absl::ErrnoToStatus(
      err,
      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, std::string_view contents,
                      const std::string& temp) {
  while (!contents.empty()) {
    const ssize_t n = write(fd, contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoError(errno, "cannot write", temp);
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view contents) {
  if (path.empty() || path.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("not a file path: '", path, "'"));
  }
  std::string temp = absl::StrCat(path, ".tmp.XXXXXX");
  ScopedFd fd(mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) {
    return ErrnoError(errno, "cannot create a temp file for", path);
  }

  absl::Status status = WriteAll(fd.get(), contents, temp);
  // mkostemp creates 0600; profiles are meant to be shared like any output.
  if (status.ok() && fchmod(fd.get(), 0644) != 0) {
    status = ErrnoError(errno, "cannot chmod", temp);
  }
  if (status.ok() && fsync(fd.get()) != 0) {
    status = ErrnoError(errno, "cannot fsync", temp);
  }
  // close() can report a deferred write error (NFS): check it.
  if (status.ok() && close(fd.release()) != 0) {
    status = ErrnoError(errno, "cannot close", temp);
  }
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, "cannot rename a temp file to", path);
  }
  if (!status.ok()) {
    fd.reset();
    unlink(temp.c_str());
    return status;
  }
  ScopedFd dir(
      open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) {
    return ErrnoError(errno, "cannot open the folder of", path);
  }
  if (fsync(dir.get()) != 0) {
    return ErrnoError(errno, "cannot fsync the folder of", path);
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
