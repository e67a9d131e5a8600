#include "pystrobe/process/ptrace.h"

#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "proc_files.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/process/capabilities.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {
namespace {

struct Tracee {
  pid_t tid;
  int signal;  // to re-inject on detach, 0 if none
};

// kernel.yama.ptrace_scope, or -1 if Yama is not active.
int YamaPtraceScope() {
  absl::StatusOr<std::string> text =
      ReadProcFile("/proc/sys/kernel/yama/ptrace_scope", 0);
  int scope = -1;
  if (!text.ok() ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &scope)) {
    return -1;
  }
  return scope;
}

// TracerPid from the thread's status file, 0 if untraced or unknown.
pid_t TracerOf(pid_t pid, pid_t tid) {
  absl::StatusOr<std::string> status =
      ReadProcFile(absl::StrCat("/proc/", pid, "/task/", tid, "/status"), pid);
  if (!status.ok()) {
    return 0;
  }
  constexpr absl::string_view kKey = "\nTracerPid:";
  const size_t at = status->find(kKey.data(), 0, kKey.size());
  if (at == std::string::npos) {
    return 0;
  }
  const size_t begin = at + kKey.size();
  const size_t end = status->find('\n', begin);
  int tracer = 0;
  if (!absl::SimpleAtoi(
          absl::StripAsciiWhitespace(absl::string_view(*status).substr(
              begin,
              end == std::string::npos ? std::string::npos : end - begin)),
          &tracer)) {
    return 0;
  }
  return tracer;
}

// The signal to deliver on PTRACE_DETACH travels in ptrace's `data` pointer.
void* SignalData(int signal) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  return reinterpret_cast<void*>(static_cast<intptr_t>(signal));
}

// How many times the thread has been scheduled onto a CPU (the third field
// of schedstat), or nullopt if that cannot be read.
std::optional<uint64_t> RunCount(pid_t pid, pid_t tid) {
  absl::StatusOr<std::string> text = ReadProcFile(
      absl::StrCat("/proc/", pid, "/task/", tid, "/schedstat"), pid);
  if (!text.ok()) return std::nullopt;
  absl::StatusOr<SchedStat> parsed = ParseSchedstat(*text);
  if (!parsed.ok()) return std::nullopt;
  return parsed->run_count;
}

void SleepBriefly() {
  timespec delay{0, 1000L * 1000L};  // 1 ms
  nanosleep(&delay, nullptr);
}

// Detaches from every tracee, handing back held signals. A tracee that was
// killed while stopped cannot be detached (ESRCH); it has become a zombie
// that only its tracer may collect, and its whole process cannot finish
// exiting until we do, so reap those (bounded: a thread group leader is
// only reapable after the other threads).
void DetachAll(const std::vector<pid_t>& tids,
               const std::vector<int>& signals) {
  std::vector<pid_t> dead;
  for (size_t i = 0; i < tids.size(); ++i) {
    const int signal = i < signals.size() ? signals[i] : 0;
    if (ptrace(PTRACE_DETACH, tids[i], nullptr, SignalData(signal)) != 0) {
      dead.push_back(tids[i]);
    }
  }
  for (int round = 0; round < 100 && !dead.empty(); ++round) {
    if (round > 0) {
      SleepBriefly();
    }
    for (size_t i = 0; i < dead.size();) {
      int status = 0;
      const pid_t reaped = waitpid(dead[i], &status, __WALL | WNOHANG);
      if (reaped == dead[i] && WIFSTOPPED(status)) {
        // Not dead after all (it had not stopped yet when we detached).
        ptrace(PTRACE_DETACH, dead[i], nullptr, SignalData(0));
      }
      if (reaped == dead[i] || (reaped < 0 && errno == ECHILD)) {
        dead.erase(dead.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
}

void DetachAll(const std::vector<Tracee>& tracees) {
  std::vector<pid_t> tids;
  std::vector<int> signals;
  for (const Tracee& t : tracees) {
    tids.push_back(t.tid);
    signals.push_back(t.signal);
  }
  DetachAll(tids, signals);
}

// Seizes and stops one thread. Returns true with `*signal` set once it is
// stopped, false if it exited meanwhile.
absl::StatusOr<bool> SeizeAndStop(const ProcFs& proc, pid_t pid, pid_t tid,
                                  int* signal) {
  *signal = 0;
  if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
    const int error = errno;
    if (error == ESRCH) {
      return false;
    }
    if (error != EPERM) {
      return StatusFromErrno(
          error, absl::StrCat("PTRACE_SEIZE of thread ", tid, " of ", pid));
    }
    // The kernel also refuses (EPERM) exited threads still listed as
    // zombies and threads that already have a tracer.
    absl::StatusOr<ThreadInfo> info = proc.ReadThread(pid, tid);
    if (!info.ok() && IsProcessGone(info.status())) {
      return false;
    }
    if (info.ok() && (info->state == 'Z' || info->state == 'X')) {
      return false;
    }
    const pid_t tracer = TracerOf(pid, tid);
    if (tracer != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "thread ", tid, " of process ", pid, " is already traced by PID ",
          tracer, " (a debugger or another profiler?)"));
    }
    return NoPermissionError(PermissionAdvice(pid));
  }
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 && errno != ESRCH) {
    const int error = errno;
    DetachAll({Tracee{tid, 0}});
    return StatusFromErrno(
        error, absl::StrCat("PTRACE_INTERRUPT of thread ", tid, " of ", pid));
  }
  while (true) {
    int status = 0;
    if (waitpid(tid, &status, __WALL) < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == ECHILD) {
        return false;  // exited and already released
      }
      const int error = errno;
      DetachAll({Tracee{tid, 0}});
      return StatusFromErrno(error, absl::StrCat("waitpid of thread ", tid));
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      return false;
    }
    if (!WIFSTOPPED(status)) {
      continue;
    }
    // status >> 16 is the ptrace event: PTRACE_EVENT_STOP for our interrupt
    // (or a group-stop), 0 for a signal-delivery-stop. In the latter the
    // thread is stopped too, and the signal it was about to receive is
    // suppressed unless we hand it back on detach.
    if ((status >> 16) == 0) {
      *signal = WSTOPSIG(status);
    }
    return true;
  }
}

}  // namespace

absl::StatusOr<PtraceSuspension> PtraceSuspension::Suspend(
    pid_t pid, const SuspendOptions& options) {
  ProcFs proc;
  if (pid <= 0 || !proc.CheckExists(pid).ok()) {
    return ProcessGoneError(absl::StrCat("no process with PID ", pid));
  }
  if (pid == getpid()) {
    return absl::InvalidArgumentError("pystrobe cannot suspend itself");
  }
  const std::string task_dir = proc.PidPath(pid) + "/task";
  std::vector<Tracee> stopped;
  std::vector<Sleeper> sleepers;
  std::set<pid_t> seen;
  // A thread we have not stopped yet may start new ones: list again until a
  // listing shows no thread we have not seen.
  bool new_threads = true;
  while (new_threads) {
    new_threads = false;
    absl::StatusOr<std::vector<pid_t>> tids = ListTaskIds(task_dir, pid);
    if (!tids.ok()) {
      DetachAll(stopped);
      if (IsProcessGone(tids.status())) {
        return ProcessGoneError(absl::StrCat("no process with PID ", pid));
      }
      return tids.status();
    }
    for (pid_t tid : *tids) {
      if (!seen.insert(tid).second) {
        continue;
      }
      new_threads = true;
      if (options.leave_sleepers) {
        // The count first: if it is unchanged later, the thread has not
        // been on a CPU since, so it slept from the state read on.
        std::optional<uint64_t> runs = RunCount(pid, tid);
        absl::StatusOr<ThreadInfo> info = proc.ReadThread(pid, tid);
        if (runs && info.ok() && (info->state == 'S' || info->state == 'D')) {
          sleepers.push_back(Sleeper{tid, *runs});
          continue;
        }
      }
      int signal = 0;
      absl::StatusOr<bool> is_stopped = SeizeAndStop(proc, pid, tid, &signal);
      if (!is_stopped.ok()) {
        DetachAll(stopped);
        return is_stopped.status();
      }
      if (*is_stopped) {
        stopped.push_back(Tracee{tid, signal});
      }
    }
  }
  if (stopped.empty() && sleepers.empty()) {
    return ProcessGoneError(absl::StrCat("process ", pid, " has exited"));
  }
  std::sort(sleepers.begin(), sleepers.end(),
            [](const Sleeper& a, const Sleeper& b) { return a.tid < b.tid; });
  std::sort(stopped.begin(), stopped.end(),
            [](const Tracee& a, const Tracee& b) { return a.tid < b.tid; });
  std::vector<pid_t> tids;
  std::vector<int> signals;
  tids.reserve(stopped.size());
  signals.reserve(stopped.size());
  for (const Tracee& t : stopped) {
    tids.push_back(t.tid);
    signals.push_back(t.signal);
  }
  return PtraceSuspension(pid, std::move(tids), std::move(signals),
                          std::move(sleepers));
}

PtraceSuspension::PtraceSuspension(PtraceSuspension&& other) noexcept
    : pid_(other.pid_),
      tids_(std::move(other.tids_)),
      signals_(std::move(other.signals_)),
      sleepers_(std::move(other.sleepers_)) {
  other.tids_.clear();
  other.signals_.clear();
  other.sleepers_.clear();
}

PtraceSuspension& PtraceSuspension::operator=(
    PtraceSuspension&& other) noexcept {
  if (this != &other) {
    Resume();
    pid_ = other.pid_;
    tids_ = std::move(other.tids_);
    signals_ = std::move(other.signals_);
    sleepers_ = std::move(other.sleepers_);
    other.tids_.clear();
    other.signals_.clear();
    other.sleepers_.clear();
  }
  return *this;
}

PtraceSuspension::~PtraceSuspension() { Resume(); }

std::vector<pid_t> PtraceSuspension::sleepers() const {
  std::vector<pid_t> tids;
  tids.reserve(sleepers_.size());
  for (const Sleeper& s : sleepers_) tids.push_back(s.tid);
  return tids;
}

const PtraceSuspension::Sleeper* PtraceSuspension::FindSleeper(
    pid_t tid) const {
  auto s =
      std::lower_bound(sleepers_.begin(), sleepers_.end(), tid,
                       [](const Sleeper& a, pid_t b) { return a.tid < b; });
  return s != sleepers_.end() && s->tid == tid ? &*s : nullptr;
}

std::vector<pid_t> PtraceSuspension::SleepersThatRan() const {
  std::vector<pid_t> ran;
  for (const Sleeper& s : sleepers_) {
    std::optional<uint64_t> runs = RunCount(pid_, s.tid);
    if (!runs || *runs != s.run_count) ran.push_back(s.tid);
  }
  return ran;
}

void PtraceSuspension::Resume() {
  if (tids_.empty()) {
    return;
  }
  DetachAll(tids_, signals_);
  tids_.clear();
  signals_.clear();
}

std::string PermissionAdvice(pid_t pid) {
  std::string owner;
  struct stat st;
  if (stat(absl::StrCat("/proc/", pid).c_str(), &st) == 0) {
    owner = absl::StrCat(" (owned by uid ", st.st_uid, ")");
  }
  const int scope = YamaPtraceScope();
  if (geteuid() == 0) {
    // "run pystrobe as root" would not help.
    return absl::StrCat("cannot read process ", pid, owner,
                        ": the kernel refused, although pystrobe runs as "
                        "root: ",
                        ExplainRootRefusal(ReadRootRefusal(pid)));
  }
  std::string advice =
      absl::StrCat("cannot read process ", pid, owner, ": permission denied; ");
  constexpr absl::string_view kSetcap =
      "(sudo setcap cap_sys_ptrace+ep $(which pystrobe))";
  if (scope >= 3) {
    absl::StrAppend(&advice, "kernel.yama.ptrace_scope is ", scope,
                    ", which forbids all tracing until the next reboot");
  } else if (scope >= 1) {
    absl::StrAppend(&advice,
                    "run pystrobe as root or as the process owner with "
                    "CAP_SYS_PTRACE ",
                    kSetcap,
                    ", or allow tracing with 'sysctl "
                    "kernel.yama.ptrace_scope=0' (now ",
                    scope, ")");
  } else {
    absl::StrAppend(&advice,
                    "run pystrobe as root or as the process owner, or grant "
                    "it CAP_SYS_PTRACE ",
                    kSetcap);
  }
  return advice;
}

}  // namespace pystrobe
