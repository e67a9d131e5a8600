#include "pystrobe/process/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proc_files.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/scoped_fd.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/ptrace.h"

namespace pystrobe {
namespace {

absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// Parses a run of hex digits (no prefix). Returns false if `text` is empty,
// holds anything else, or overflows 64 bits.
bool ParseHex(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 16) {
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  *out = value;
  return true;
}

bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) {
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

// Splits off the next space-separated field of `*rest` (leading spaces are
// skipped). Empty if none is left.
std::string_view NextField(std::string_view* rest) {
  size_t begin = rest->find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    *rest = std::string_view();
    return std::string_view();
  }
  size_t end = rest->find(' ', begin);
  if (end == std::string_view::npos) {
    end = rest->size();
  }
  std::string_view field = rest->substr(begin, end - begin);
  rest->remove_prefix(end);
  return field;
}

absl::Status BadMapsLine(size_t line_number, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("maps line ", line_number, ": ", AbslView(why)));
}

absl::Status ParseMapsLine(std::string_view line, size_t line_number,
                           MemoryMapping* mapping) {
  std::string_view rest = line;
  const std::string_view range = NextField(&rest);
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos ||
      !ParseHex(range.substr(0, dash), &mapping->start) ||
      !ParseHex(range.substr(dash + 1), &mapping->end) ||
      mapping->end < mapping->start) {
    return BadMapsLine(line_number, "bad address range");
  }
  const std::string_view perms = NextField(&rest);
  if (perms.size() != 4) {
    return BadMapsLine(line_number, "bad permissions");
  }
  mapping->readable = perms[0] == 'r';
  mapping->writable = perms[1] == 'w';
  mapping->executable = perms[2] == 'x';
  mapping->shared = perms[3] == 's';
  if (!ParseHex(NextField(&rest), &mapping->offset)) {
    return BadMapsLine(line_number, "bad offset");
  }
  const std::string_view device = NextField(&rest);
  if (device.find(':') == std::string_view::npos) {
    return BadMapsLine(line_number, "bad device");
  }
  if (!ParseDecimal(NextField(&rest), &mapping->inode)) {
    return BadMapsLine(line_number, "bad inode");
  }
  // The kernel pads the inode column with spaces; everything after that
  // padding is the path, which may itself contain spaces.
  const size_t path_begin = rest.find_first_not_of(' ');
  std::string_view path = path_begin == std::string_view::npos
                              ? std::string_view()
                              : rest.substr(path_begin);
  constexpr std::string_view kDeleted = " (deleted)";
  mapping->deleted = path.size() > kDeleted.size() &&
                     path.substr(path.size() - kDeleted.size()) == kDeleted;
  if (mapping->deleted) {
    path.remove_suffix(kDeleted.size());
  }
  mapping->path.assign(path.data(), path.size());
  return absl::OkStatus();
}

bool IsAllDigits(const char* name) {
  if (*name == '\0') {
    return false;
  }
  for (; *name != '\0'; ++name) {
    if (*name < '0' || *name > '9') {
      return false;
    }
  }
  return true;
}

int CloseDir(DIR* dir) { return closedir(dir); }
using ScopedDir = ScopedResource<DIR*, nullptr, CloseDir>;

}  // namespace

absl::Status ProcFileStatus(int errno_value, pid_t pid, std::string_view path) {
  switch (errno_value) {
    case ENOENT:
    case ESRCH:
      return ProcessGoneError(
          absl::StrCat("no process with PID ", pid, " (", AbslView(path), ")"));
    case EACCES:
    case EPERM:
      return NoPermissionError(PermissionAdvice(pid));
    default:
      return StatusFromErrno(errno_value, path);
  }
}

absl::StatusOr<std::string> ReadProcFile(const std::string& path, pid_t pid) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return ProcFileStatus(errno, pid, path);
  }
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ProcFileStatus(errno, pid, path);
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

absl::StatusOr<std::vector<MemoryMapping>> ParseMaps(std::string_view text) {
  std::vector<MemoryMapping> mappings;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty()) {
      continue;
    }
    MemoryMapping mapping;
    PYSTROBE_RETURN_IF_ERROR(ParseMapsLine(line, line_number, &mapping));
    mappings.push_back(std::move(mapping));
  }
  return mappings;
}

absl::StatusOr<SchedStat> ParseSchedstat(std::string_view text) {
  uint64_t values[3];
  for (uint64_t& value : values) {
    const size_t begin = text.find_first_not_of(" \n");
    if (begin == std::string_view::npos) {
      return absl::InvalidArgumentError("schedstat has fewer than 3 fields");
    }
    text.remove_prefix(begin);
    const size_t end = std::min(text.find_first_of(" \n"), text.size());
    if (!absl::SimpleAtoi(absl::string_view(text.data(), end), &value)) {
      return absl::InvalidArgumentError("schedstat field is not a number");
    }
    text.remove_prefix(end);
  }
  return SchedStat{values[0], values[1], values[2]};
}

absl::StatusOr<SyscallState> ParseSyscall(std::string_view text) {
  SyscallState state;
  // Read on every tick for each sleeping thread: no allocation.
  std::string_view words[9];
  size_t count = 0;
  while (true) {
    const size_t begin = text.find_first_not_of(" \n");
    if (begin == std::string_view::npos) break;
    text.remove_prefix(begin);
    const size_t end = std::min(text.find_first_of(" \n"), text.size());
    if (count == 9) return absl::InvalidArgumentError("syscall: too long");
    words[count++] = text.substr(0, end);
    text.remove_prefix(end);
  }
  if (count == 1 && words[0] == "running") {
    state.running = true;
    return state;
  }
  auto view = [](std::string_view w) {
    return absl::string_view(w.data(), w.size());
  };
  // The number is decimal, the rest "0x..." ("0 0 0": the kernel could not
  // read the registers).
  auto hex = [&](std::string_view word, uint64_t* out) {
    if (word.size() > 2 && word[0] == '0' && word[1] == 'x') {
      word.remove_prefix(2);
    }
    return absl::SimpleHexAtoi(view(word), out);
  };
  const bool unknown =
      count == 3 && words[0] == "0" && words[1] == "0" && words[2] == "0";
  if ((count != 3 && count != 9) ||
      !absl::SimpleAtoi(view(words[0]), &state.number) ||
      (count == 9 && state.number < 0) ||
      (count == 3 && state.number >= 0 && !unknown)) {
    return absl::InvalidArgumentError("syscall: not NR [ARG1..ARG6] SP PC");
  }
  if (unknown) state.number = -1;
  for (size_t i = 1; i + 2 < count; ++i) {
    if (!hex(words[i], &state.args[i - 1])) {
      return absl::InvalidArgumentError("syscall: an argument is not hex");
    }
  }
  if (!hex(words[count - 2], &state.sp) || !hex(words[count - 1], &state.pc)) {
    return absl::InvalidArgumentError("syscall: SP or PC is not hex");
  }
  return state;
}

absl::StatusOr<ThreadInfo> ParseStat(std::string_view text) {
  // "TID (COMM) S ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime ...": COMM is whatever the program set, so only the
  // first '(' and the last ')' delimit it.
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos ||
      close < open) {
    return absl::InvalidArgumentError("stat: no command name in parentheses");
  }
  ThreadInfo info;
  std::string_view pid_text = text.substr(0, open);
  while (!pid_text.empty() && pid_text.back() == ' ') {
    pid_text.remove_suffix(1);
  }
  uint64_t tid = 0;
  if (!ParseDecimal(pid_text, &tid) || tid > INT_MAX) {
    return absl::InvalidArgumentError("stat: bad pid");
  }
  info.tid = static_cast<pid_t>(tid);
  const std::string_view comm = text.substr(open + 1, close - open - 1);
  info.name.assign(comm.data(), comm.size());

  std::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') {
    rest.remove_suffix(1);
  }
  // Field 3 is the state; utime and stime are fields 14 and 15.
  uint64_t utime = 0;
  uint64_t stime = 0;
  for (int field = 3; field <= 15; ++field) {
    const std::string_view value = NextField(&rest);
    if (value.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stat: missing field ", field));
    }
    if (field == 3) {
      if (value.size() != 1) {
        return absl::InvalidArgumentError("stat: bad state");
      }
      info.state = value[0];
    } else if (field == 14 || field == 15) {
      if (!ParseDecimal(value, field == 14 ? &utime : &stime)) {
        return absl::InvalidArgumentError(
            absl::StrCat("stat: bad field ", field));
      }
    }
  }
  info.cpu_ticks = utime + stime;
  return info;
}

std::optional<int> ParseExitStatus(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  // Field 3 is the state; the exit code is field 52, the last one.
  std::string_view value;
  for (int field = 3; field <= 52; ++field) {
    value = NextField(&rest);
    if (value.empty()) return std::nullopt;
    if (field == 3 && value != "Z" && value != "X") return std::nullopt;
  }
  uint64_t status = 0;
  if (!ParseDecimal(value, &status) || status > 0xffff) return std::nullopt;
  return static_cast<int>(status);
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    const char* name = sigabbrev_np(sig);
    return name != nullptr
               ? absl::StrCat("killed by signal ", sig, " (SIG", name, ")")
               : absl::StrCat("killed by signal ", sig);
  }
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exit status ", WEXITSTATUS(wait_status));
  }
  return absl::StrCat("wait status ", wait_status);
}

std::optional<int> ProcFs::ExitStatus(pid_t pid) const {
  absl::StatusOr<std::string> text =
      ReadProcFile(absl::StrCat(PidPath(pid), "/stat"), pid);
  if (!text.ok()) return std::nullopt;
  return ParseExitStatus(*text);
}

std::string ProcFs::PidPath(pid_t pid) const {
  return absl::StrCat(root_, "/", pid);
}

absl::Status ProcFs::CheckExists(pid_t pid) const {
  if (pid <= 0) {
    return ProcessGoneError(absl::StrCat("no process with PID ", pid));
  }
  struct stat st;
  if (stat(PidPath(pid).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ESRCH) {
      return ProcessGoneError(absl::StrCat("no process with PID ", pid));
    }
    return StatusFromErrno(errno, PidPath(pid));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ProcFs::ExePath(pid_t pid) const {
  PYSTROBE_RETURN_IF_ERROR(CheckExists(pid));
  const std::string link = PidPath(pid) + "/exe";
  char buffer[PATH_MAX + 1];
  const ssize_t n = readlink(link.c_str(), buffer, sizeof(buffer));
  if (n < 0) {
    if (errno == ENOENT) {
      // The process exists but has no executable: a kernel thread, or a
      // zombie whose mm is gone.
      PYSTROBE_RETURN_IF_ERROR(CheckExists(pid));
      return absl::NotFoundError(
          absl::StrCat("process ", pid, " has no executable"));
    }
    return ProcFileStatus(errno, pid, link);
  }
  if (static_cast<size_t>(n) >= sizeof(buffer)) {
    return absl::OutOfRangeError(absl::StrCat(link, ": target too long"));
  }
  return std::string(buffer, static_cast<size_t>(n));
}

absl::StatusOr<std::string> ProcFs::CommandLine(pid_t pid) const {
  PYSTROBE_ASSIGN_OR_RETURN(std::string raw,
                            ReadProcFile(PidPath(pid) + "/cmdline", pid));
  // Arguments are NUL-terminated; a program that rewrote its argv may leave
  // trailing NULs or none at all.
  while (!raw.empty() && raw.back() == '\0') {
    raw.pop_back();
  }
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  return raw;
}

absl::StatusOr<std::vector<MemoryMapping>> ProcFs::ReadMaps(pid_t pid) const {
  PYSTROBE_ASSIGN_OR_RETURN(std::string text,
                            ReadProcFile(PidPath(pid) + "/maps", pid));
  return ParseMaps(text);
}

absl::StatusOr<ThreadInfo> ProcFs::ReadThread(pid_t pid, pid_t tid) const {
  const std::string task = absl::StrCat(PidPath(pid), "/task/", tid);
  PYSTROBE_ASSIGN_OR_RETURN(std::string stat,
                            ReadProcFile(task + "/stat", pid));
  PYSTROBE_ASSIGN_OR_RETURN(std::string comm,
                            ReadProcFile(task + "/comm", pid));
  PYSTROBE_ASSIGN_OR_RETURN(ThreadInfo info, ParseStat(stat));
  if (!comm.empty() && comm.back() == '\n') {
    comm.pop_back();
  }
  // comm and the name in stat are the same kernel field; the comm file is
  // preferred because it needs no parsing around parentheses.
  info.name = std::move(comm);
  info.tid = tid;
  return info;
}

absl::StatusOr<std::vector<pid_t>> ListTaskIds(const std::string& task_dir,
                                               pid_t pid) {
  ScopedDir dir(opendir(task_dir.c_str()));
  if (!dir) {
    return ProcFileStatus(errno, pid, task_dir);
  }
  std::vector<pid_t> tids;
  while (true) {
    errno = 0;
    const dirent* entry = readdir(dir.get());
    if (entry == nullptr) {
      // readdir fails with ENOENT/ESRCH when the process exits mid-listing.
      if (errno != 0) {
        return ProcFileStatus(errno, pid, task_dir);
      }
      break;
    }
    if (!IsAllDigits(entry->d_name)) {
      continue;
    }
    tids.push_back(static_cast<pid_t>(atoi(entry->d_name)));
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

absl::StatusOr<std::vector<ThreadInfo>> ProcFs::ListThreads(pid_t pid) const {
  PYSTROBE_RETURN_IF_ERROR(CheckExists(pid));
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<pid_t> tids,
                            ListTaskIds(PidPath(pid) + "/task", pid));
  std::vector<ThreadInfo> threads;
  threads.reserve(tids.size());
  for (pid_t tid : tids) {
    absl::StatusOr<ThreadInfo> info = ReadThread(pid, tid);
    if (info.ok()) {
      threads.push_back(*std::move(info));
    } else if (!IsProcessGone(info.status())) {
      return info.status();
    }
  }
  // Every thread vanishing means the process itself did.
  if (threads.empty()) {
    PYSTROBE_RETURN_IF_ERROR(CheckExists(pid));
  }
  return threads;
}

std::string ProcFs::InTargetRoot(pid_t pid, std::string_view path) const {
  std::string result = PidPath(pid) + "/root";
  if (path.empty() || path.front() != '/') {
    result.push_back('/');
  }
  result.append(path.data(), path.size());
  return result;
}

}  // namespace pystrobe
