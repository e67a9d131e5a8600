// `pystrobe record`'s options for pushing windows to a fleet's backend
// (--push URL and its company), parsed one at a time in the manner of
// recording_args.h, and the lines the summary gets about the push.
//
//   PushArgs push;
//   ... if (ParsePushOption(args, &i, &push, &error)) { ... }
//   if (!CheckPushArgs(push, window_s, &error)) ...
#ifndef PYSTROBE_SRC_CLI_PUSH_ARGS_H_
#define PYSTROBE_SRC_CLI_PUSH_ARGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "pystrobe/recorder/push.h"

namespace pystrobe {

struct PushArgs {
  bool enabled = false;  // --push given
  PushOptions options;
  PushIdentity who;
};

// The help lines of these options.
extern const char kPushOptionsHelp[];

// If args[*i] is one of the push options, consumes it (leaving *i on its
// last word) and returns true; `*error` is set for a bad value (a header
// file that cannot be read included). Returns false for anything else.
bool ParsePushOption(const std::vector<std::string>& args, size_t* i,
                     PushArgs* push, std::string* error);

// The options fit together: --push needs --every; the others need --push.
bool CheckPushArgs(const PushArgs& push, double window_s, std::string* error);

// "pystrobe: push to URL: 12 windows sent, ..." for the summary.
std::string FormatPushSummary(const PushArgs& push, const PushCounts& c);

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_CLI_PUSH_ARGS_H_
