// `pystrobe record`: sample a live process (--pid) or a command it launches
// into a profile file.
#ifndef PYSTROBE_SRC_CLI_RECORD_H_
#define PYSTROBE_SRC_CLI_RECORD_H_

#include <string>
#include <vector>

namespace pystrobe {

// Runs `pystrobe record ARGS...`; returns the process exit code (in launch
// mode, the command's own exit status).
int RunRecord(const std::vector<std::string>& args);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_RECORD_H_
