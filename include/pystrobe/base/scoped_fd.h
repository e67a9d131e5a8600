// Owners for OS resources.
//
// ScopedFd owns a file descriptor and closes it once; it is move-only, so an
// fd always has exactly one owner:
//
//   ScopedFd fd(open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) return StatusFromErrno(errno, path);
//   pread(fd.get(), ...);
#ifndef PYSTROBE_BASE_SCOPED_FD_H_
#define PYSTROBE_BASE_SCOPED_FD_H_

#include <unistd.h>

#include <utility>

namespace pystrobe {

template <typename T, T kInvalid, int (*kClose)(T)>
class ScopedResource {
 public:
  ScopedResource() = default;
  explicit ScopedResource(T value) : value_(value) {}
  ScopedResource(const ScopedResource&) = delete;
  ScopedResource& operator=(const ScopedResource&) = delete;
  ScopedResource(ScopedResource&& other) noexcept : value_(other.release()) {}
  ScopedResource& operator=(ScopedResource&& other) noexcept {
    if (this != &other) {
      reset(other.release());
    }
    return *this;
  }
  ~ScopedResource() { reset(); }

  T get() const { return value_; }
  explicit operator bool() const { return value_ != kInvalid; }

  // Closes the current value (if any) and takes ownership of `value`.
  void reset(T value = kInvalid) {
    if (value_ != kInvalid) {
      kClose(value_);
    }
    value_ = value;
  }
  // Gives up ownership without closing.
  T release() { return std::exchange(value_, kInvalid); }

 private:
  T value_ = kInvalid;
};

using ScopedFd = ScopedResource<int, -1, ::close>;

}  // namespace pystrobe

#endif  // PYSTROBE_BASE_SCOPED_FD_H_
