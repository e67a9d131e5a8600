// The process tree below a process: what a launcher (a shell script, `env`,
// `make`) started, or a server's workers. Read from the tree's own
// /proc/PID/task/TID/children files where the kernel has them
// (CONFIG_PROC_CHILDREN), so that a scan costs a few reads per process of
// the tree, not one per process of the machine; else from /proc/*/stat.
//
//   ProcFs proc;
//   for (pid_t p : Descendants(proc, launcher_pid)) ...
#ifndef PYSTROBE_PROCESS_PROCESS_TREE_H_
#define PYSTROBE_PROCESS_PROCESS_TREE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

// The parent of each process under `proc`'s root, as (pid, ppid) pairs.
// Processes that exit while the folder is read are skipped.
std::vector<std::pair<pid_t, pid_t>> ReadParents(const ProcFs& proc);

// The children of `pid`: the union of /proc/PID/task/*/children (a child is
// listed under the thread that forked it). Empty when the process is gone;
// nullopt when the kernel does not have these files.
std::optional<std::vector<pid_t>> ReadChildren(const ProcFs& proc, pid_t pid);

// When the process started (field 22 of /proc/PID/stat, in clock ticks
// since boot), and whether it is a zombie: with the pid, what tells a
// process from a later one that reuses its pid. nullopt when gone.
struct ProcessIdentity {
  uint64_t start_ticks = 0;
  bool zombie = false;
};
std::optional<ProcessIdentity> ReadIdentity(const ProcFs& proc, pid_t pid);

// Every descendant of `root` (children first, then theirs: breadth first,
// by pid within a generation), not including `root`.
std::vector<pid_t> Descendants(const ProcFs& proc, pid_t root);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PROCESS_TREE_H_
