#include "push_args.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "recording_args.h"

namespace pystrobe {

const char kPushOptionsHelp[] =
    "Pushing windows to a fleet's profiling backend (docs/push.md):\n"
    "  --push URL             with --every: send each closed window to an\n"
    "                         OpenTelemetry Collector over OTLP/HTTP\n"
    "                         (http[s]://HOST:4318, the profiles signal), or\n"
    "                         to Grafana Pyroscope's ingest API\n"
    "                         (pyroscope+http[s]://HOST:4040), from a thread\n"
    "                         of its own: sampling never waits for it\n"
    "  --service NAME         the service's name (OTLP service.name,\n"
    "                         Pyroscope's app name); default: the script or\n"
    "                         module the target runs\n"
    "  --push-label KEY=VALUE an attribute of every window (OTLP resource\n"
    "                         attribute, Pyroscope label); repeatable\n"
    "  --push-header 'NAME: VALUE'  an HTTP header of every request, e.g.\n"
    "                         'Authorization: Bearer TOKEN'; repeatable;\n"
    "                         @FILE reads it from FILE (secrets stay out of\n"
    "                         ps)\n"
    "  --push-ca FILE         https: trust the CA certificates in FILE\n"
    "                         (default: the system's)\n"
    "  --push-timeout SECONDS one request's limit (default 10); a backend\n"
    "                         that is down or slow is retried with backoff\n"
    "                         (1 s doubling to 10 s), windows in order\n"
    "  --spool DIR            windows that cannot be sent yet wait in DIR\n"
    "                         (default: up to 16 in memory), and a later\n"
    "                         recording with the same DIR sends them first\n"
    "  --spool-max MB         the spool's bound (default 64); when full, the\n"
    "                         oldest window is dropped and counted\n";

namespace {

// The header line of --push-header: as given, or FILE's first line.
bool HeaderValue(const std::string& v, std::string* line, std::string* error) {
  if (v.empty() || v[0] != '@') {
    *line = v;
    return true;
  }
  const std::string path = v.substr(1);
  std::ifstream in(path);
  if (!in) {
    *error = absl::StrCat("--push-header ", v, ": cannot read ", path);
    return false;
  }
  std::getline(in, *line);
  *line = std::string(absl::StripAsciiWhitespace(*line));
  return true;
}

}  // namespace

bool ParsePushOption(const std::vector<std::string>& args, size_t* i,
                     PushArgs* push, std::string* error) {
  const std::string& a = args[*i];
  PushOptions& o = push->options;
  std::string v;
  if (a == "--push") {
    if (!OptionValue(args, i, &v, error)) return true;
    absl::StatusOr<PushTarget> target = ParsePushTarget(v);
    if (!target.ok()) {
      *error = std::string(target.status().message());
      return true;
    }
    push->enabled = true;
    o.target = *std::move(target);
  } else if (a == "--service") {
    if (!OptionValue(args, i, &push->who.service, error)) return true;
    if (push->who.service.empty()) *error = "--service wants a name";
  } else if (a == "--push-label") {
    if (!OptionValue(args, i, &v, error)) return true;
    const size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--push-label wants KEY=VALUE, not '" + v + "'";
      return true;
    }
    push->who.labels.emplace_back(v.substr(0, eq), v.substr(eq + 1));
  } else if (a == "--push-header") {
    if (!OptionValue(args, i, &v, error)) return true;
    std::string line;
    if (!HeaderValue(v, &line, error)) return true;
    absl::StatusOr<std::pair<std::string, std::string>> header =
        ParseHeaderLine(line);
    if (!header.ok()) {
      // Never echo the value: it may be a secret.
      *error = absl::StrCat("--push-header: ", header.status().message());
      return true;
    }
    o.headers.push_back(*std::move(header));
  } else if (a == "--push-ca") {
    if (!OptionValue(args, i, &o.http.ca_file, error)) return true;
    if (std::ifstream(o.http.ca_file).fail()) {
      *error = "--push-ca: cannot read " + o.http.ca_file;
    }
  } else if (a == "--push-timeout") {
    if (!OptionValue(args, i, &v, error)) return true;
    if (!absl::SimpleAtod(v, &o.http.timeout_s) ||
        !(o.http.timeout_s >= 0.1 && o.http.timeout_s <= 600)) {
      *error = "--push-timeout wants seconds from 0.1 to 600, not '" + v + "'";
    }
  } else if (a == "--spool") {
    if (!OptionValue(args, i, &o.spool_dir, error)) return true;
    if (o.spool_dir.empty()) *error = "--spool wants a folder";
  } else if (a == "--spool-max") {
    if (!OptionValue(args, i, &v, error)) return true;
    double mb = 0;
    if (!absl::SimpleAtod(v, &mb) || !(mb >= 1 && mb <= 1e6)) {
      *error = "--spool-max wants megabytes from 1 to 1000000, not '" + v + "'";
      return true;
    }
    o.spool_max_bytes = static_cast<int64_t>(mb * 1024 * 1024);
  } else {
    return false;
  }
  return true;
}

bool CheckPushArgs(const PushArgs& push, double window_s, std::string* error) {
  const PushOptions& o = push.options;
  const bool others = !push.who.service.empty() || !push.who.labels.empty() ||
                      !o.headers.empty() || !o.http.ca_file.empty() ||
                      !o.spool_dir.empty();
  if (!push.enabled) {
    if (others) {
      *error =
          "--service, --push-label, --push-header, --push-ca and --spool go "
          "with --push URL";
      return false;
    }
    return true;
  }
  if (window_s <= 0) {
    *error = "--push sends closed windows: it needs --every SECONDS";
    return false;
  }
  if (!o.http.ca_file.empty() && o.target.url.scheme != "https") {
    *error = "--push-ca is for an https:// backend";
    return false;
  }
  return true;
}

std::string FormatPushSummary(const PushArgs& push, const PushCounts& c) {
  std::string line = absl::StrFormat(
      "pystrobe: push to %s: %u windows sent, %u retried, %u spooled, %u "
      "dropped",
      push.options.target.given, c.sent, c.retried, c.spooled, c.dropped);
  if (c.waiting > 0) {
    absl::StrAppendFormat(&line, "; %u wait %s", c.waiting,
                          push.options.spool_dir.empty()
                              ? std::string("(lost: no --spool)")
                              : absl::StrCat("in ", push.options.spool_dir,
                                             " for the next recording"));
  }
  return line + "\n";
}

}  // namespace pystrobe
