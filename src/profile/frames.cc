#include "frames.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "pystrobe/base/text.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace profile_internal {
namespace {

constexpr std::string_view kReplacement = kUtf8Replacement;

}  // namespace

const std::string& FunctionName(const Function& f) {
  return f.name.empty() ? f.system_name : f.name;
}

std::string DisplayFrameName(const Profile& profile, const Location& location,
                             bool lines) {
  const Function& f = profile.FunctionOf(location);
  if (lines && location.line != 0) {
    return absl::StrCat(FunctionName(f), " (", f.filename, ":", location.line,
                        ")");
  }
  return absl::StrCat(FunctionName(f), " (", f.filename, ")");
}

std::string ThreadName(const Sample& sample) {
  std::string name;
  std::string tid;
  for (const Label& l : sample.labels) {
    if (l.key == "thread_name") {
      name = l.str;
    }
    if (l.key == "thread_id") {
      tid = l.is_numeric() ? absl::StrCat(l.num) : l.str;
    }
  }
  if (!name.empty() && !tid.empty()) {
    return absl::StrCat(name, " (", tid, ")");
  }
  if (!name.empty()) {
    return name;
  }
  if (!tid.empty()) {
    return absl::StrCat("thread (", tid, ")");
  }
  return "unknown thread";
}

std::string ProcessName(const Sample& sample) {
  std::string pid;
  std::string command;
  for (const Label& l : sample.labels) {
    if (l.key == "pid") {
      pid = l.is_numeric() ? absl::StrCat(l.num) : l.str;
    }
    if (l.key == "process") {
      command = l.str;
    }
  }
  if (pid.empty() && command.empty()) {
    return "unknown process";
  }
  if (command.empty()) {
    return pid;
  }
  return pid.empty() ? command : absl::StrCat(pid, " ", command);
}

int ResolveValueIndex(const Profile& profile, const RenderOptions& options) {
  const int n = static_cast<int>(profile.sample_types.size());
  if (options.value_index >= 0 && options.value_index < n) {
    return options.value_index;
  }
  return n - 1;
}

bool HasValidStack(const Profile& profile, const Sample& sample) {
  for (uint64_t id : sample.location_ids) {
    if (id == 0 || id > profile.locations.size()) {
      return false;
    }
    const uint64_t f = profile.LocationAt(id).function_id;
    if (f == 0 || f > profile.functions.size()) {
      return false;
    }
  }
  return true;
}

int64_t SampleValue(const Sample& sample, int index) {
  if (index < 0 || static_cast<size_t>(index) >= sample.values.size()) {
    return 0;
  }
  return sample.values[index];
}

void AppendXmlEscaped(std::string_view s, std::string* out) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out->append(kReplacement);
      ++i;
      continue;
    }
    if (n > 1) {
      // U+FFFE and U+FFFF are not XML characters either.
      const std::string_view seq = s.substr(i, n);
      if (seq == "\xEF\xBF\xBE" || seq == "\xEF\xBF\xBF") {
        out->append(kReplacement);
      } else {
        out->append(seq);
      }
    } else {
      switch (c) {
        case '<':
          out->append("&lt;");
          break;
        case '>':
          out->append("&gt;");
          break;
        case '&':
          out->append("&amp;");
          break;
        case '"':
          out->append("&quot;");
          break;
        case '\'':
          out->append("&#39;");
          break;
        default:
          if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            out->append(kReplacement);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
    }
    i += n;
  }
}

}  // namespace profile_internal

std::string CollapsedFrameName(const Profile& profile, const Location& location,
                               bool lines) {
  const Function& f = profile.FunctionOf(location);
  std::string name =
      absl::StrCat(f.filename, ":", profile_internal::FunctionName(f));
  if (lines && location.line != 0) {
    absl::StrAppend(&name, ":", location.line);
  }
  // ';' separates frames and the line ends the stack: keep both out of names.
  for (char& c : name) {
    if (c == ';' || c == '\n' || c == '\r') {
      c = '_';
    }
  }
  return name;
}

}  // namespace pystrobe
