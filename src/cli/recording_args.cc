#include "recording_args.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "exit_codes.h"
#include "pystrobe/process/proc_fs.h"

namespace pystrobe {
bool OptionValue(const std::vector<std::string>& args, size_t* i,
                 std::string* value, std::string* error) {
  if (*i + 1 >= args.size()) {
    *error = args[*i] + " needs a value";
    return false;
  }
  *value = args[++*i];
  return true;
}

bool ParseTargetOption(const std::vector<std::string>& args, size_t* i,
                       RecordingOptions* r, std::string* error) {
  const std::string& a = args[*i];
  if (a == "--subprocesses") {
    r->subprocesses = true;
    return true;
  }
  if (a != "-p" && a != "--pid") return false;
  std::string v;
  if (!OptionValue(args, i, &v, error)) return true;
  // Repeated or comma-separated: every one is a target.
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    int pid = 0;
    if (!absl::SimpleAtoi(part, &pid) || pid <= 0) {
      *error = absl::StrCat("--pid wants a process ID, not '", part, "'");
      return true;
    }
    if (r->pid == 0) {
      r->pid = pid;
    } else {
      r->pids.push_back(pid);
    }
  }
  return true;
}

bool ParseSamplerOption(const std::vector<std::string>& args, size_t* i,
                        const RateRange& rates, SamplerOptions* s,
                        std::string* error) {
  const std::string& a = args[*i];
  std::string v;
  if (a == "-r" || a == "--rate") {
    if (!OptionValue(args, i, &v, error)) return true;
    if (!absl::SimpleAtod(v, &s->rate_hz) ||
        !(rates.min_included ? s->rate_hz >= rates.min_hz
                             : s->rate_hz > rates.min_hz) ||
        !(s->rate_hz <= rates.max_hz)) {
      *error = absl::StrFormat(
          "--rate wants a number of Hz in %c%g, %g], not '%s'",
          rates.min_included ? '[' : '(', rates.min_hz, rates.max_hz, v);
    }
  } else if (a == "--mode") {
    if (!OptionValue(args, i, &v, error)) return true;
    if (v == "wall") {
      s->mode = WeightMode::kWall;
    } else if (v == "cpu") {
      s->mode = WeightMode::kCpu;
    } else {
      *error = "--mode is wall or cpu, not '" + v + "'";
    }
  } else if (a == "--gil") {
    s->gil_only = true;
  } else if (a == "--idle") {
    s->include_idle = true;
  } else if (a == "--async" || a == "--async=all") {
    s->async_tasks = true;
    // `--async all`: waiting tasks too.
    if (a == "--async=all" || (*i + 1 < args.size() && args[*i + 1] == "all")) {
      if (a == "--async") ++*i;
      s->async_waiting = true;
    }
  } else if (a == "--native" || a == "--native-all") {
    s->native = true;
    s->native_all |= a == "--native-all";
  } else {
    return false;
  }
  return true;
}

int CheckTargetsExist(const RecordingOptions& r) {
  std::vector<pid_t> all = {r.pid};
  all.insert(all.end(), r.pids.begin(), r.pids.end());
  for (pid_t p : all) {
    if (absl::Status exists = ProcFs().CheckExists(p); !exists.ok()) {
      PrintError(exists);
      return ExitCodeFor(exists, /*attached=*/false);
    }
  }
  return 0;
}

}  // namespace pystrobe
