#include "pystrobe/process/thread_monitor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {
namespace {

// Reads a small procfs file from offset 0 into `buf`; returns its length.
absl::StatusOr<size_t> Pread(int fd, char* buf, size_t size, pid_t tid) {
  ssize_t n = pread(fd, buf, size - 1, 0);
  if (n < 0) {
    // A thread that exited makes its open files fail with ESRCH.
    if (errno == ESRCH || errno == ENOENT) {
      return ProcessGoneError(absl::StrCat("thread ", tid, " exited"));
    }
    return StatusFromErrno(errno, absl::StrCat("reading thread ", tid));
  }
  if (n == 0) {
    return ProcessGoneError(absl::StrCat("thread ", tid, " exited"));
  }
  buf[n] = '\0';
  return static_cast<size_t>(n);
}

}  // namespace

absl::StatusOr<ThreadMonitor::Files*> ThreadMonitor::Open(pid_t tid) {
  auto it = threads_.find(tid);
  if (it != threads_.end()) {
    it->second.used = true;
    return &it->second;
  }
  const std::string dir = absl::StrCat(proc_root_, "/", pid_, "/task/", tid);
  Files files;
  files.stat.reset(open((dir + "/stat").c_str(), O_RDONLY | O_CLOEXEC));
  if (!files.stat) {
    if (errno == ENOENT) {
      return ProcessGoneError(absl::StrCat("thread ", tid, " exited"));
    }
    return StatusFromErrno(errno, dir + "/stat");
  }
  // schedstat is missing on kernels without CONFIG_SCHED_INFO; stat's
  // clock ticks are the fallback.
  files.schedstat.reset(
      open((dir + "/schedstat").c_str(), O_RDONLY | O_CLOEXEC));
  char buf[64];
  int comm = open((dir + "/comm").c_str(), O_RDONLY | O_CLOEXEC);
  if (comm >= 0) {
    ssize_t n = read(comm, buf, sizeof(buf) - 1);
    close(comm);
    if (n > 0) {
      files.name.assign(buf, static_cast<size_t>(n));
      while (!files.name.empty() && files.name.back() == '\n') {
        files.name.pop_back();
      }
    }
  }
  files.used = true;
  return &(threads_[tid] = std::move(files));
}

absl::StatusOr<ThreadInfo> ThreadMonitor::ReadStat(Files& files, pid_t tid) {
  char buf[1024];
  PYSTROBE_ASSIGN_OR_RETURN(size_t n,
                            Pread(files.stat.get(), buf, sizeof(buf), tid));
  return ParseStat(std::string_view(buf, n));
}

absl::StatusOr<char> ThreadMonitor::ReadState(pid_t tid) {
  PYSTROBE_ASSIGN_OR_RETURN(Files * files, Open(tid));
  PYSTROBE_ASSIGN_OR_RETURN(ThreadInfo info, ReadStat(*files, tid));
  return info.state;
}

absl::StatusOr<ThreadSnapshot> ThreadMonitor::ReadAccounting(pid_t tid) {
  PYSTROBE_ASSIGN_OR_RETURN(Files * files, Open(tid));
  ThreadSnapshot snapshot;
  if (files->schedstat) {
    char buf[128];
    PYSTROBE_ASSIGN_OR_RETURN(
        size_t n, Pread(files->schedstat.get(), buf, sizeof(buf), tid));
    PYSTROBE_ASSIGN_OR_RETURN(SchedStat stat,
                              ParseSchedstat(std::string_view(buf, n)));
    snapshot.cpu_ns = stat.cpu_ns;
    snapshot.run_count = stat.run_count;
    snapshot.wait_ns = stat.wait_ns;
    snapshot.has_run_count = true;
    return snapshot;
  }
  PYSTROBE_ASSIGN_OR_RETURN(ThreadInfo info, ReadStat(*files, tid));
  static const long kTicksPerSecond = sysconf(_SC_CLK_TCK);
  snapshot.cpu_ns = info.cpu_ticks *
                    (1'000'000'000ull / static_cast<uint64_t>(kTicksPerSecond));
  return snapshot;
}

absl::StatusOr<uint64_t> ThreadMonitor::ReadCpu(pid_t tid) {
  PYSTROBE_ASSIGN_OR_RETURN(ThreadSnapshot snapshot, ReadAccounting(tid));
  return snapshot.cpu_ns;
}

absl::StatusOr<ThreadSnapshot> ThreadMonitor::Read(pid_t tid) {
  PYSTROBE_ASSIGN_OR_RETURN(char state, ReadState(tid));
  PYSTROBE_ASSIGN_OR_RETURN(ThreadSnapshot snapshot, ReadAccounting(tid));
  snapshot.state = state;
  return snapshot;
}

absl::StatusOr<SyscallState> ThreadMonitor::ReadSyscall(pid_t tid) {
  PYSTROBE_ASSIGN_OR_RETURN(Files * files, Open(tid));
  if (!files->syscall) {
    const std::string path =
        absl::StrCat(proc_root_, "/", pid_, "/task/", tid, "/syscall");
    files->syscall.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!files->syscall) {
      if (errno == ENOENT) {
        return ProcessGoneError(absl::StrCat("thread ", tid, " exited"));
      }
      return StatusFromErrno(errno, path);
    }
  }
  char buf[256];
  PYSTROBE_ASSIGN_OR_RETURN(size_t n,
                            Pread(files->syscall.get(), buf, sizeof(buf), tid));
  return ParseSyscall(std::string_view(buf, n));
}

const std::string& ThreadMonitor::Name(pid_t tid) {
  static const std::string kUnknown;
  absl::StatusOr<Files*> files = Open(tid);
  return files.ok() ? (*files)->name : kUnknown;
}

void ThreadMonitor::ForgetUnused() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (!it->second.used) {
      threads_.erase(it++);
    } else {
      it->second.used = false;
      ++it;
    }
  }
}

}  // namespace pystrobe
