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

}  // namespace

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
