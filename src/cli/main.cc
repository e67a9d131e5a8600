// The pystrobe executable: dispatches subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "dump.h"
#include "exit_codes.h"
#include "record.h"
#include "top.h"

namespace {

constexpr char kUsage[] =
    "usage: pystrobe COMMAND [OPTIONS]\n"
    "\n"
    "An out-of-process sampling profiler for CPython 2.7 and 3.6-3.15.\n"
    "\n"
    "commands:\n"
    "  record (--pid PID | -- COMMAND ...)  sample into a profile (pprof,\n"
    "                            collapsed, speedscope, flame graph)\n"
    "  dump --pid PID [--json]   print every thread's Python stack once\n"
    "  top --pid PID             a live view of the functions it runs\n"
    "\n"
    "pystrobe COMMAND --help shows a command's options; --version its "
    "version.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" ||
      args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? pystrobe::kExitUsage : pystrobe::kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("pystrobe %s\n", PYSTROBE_VERSION);
    return pystrobe::kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "dump") return pystrobe::RunDump(args);
  if (command == "record") return pystrobe::RunRecord(args);
  if (command == "top") return pystrobe::RunTop(args);
  pystrobe::PrintError(
      ("unknown command '" + command + "' (see pystrobe --help)").c_str());
  return pystrobe::kExitUsage;
}
