#include "pystrobe/process/process_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/scoped_fd.h"

namespace pystrobe {
namespace {

// The ppid field of /proc/PID/stat: after the command name, which is in
// parentheses and may itself hold spaces and parentheses, so the name ends
// at the last ')'.
pid_t ParentFromStat(const std::string& stat) {
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 4 >= stat.size()) return -1;
  // ") S PPID ..."
  const char* p = stat.c_str() + close + 2;
  while (*p != '\0' && *p != ' ') ++p;
  return static_cast<pid_t>(std::strtol(p, nullptr, 10));
}

// The whole small file at `path` ("" when it cannot be read).
std::string ReadSmallFile(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return "";
  std::string out;
  char buf[4096];
  for (int i = 0; i < 64; ++i) {  // a bound: 256 KiB of child pids
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

std::optional<std::vector<pid_t>> ReadChildren(const ProcFs& proc, pid_t pid) {
  const std::string task = proc.PidPath(pid) + "/task";
  DIR* dir = opendir(task.c_str());
  if (dir == nullptr) return std::vector<pid_t>{};
  std::vector<pid_t> out;
  bool any_file = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = absl::StrCat(task, "/", e->d_name, "/children");
    if (access(path.c_str(), F_OK) == 0) any_file = true;
    const std::string text = ReadSmallFile(path);
    const char* p = text.c_str();
    while (*p != '\0') {
      char* end = nullptr;
      const long child = std::strtol(p, &end, 10);
      if (end == p) break;
      if (child > 0) out.push_back(static_cast<pid_t>(child));
      p = end;
    }
  }
  closedir(dir);
  if (!any_file) {
    // No thread had the file: an old kernel, or a thread list that
    // vanished meanwhile (the process exited).
    if (access(task.c_str(), F_OK) != 0) return std::vector<pid_t>{};
    return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<ProcessIdentity> ReadIdentity(const ProcFs& proc, pid_t pid) {
  const std::string stat = ReadSmallFile(proc.PidPath(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) {
    return std::nullopt;
  }
  ProcessIdentity id;
  id.zombie = stat[close + 2] == 'Z' || stat[close + 2] == 'X';
  // Fields after ')': state is field 3, starttime field 22.
  const char* p = stat.c_str() + close + 2;
  for (int field = 3; field < 22 && *p != '\0'; ++field) {
    while (*p != '\0' && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  id.start_ticks = std::strtoull(p, nullptr, 10);
  return id;
}

std::vector<std::pair<pid_t, pid_t>> ReadParents(const ProcFs& proc) {
  std::vector<std::pair<pid_t, pid_t>> out;
  DIR* dir = opendir(proc.root().c_str());
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || end == nullptr || *end != '\0') continue;
    ScopedFd fd(open((proc.PidPath(static_cast<pid_t>(pid)) + "/stat").c_str(),
                     O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    char buf[512];
    const ssize_t n = read(fd.get(), buf, sizeof(buf) - 1);
    if (n <= 0) continue;
    const pid_t ppid = ParentFromStat(std::string(buf, static_cast<size_t>(n)));
    if (ppid >= 0) out.emplace_back(static_cast<pid_t>(pid), ppid);
  }
  closedir(dir);
  return out;
}

std::vector<pid_t> Descendants(const ProcFs& proc, pid_t root) {
  // From the tree's children files; without them (an old kernel, a fake
  // /proc tree) from every process's parent.
  std::vector<pid_t> found;
  std::vector<pid_t> level = {root};
  bool unsupported = false;
  // Depth and size bounds: /proc is read without a lock, so a reused pid
  // could in principle make a cycle.
  for (int depth = 0; depth < 64 && !level.empty() && !unsupported; ++depth) {
    std::vector<pid_t> next;
    for (pid_t p : level) {
      std::optional<std::vector<pid_t>> c = ReadChildren(proc, p);
      if (!c) {
        unsupported = true;
        break;
      }
      next.insert(next.end(), c->begin(), c->end());
    }
    std::sort(next.begin(), next.end());
    next.erase(std::remove(next.begin(), next.end(), root), next.end());
    found.insert(found.end(), next.begin(), next.end());
    if (found.size() > 100'000) break;
    level = std::move(next);
  }
  if (!unsupported) return found;
  absl::flat_hash_map<pid_t, std::vector<pid_t>> children;
  for (const auto& [pid, ppid] : ReadParents(proc))
    children[ppid].push_back(pid);
  std::vector<pid_t> out;
  std::vector<pid_t> generation = {root};
  // A depth bound: /proc is read without a lock, so a reused pid could in
  // principle make a cycle.
  for (int depth = 0; depth < 64 && !generation.empty(); ++depth) {
    std::vector<pid_t> next;
    for (pid_t p : generation) {
      auto it = children.find(p);
      if (it == children.end()) continue;
      next.insert(next.end(), it->second.begin(), it->second.end());
    }
    std::sort(next.begin(), next.end());
    next.erase(std::remove(next.begin(), next.end(), root), next.end());
    out.insert(out.end(), next.begin(), next.end());
    generation = std::move(next);
  }
  return out;
}

}  // namespace pystrobe
