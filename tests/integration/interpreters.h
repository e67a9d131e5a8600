// The CPython interpreters the integration tests run their workloads on.
//
// Found at test time, so that every installed interpreter is tested:
//   ~/.pyenv/versions/*/bin/python[23].*   (pyenv builds)
//   /usr/bin/python3.[0-9]*                (the distribution's, incl. debug)
//   $PYSTROBE_PYTHONS                      (colon-separated extra paths, for
//                                           CI machines where HOME differs)
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
  std::string path;
  int major = 0;  // from the file name; 0 when it does not say
  int minor = 0;
};

std::vector<Interpreter> FindInterpreters();

// The newest Python 3 found (preferring non-debug builds), or nullptr.
const Interpreter* NewestInterpreter(const std::vector<Interpreter>& all);

// "Py3_12_1=/root/.pyenv/.../python3.12 Debian3_11=/usr/bin/python3.11 ..."
std::string DescribeInterpreters(const std::vector<Interpreter>& all);

inline void PrintTo(const Interpreter& py, std::ostream* os) {
  *os << py.name << " (" << py.path << ")";
}

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_INTERPRETERS_H_
