// The CPython interpreters the integration tests run their workloads on.
//
// Found at test time, so that every installed interpreter is tested:
//   ~/.pyenv/versions/*/bin/python[23].*   (pyenv builds)
//   /usr/bin/python3.[0-9]*                (the distribution's, incl. debug)
//   $PYSTROBE_PYTHONS                      (colon-separated extra paths, for
//                                           CI machines where HOME differs)
//   the Debian forky root of scripts/install-deps.sh ($PYSTROBE_FORKY_ROOT,
//   ~/.cache/pystrobe/forky-root): /usr/bin/python3.13, python3.14[d],
//   python3.15[d] and /usr/local/bin/python3.14-pie, run chrooted there
//   (pystrobe attaches from outside and reads them through /proc/PID/root)
//   the free-threaded 3.13t ($PYSTROBE_PY313T, ~/.cache/pystrobe/cpython-3.13t)
// keeping ELF executables only (no -config scripts) and each binary once
// (by realpath and inode: python3.6 and python3.6m are hard links).
#ifndef PYSTROBE_TESTS_INTEGRATION_INTERPRETERS_H_
#define PYSTROBE_TESTS_INTEGRATION_INTERPRETERS_H_

#include <ostream>
#include <string>
#include <vector>

namespace pystrobe::integration {

struct Interpreter {
  std::string name;  // a GoogleTest-safe name: Py3_12_1, Debian3_11d, ...
  std::string path;  // as the target sees it (inside `root` when chrooted)
  int major = 0;     // from the file name; 0 when it does not say
  int minor = 0;
  // The root file system the target runs chrooted in; empty: the machine's.
  std::string root;

  bool chrooted() const { return !root.empty(); }
  // The command that runs this interpreter with `args`. A chrooted one runs
  // in a private mount namespace with its own /proc mounted in the root
  // (unshare --mount; chroot), so nothing stays mounted after it exits, and
  // keeps the PID of the command (every step execs).
  std::vector<std::string> Command(const std::vector<std::string>& args) const;
  // `host_path`, a path under `root`, as the target sees it.
  std::string TargetPath(const std::string& host_path) const;
  // Where the target can write and read files: `root`/tmp, or "" for the
  // default temporary folder (pass to ScopedTempDir).
  std::string TempParent() const;
};

// The forky root and the 3.13t prefix the tests look for, and whether each
// is set up (its stamp file written by scripts/install-deps.sh).
std::string ForkyRoot();
std::string Py313tPrefix();
bool ForkyRootReady();
bool Py313tReady();

// The workload `name` (tests/workloads/NAME) where `py` can run it: the
// source tree's copy, or one copied into `dir` (a folder under the root) for
// a chrooted interpreter. Returns the path as the target sees it, or "" if
// the copy failed.
std::string StageWorkload(const Interpreter& py, const std::string& dir,
                          const std::string& name);

std::vector<Interpreter> FindInterpreters();

// The newest Python 3 found that runs on the machine's own root (preferring
// non-debug builds), or nullptr.
const Interpreter* NewestInterpreter(const std::vector<Interpreter>& all);

// The interpreter the gate's tests run their fixed-work workloads with:
// Debian's /usr/bin/python3 when present, else the newest one found ("":
// none).
std::string GateTestPython();

// "Py3_12_1=/root/.pyenv/.../python3.12 Debian3_11=/usr/bin/python3.11 ..."
std::string DescribeInterpreters(const std::vector<Interpreter>& all);

inline void PrintTo(const Interpreter& py, std::ostream* os) {
  *os << py.name << " (" << py.path << ")";
}

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_INTERPRETERS_H_
