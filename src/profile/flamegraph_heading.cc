#include "flamegraph_heading.h"

#include <time.h>

#include <cctype>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace pystrobe::profile_internal {
namespace {

constexpr size_t kMaxCommandChars = 100;

// The value of comment "KEY=value", or "".
std::string Comment(const Profile& profile, absl::string_view key) {
  for (const std::string& c : profile.comments) {
    absl::string_view v(c);
    if (absl::ConsumePrefix(&v, key) && absl::ConsumePrefix(&v, "=")) {
      return std::string(v);
    }
  }
  return "";
}

// The end of the stdlib marker "/lib/pythonX.Y/" starting at `at`, or npos.
size_t StdlibMarkerEnd(absl::string_view path, size_t at) {
  constexpr absl::string_view kLib = "/lib/python";
  if (path.substr(at, kLib.size()) != kLib) return absl::string_view::npos;
  size_t i = at + kLib.size();
  auto digits = [&path, &i] {
    const size_t from = i;
    while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i])))
      ++i;
    return i > from;
  };
  if (!digits() || i >= path.size() || path[i] != '.') {
    return absl::string_view::npos;
  }
  ++i;
  if (!digits() || i >= path.size() || path[i] != '/') {
    return absl::string_view::npos;
  }
  return i + 1;
}

}  // namespace

std::string ShortFrameLabel(const std::string& name) {
  const size_t open = name.rfind(" (/");
  if (open == std::string::npos) return name;
  const absl::string_view path = absl::string_view(name).substr(open + 2);
  // The last marker wins: a venv's site-packages below lib/pythonX.Y.
  size_t cut = absl::string_view::npos;
  for (size_t at = 0; at < path.size(); ++at) {
    if (path[at] != '/') continue;
    for (absl::string_view marker : {"/site-packages/", "/dist-packages/"}) {
      if (path.substr(at, marker.size()) == marker) cut = at + marker.size();
    }
    if (size_t end = StdlibMarkerEnd(path, at);
        end != absl::string_view::npos) {
      cut = end;
    }
  }
  if (cut == absl::string_view::npos) return name;
  return absl::StrCat(absl::string_view(name).substr(0, open + 2),
                      path.substr(cut));
}

FlameGraphHeading HeadingFor(const Profile& profile) {
  FlameGraphHeading h;
  std::string command = Comment(profile, "command_line");
  if (command.size() > kMaxCommandChars) {
    command = command.substr(0, kMaxCommandChars - 3) + "...";
  }
  std::set<int64_t> pids;
  for (const Sample& s : profile.samples) {
    for (const Label& l : s.labels) {
      if (l.key == "pid" && l.is_numeric()) pids.insert(l.num);
    }
    if (pids.size() > 1) break;
  }
  std::string who;
  if (pids.size() == 1) {
    who = absl::StrCat("pid ", *pids.begin());
  } else if (pids.size() > 1) {
    who = "several processes";
  }
  if (!command.empty() && !who.empty()) {
    h.title = absl::StrCat(command, " (", who, ")");
  } else if (!command.empty() || !who.empty()) {
    h.title = command.empty() ? who : command;
  } else {
    h.title = "pystrobe";
  }

  std::vector<std::string> parts;
  if (std::string v = Comment(profile, "python_version"); !v.empty()) {
    parts.push_back(absl::StrCat("CPython ", v));
  }
  const std::string mode = Comment(profile, "pystrobe.mode");
  const std::string rate = Comment(profile, "pystrobe.rate_hz");
  if (!mode.empty() && !rate.empty()) {
    parts.push_back(absl::StrCat(mode, " mode at ", rate, " Hz"));
  } else if (!mode.empty()) {
    parts.push_back(absl::StrCat(mode, " mode"));
  }
  if (profile.duration_nanos > 0) {
    parts.push_back(absl::StrFormat(
        "%.1f s", static_cast<double>(profile.duration_nanos) / 1e9));
  }
  int64_t samples = 0;
  if (absl::SimpleAtoi(Comment(profile, "pystrobe.samples"), &samples)) {
    parts.push_back(absl::StrCat(samples, " samples"));
  } else if (!profile.samples.empty()) {
    parts.push_back(absl::StrCat(profile.samples.size(), " stacks"));
  }
  if (profile.time_nanos > 0) {
    const time_t start =
        static_cast<time_t>(profile.time_nanos / 1'000'000'000);
    tm utc;
    gmtime_r(&start, &utc);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S UTC", &utc);
    parts.push_back(stamp);
  }
  h.subtitle = absl::StrJoin(parts, ", ");
  return h;
}

}  // namespace pystrobe::profile_internal
