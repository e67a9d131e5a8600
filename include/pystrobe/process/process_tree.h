// The process tree below a process: what a launcher (a shell script, `env`,
// `make`) started, read from /proc/*/stat.
//
//   ProcFs proc;
//   for (pid_t p : Descendants(proc, launcher_pid)) ...
#ifndef PYSTROBE_PROCESS_PROCESS_TREE_H_
#define PYSTROBE_PROCESS_PROCESS_TREE_H_

#include <sys/types.h>

#include <vector>

#include "pystrobe/process/proc_fs.h"

namespace pystrobe {

// The parent of each process under `proc`'s root, as (pid, ppid) pairs.
// Processes that exit while the folder is read are skipped.
std::vector<std::pair<pid_t, pid_t>> ReadParents(const ProcFs& proc);

// Every descendant of `root` (children first, then theirs: breadth first,
// by pid within a generation), not including `root`.
std::vector<pid_t> Descendants(const ProcFs& proc, pid_t root);

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_PROCESS_TREE_H_
