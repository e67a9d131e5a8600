// speedscope's JSON file format
// (https://www.speedscope.app/file-format-schema.json): frames shared by all
// profiles, one "sampled" profile per thread whose samples are stacks of frame
// indices, root first, with a weight each.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "frames.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace {

using profile_internal::AppendJsonEscaped;

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  AppendJsonEscaped(s, out);
  out->push_back('"');
}

struct ThreadProfile {
  std::vector<std::vector<int64_t>> stacks;  // frame indices, root first
  std::vector<int64_t> weights;
  int64_t total = 0;
};

}  // namespace

std::string RenderSpeedscope(const Profile& profile,
                             const RenderOptions& options) {
  const int value_index = profile_internal::ResolveValueIndex(profile, options);
  const bool nanoseconds =
      value_index >= 0 &&
      profile.sample_types[value_index].unit == "nanoseconds";

  // speedscope frames are (name, file, line): one per distinct location
  // shown, so that with lines off all lines of a function are one frame.
  using FrameKey = std::tuple<std::string, std::string, int64_t>;
  std::vector<FrameKey> frames;
  absl::flat_hash_map<FrameKey, int64_t> frame_index;
  std::vector<int64_t> location_frame(profile.locations.size(), -1);
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& l = profile.locations[i];
    if (l.function_id == 0 || l.function_id > profile.functions.size()) {
      continue;
    }
    const Function& f = profile.FunctionOf(l);
    FrameKey key{profile_internal::FunctionName(f), f.filename,
                 options.lines ? l.line : 0};
    auto [it, inserted] =
        frame_index.try_emplace(key, static_cast<int64_t>(frames.size()));
    if (inserted) {
      frames.push_back(std::move(key));
    }
    location_frame[i] = it->second;
  }

  // Threads are always separate speedscope profiles (speedscope shows one at
  // a time), so options.per_thread changes nothing here. Ordered by thread
  // name so that output is deterministic.
  std::map<std::string, ThreadProfile> threads;
  for (const Sample& s : profile.samples) {
    if (!profile_internal::HasValidStack(profile, s)) {
      continue;
    }
    const int64_t value = profile_internal::SampleValue(s, value_index);
    if (value == 0) {
      continue;
    }
    std::string thread = profile_internal::ThreadName(s);
    std::vector<int64_t> stack;
    stack.reserve(s.location_ids.size() + 1);
    if (options.per_process) {
      // A root frame per process; threads of different processes are
      // different profiles.
      std::string process = profile_internal::ProcessName(s);
      thread = absl::StrCat(process, ": ", thread);
      FrameKey key{std::move(process), "", 0};
      auto [it, inserted] =
          frame_index.try_emplace(key, static_cast<int64_t>(frames.size()));
      if (inserted) {
        frames.push_back(std::move(key));
      }
      stack.push_back(it->second);
    }
    ThreadProfile& t = threads[thread];
    for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend(); ++it) {
      stack.push_back(location_frame[*it - 1]);
    }
    t.stacks.push_back(std::move(stack));
    t.weights.push_back(value);
    t.total += value;
  }

  std::string out =
      "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n";
  out.append("\"shared\":{\"frames\":[");
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& [name, file, line] = frames[i];
    if (i > 0) {
      out.append(",");
    }
    out.append("\n{\"name\":");
    AppendJsonString(name, &out);
    out.append(",\"file\":");
    AppendJsonString(file, &out);
    if (line > 0) {
      absl::StrAppend(&out, ",\"line\":", line);
    }
    out.append("}");
  }
  out.append("]},\n\"profiles\":[");
  bool first = true;
  for (const auto& [thread, t] : threads) {
    if (!first) {
      out.append(",");
    }
    first = false;
    out.append("\n{\"type\":\"sampled\",\"name\":");
    AppendJsonString(thread, &out);
    absl::StrAppend(&out, ",\"unit\":\"", nanoseconds ? "nanoseconds" : "none",
                    "\",\"startValue\":0,\"endValue\":", t.total,
                    ",\n\"samples\":[");
    for (size_t i = 0; i < t.stacks.size(); ++i) {
      if (i > 0) {
        out.append(",");
      }
      out.append("[");
      for (size_t k = 0; k < t.stacks[i].size(); ++k) {
        if (k > 0) {
          out.append(",");
        }
        absl::StrAppend(&out, t.stacks[i][k]);
      }
      out.append("]");
    }
    out.append("],\n\"weights\":[");
    for (size_t i = 0; i < t.weights.size(); ++i) {
      if (i > 0) {
        out.append(",");
      }
      absl::StrAppend(&out, t.weights[i]);
    }
    out.append("]}");
  }
  out.append("],\n\"name\":");
  AppendJsonString(options.title, &out);
  out.append(",\"activeProfileIndex\":0,\"exporter\":\"pystrobe\"}\n");
  return out;
}

}  // namespace pystrobe
