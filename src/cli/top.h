// `pystrobe top`: a live view of where a running process spends its time,
// like `py-spy top`. A front end of the recorder (a Recording with short
// windows into a LiveSink); the screen is src/cli/top_screen.h.
#ifndef PYSTROBE_SRC_CLI_TOP_H_
#define PYSTROBE_SRC_CLI_TOP_H_

#include <string>
#include <vector>

namespace pystrobe {

// Runs `pystrobe top ARGS...`; returns the process exit code.
int RunTop(const std::vector<std::string>& args);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_TOP_H_
