// Helpers for tests that fork small child processes and inspect them.
//
// A ChildProcess is killed and reaped when it goes out of scope, so a failed
// assertion never leaves a process behind. Children talk to the test through
// a Pipe: they write what they know (their thread IDs, "ready") and the test
// compares it with what pystrobe reads.
//
//   Pipe ready = Pipe::Make();
//   ChildProcess child = ChildProcess::Spawn([&] {
//     ready.WriteValue(gettid());
//     pause();
//   });
//   pid_t tid;
//   ASSERT_TRUE(ready.ReadValue(&tid));
#ifndef PYSTROBE_TESTS_UNIT_PROCESS_CHILD_PROCESS_H_
#define PYSTROBE_TESTS_UNIT_PROCESS_CHILD_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <utility>

#include "pystrobe/base/scoped_fd.h"

namespace pystrobe::testing {

// A unidirectional pipe; both ends are inherited by a forked child.
struct Pipe {
  ScopedFd read_end;
  ScopedFd write_end;

  static Pipe Make() {
    int fds[2] = {-1, -1};
    if (pipe2(fds, O_CLOEXEC) != 0) abort();
    return Pipe{ScopedFd(fds[0]), ScopedFd(fds[1])};
  }

  bool WriteBytes(const void* data, size_t size) const {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = write(write_end.get(), p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  // Reads exactly `size` bytes; false on EOF or error. The test holds both
  // ends, so a child that died never causes EOF: give up after a minute of
  // silence instead of hanging the test.
  bool ReadBytes(void* data, size_t size) const {
    auto* p = static_cast<char*>(data);
    while (size > 0) {
      pollfd readable{read_end.get(), POLLIN, 0};
      const int ready = poll(&readable, 1, 60 * 1000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      const ssize_t n = read(read_end.get(), p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  template <typename T>
  bool WriteValue(const T& value) const {
    return WriteBytes(&value, sizeof(value));
  }
  template <typename T>
  bool ReadValue(T* value) const {
    return ReadBytes(value, sizeof(*value));
  }
};

class ChildProcess {
 public:
  // Forks; the child runs `body` and exits with status 0 (the body may call
  // _exit itself). The parent gets the child's pid.
  static ChildProcess Spawn(const std::function<void()>& body) {
    const pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
      body();
      _exit(0);
    }
    return ChildProcess(pid);
  }

  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)) {}
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess() { Kill(); }

  pid_t pid() const { return pid_; }

  // SIGKILLs and reaps the child; afterwards its pid no longer exists.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    Reap();
  }

  // Waits for the child to exit by itself; returns its wait status.
  int Reap() {
    int status = 0;
    while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

}  // namespace pystrobe::testing

#endif  // PYSTROBE_TESTS_UNIT_PROCESS_CHILD_PROCESS_H_
