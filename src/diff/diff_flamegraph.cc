// The differential flame graph: BASE is folded into a call tree keyed by the
// same frame names the renderer shows, and the renderer's style hooks look
// each NEW frame's path up in it.

#include "pystrobe/diff/diff_flamegraph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe {
namespace {

// What the flame graph shows for a frame (formats.h: "function (file:line)").
std::string FrameName(const Profile& p, const Location& l, bool lines) {
  const Function& f = p.FunctionOf(l);
  const std::string& name = f.name.empty() ? f.system_name : f.name;
  if (lines && l.line != 0) {
    return absl::StrCat(name, " (", f.filename, ":", l.line, ")");
  }
  return absl::StrCat(name, " (", f.filename, ")");
}

// BASE folded into a call tree, values summed over the bases after
// normalization (a share of each base, or its absolute value), then
// averaged.
class BaseTree {
 public:
  BaseTree() : nodes_(1) {}

  void Add(const Profile& p, int value_index, double scale, bool lines) {
    std::vector<int> name_ids(p.locations.size() + 1, -1);
    for (const Sample& s : p.samples) {
      if (value_index >= static_cast<int>(s.values.size())) continue;
      const double v = static_cast<double>(s.values[value_index]) * scale;
      if (v == 0) continue;
      bool valid = true;
      for (uint64_t id : s.location_ids) {
        valid = valid && id >= 1 && id <= p.locations.size() &&
                p.locations[id - 1].function_id >= 1 &&
                p.locations[id - 1].function_id <= p.functions.size();
      }
      if (!valid) continue;
      int node = 0;
      for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend();
           ++it) {
        int& name = name_ids[*it];
        if (name < 0) name = Intern(FrameName(p, p.LocationAt(*it), lines));
        node = Child(node, name);
        nodes_[node].value += v;
      }
      if (node != 0) nodes_[node].self += v;
    }
  }

  void Scale(double factor) {
    for (Node& n : nodes_) {
      n.value *= factor;
      n.self *= factor;
    }
  }

  // The node at `path` (root first), or nullptr if BASE never had it.
  struct Node {
    double value = 0;
    double self = 0;
  };
  const Node* Find(const std::vector<std::string>& path) const {
    int node = 0;
    for (const std::string& name : path) {
      auto n = names_.find(name);
      if (n == names_.end()) return nullptr;
      auto c = children_.find(std::make_pair(node, n->second));
      if (c == children_.end()) return nullptr;
      node = c->second;
    }
    return &nodes_[node];
  }

 private:
  int Intern(const std::string& name) {
    auto [it, inserted] = names_.emplace(name, static_cast<int>(names_.size()));
    return it->second;
  }
  int Child(int parent, int name) {
    auto [it, inserted] = children_.emplace(std::make_pair(parent, name),
                                            static_cast<int>(nodes_.size()));
    if (inserted) nodes_.emplace_back();
    return it->second;
  }

  std::vector<Node> nodes_;  // 0: the root
  absl::flat_hash_map<std::string, int> names_;
  absl::flat_hash_map<std::pair<int, int>, int> children_;
};

int64_t TotalOf(const Profile& p, int index) {
  int64_t total = 0;
  for (const Sample& s : p.samples) {
    if (index < static_cast<int>(s.values.size())) total += s.values[index];
  }
  return total;
}

absl::StatusOr<int> ValueIndex(const Profile& p, const ValueType& type,
                               const char* side) {
  for (size_t i = 0; i < p.sample_types.size(); ++i) {
    if (p.sample_types[i] == type) return static_cast<int>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the ", side, " profile has no ", type.type, "/", type.unit, " samples"));
}

std::string FormatAmount(double v, Normalize normalize,
                         const std::string& unit) {
  if (normalize == Normalize::kShare) return absl::StrFormat("%.2f%%", 100 * v);
  if (unit == "nanoseconds") return absl::StrFormat("%.3fs", v / 1e9);
  return absl::StrFormat("%.6g %s", v, unit);
}

std::string FormatChange(double base, double now) {
  if (base <= 0) return now > 0 ? "new" : "unchanged";
  const double pct = 100 * (now - base) / base;
  if (std::fabs(pct) < 10) return absl::StrFormat("%+.1f%%", pct);
  return absl::StrFormat("%+.0f%%", pct);
}

}  // namespace

std::string DiffColor(double base, double now, double neutral_pct) {
  double rel = 0;  // relative change in percent
  if (base <= 0) {
    rel = now > 0 ? 1e9 : 0;
  } else {
    rel = 100 * (now - base) / base;
  }
  if (std::fabs(rel) < neutral_pct) return "rgb(210,210,210)";
  // Full colour at a doubling (or halving and below); a visible tint at the
  // neutral band's edge.
  const double t =
      0.25 + 0.75 * std::min(1.0, (std::fabs(rel) - neutral_pct) / 100.0);
  const int fade = static_cast<int>(std::lround(210 - 180 * t));
  if (rel > 0) return absl::StrFormat("rgb(255,%d,%d)", fade, fade);
  return absl::StrFormat("rgb(%d,%d,255)", fade, fade);
}

absl::StatusOr<std::string> RenderDiffFlameGraph(
    const std::vector<const Profile*>& base, const Profile& now,
    const DiffFlameGraphOptions& options) {
  if (now.sample_types.empty()) {
    return absl::InvalidArgumentError("the new profile has no sample types");
  }
  int now_index = static_cast<int>(now.sample_types.size()) - 1;
  const std::string wanted = !options.sample_type.empty()
                                 ? options.sample_type
                                 : now.default_sample_type;
  if (!wanted.empty()) {
    const int i = now.SampleTypeIndex(wanted);
    if (i < 0 && !options.sample_type.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the new profile has no sample type '", wanted, "'"));
    }
    if (i >= 0) now_index = i;
  }
  const ValueType type = now.sample_types[now_index];

  BaseTree tree;
  for (const Profile* b : base) {
    absl::StatusOr<int> index = ValueIndex(*b, type, "base");
    if (!index.ok()) return index.status();
    const int64_t total = TotalOf(*b, *index);
    double scale = 1;
    if (options.normalize == Normalize::kShare) {
      scale = total > 0 ? 1.0 / static_cast<double>(total) : 0;
    }
    tree.Add(*b, *index, scale, options.lines);
  }
  if (!base.empty()) tree.Scale(1.0 / static_cast<double>(base.size()));

  const Normalize normalize = options.normalize;
  const std::string unit = type.unit;
  auto now_amount = [normalize](const FlameFrame& f, int64_t v) {
    if (normalize == Normalize::kShare) {
      return f.total > 0 ? static_cast<double>(v) / static_cast<double>(f.total)
                         : 0.0;
    }
    return static_cast<double>(v);
  };

  FlameGraphStyle style;
  style.color = [&](const FlameFrame& f) -> std::string {
    if (f.path == nullptr || f.path->empty()) return "";  // the root
    const BaseTree::Node* b = tree.Find(*f.path);
    return DiffColor(b == nullptr ? 0 : b->value, now_amount(f, f.value),
                     options.neutral_pct);
  };
  style.tooltip = [&](const FlameFrame& f) -> std::string {
    const std::string name =
        f.path == nullptr || f.path->empty() ? "all" : f.path->back();
    const BaseTree::Node* b = f.path == nullptr ? nullptr : tree.Find(*f.path);
    const double base_total = b == nullptr ? 0 : b->value;
    const double base_self = b == nullptr ? 0 : b->self;
    const double new_total = now_amount(f, f.value);
    const double new_self = now_amount(f, f.self_value);
    return absl::StrCat(name, " | total: base ",
                        FormatAmount(base_total, normalize, unit), ", new ",
                        FormatAmount(new_total, normalize, unit), " (",
                        FormatChange(base_total, new_total), ") | self: base ",
                        FormatAmount(base_self, normalize, unit), ", new ",
                        FormatAmount(new_self, normalize, unit), " (",
                        FormatChange(base_self, new_self), ")");
  };
  style.subtitle = absl::StrFormat(
      "widths: new profile (%s); red: more %s than base, blue: less, grey: "
      "within %g%%",
      normalize == Normalize::kShare ? "share of samples" : "absolute",
      type.type, options.neutral_pct);

  RenderOptions render;
  render.value_index = now_index;
  render.lines = options.lines;
  render.title = options.title;
  return RenderFlameGraph(now, render, style);
}

}  // namespace pystrobe
