// The pystrobe-diff executable: compares profiles against stored baselines
// and fails a CI job only on real regressions.
#include <cstdio>
#include <string>
#include <vector>

#include "diff_cli.h"

namespace {

constexpr char kUsage[] =
    "usage: pystrobe-diff COMMAND [OPTIONS]\n"
    "\n"
    "Compares CPU/wall profiles (pprof) per function and tells which\n"
    "functions got slower, whether that is real or sampling noise, and can\n"
    "fail a CI job on a regression.\n"
    "\n"
    "commands:\n"
    "  compare BASE NEW [options]  compare NEW against a file or a stored\n"
    "                              baseline (NAME, NAME@N, NAME --last K)\n"
    "  save NAME PROFILE           store PROFILE as the next entry of NAME\n"
    "  list [NAME]                 stored baselines and their entries\n"
    "  show NAME[@N]               top functions of a stored profile\n"
    "\n"
    "Every command takes --store DIR (default .pystrobe/baselines).\n"
    "pystrobe-diff COMMAND --help shows a command's options.\n"
    "Exit status: 0 OK, 1 regression (compare --fail-on-regression),\n"
    "2 bad input or usage, 3 inconclusive (compare --fail-on-inconclusive).\n";

}  // namespace

int main(int argc, char** argv) {
  using pystrobe::diff_cli::kExitBadInput;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" ||
      args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitBadInput : 0;
  }
  if (args[0] == "--version") {
    std::printf("pystrobe-diff %s\n", PYSTROBE_VERSION);
    return 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "compare") return pystrobe::diff_cli::RunCompare(args);
  if (command == "save") return pystrobe::diff_cli::RunSave(args);
  if (command == "list") return pystrobe::diff_cli::RunList(args);
  if (command == "show") return pystrobe::diff_cli::RunShow(args);
  pystrobe::diff_cli::PrintError("unknown command '" + command +
                                 "' (see pystrobe-diff --help)");
  return kExitBadInput;
}
