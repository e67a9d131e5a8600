// `pystrobe dump`: print the Python stacks of every thread of a process once.
#ifndef PYSTROBE_SRC_CLI_DUMP_H_
#define PYSTROBE_SRC_CLI_DUMP_H_

#include <string>
#include <vector>

namespace pystrobe {

// Runs `pystrobe dump ARGS...`; returns the process exit code.
int RunDump(const std::vector<std::string>& args);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_DUMP_H_
