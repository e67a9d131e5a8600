// The interactive flame graph: one SVG with its CSS and JavaScript inline,
// laid out like flamegraph.pl's (root at the bottom, callees above, width
// proportional to value, siblings in name order).
//
// The call tree is merged first, then laid out; every visible frame carries
// its position as fractions of the whole (data-x, data-w) and its depth
// (data-d), so the script can zoom without knowing the tree.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "flamegraph_heading.h"
#include "frames.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/profile.h"

namespace pystrobe {
namespace {

using profile_internal::AppendXmlEscaped;

constexpr double kImageWidth = 1200;
constexpr double kPad = 10;
constexpr double kFrameHeight = 16;
constexpr double kTopMargin = 62;     // title, subtitle, buttons
constexpr double kBottomMargin = 28;  // details line
constexpr double kCharWidth = 7.2;    // 12px monospace
// Frames narrower than this share of the whole are left out: they would be
// invisible anyway, and leaving them out bounds the SVG's size.
constexpr double kMinShare = 0.001;

struct Node {
  int name = 0;      // index into Tree::names (display name)
  int function = 0;  // index into Tree::names (function name, for colour)
  int64_t value = 0;
  int64_t self_value = 0;
  std::vector<int> children;
};

struct Tree {
  std::vector<std::string> names;
  absl::flat_hash_map<std::string, int> name_ids;
  std::vector<Node> nodes;  // nodes[0] is the root ("all")
  // (parent, display name) -> child, while building.
  absl::flat_hash_map<std::pair<int, int>, int> child_of;

  int Intern(const std::string& s) {
    auto [it, inserted] =
        name_ids.try_emplace(s, static_cast<int>(names.size()));
    if (inserted) {
      names.push_back(s);
    }
    return it->second;
  }
  int Child(int parent, int name, int function) {
    auto [it, inserted] = child_of.try_emplace(std::make_pair(parent, name),
                                               static_cast<int>(nodes.size()));
    if (inserted) {
      Node n;
      n.name = name;
      n.function = function;
      nodes.push_back(std::move(n));
      nodes[parent].children.push_back(it->second);
    }
    return it->second;
  }
};

Tree BuildTree(const Profile& profile, const RenderOptions& options,
               int value_index) {
  Tree tree;
  Node root;
  root.name = tree.Intern("all");
  root.function = root.name;
  tree.nodes.push_back(root);
  // Per location: (display name, function name) ids, computed once.
  std::vector<std::pair<int, int>> location_names(profile.locations.size());
  for (size_t i = 0; i < profile.locations.size(); ++i) {
    const Location& l = profile.locations[i];
    if (l.function_id == 0 || l.function_id > profile.functions.size()) {
      continue;
    }
    location_names[i] = {
        tree.Intern(
            profile_internal::DisplayFrameName(profile, l, options.lines)),
        tree.Intern(profile_internal::FunctionName(profile.FunctionOf(l)))};
  }
  for (const Sample& s : profile.samples) {
    if (!profile_internal::HasValidStack(profile, s)) {
      continue;
    }
    const int64_t value = profile_internal::SampleValue(s, value_index);
    if (value <= 0) {
      continue;
    }
    int node = 0;
    tree.nodes[0].value += value;
    if (options.per_process) {
      const int process = tree.Intern(profile_internal::ProcessName(s));
      node = tree.Child(node, process, process);
      tree.nodes[node].value += value;
    }
    if (options.per_thread) {
      const int thread = tree.Intern(profile_internal::ThreadName(s));
      node = tree.Child(node, thread, thread);
      tree.nodes[node].value += value;
    }
    for (auto it = s.location_ids.rbegin(); it != s.location_ids.rend(); ++it) {
      const auto [name, function] = location_names[*it - 1];
      node = tree.Child(node, name, function);
      tree.nodes[node].value += value;
    }
    tree.nodes[node].self_value += value;
  }
  tree.child_of.clear();
  for (Node& n : tree.nodes) {
    std::sort(n.children.begin(), n.children.end(), [&](int a, int b) {
      return tree.names[tree.nodes[a].name] < tree.names[tree.nodes[b].name];
    });
  }
  return tree;
}

// A warm colour (reds, oranges, yellows) that depends only on the function
// name, so a function has the same colour wherever it appears and in every
// profile.
std::string WarmColor(std::string_view function) {
  // FNV-1a: stable across runs and platforms, unlike absl::Hash.
  uint64_t h = 1469598103934665603ULL;
  for (char c : function) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  const double a = static_cast<double>(h & 0xFFFF) / 0xFFFF;
  const double b = static_cast<double>((h >> 16) & 0xFFFF) / 0xFFFF;
  const double c = static_cast<double>((h >> 32) & 0xFFFF) / 0xFFFF;
  return absl::StrFormat("rgb(%d,%d,%d)", 205 + static_cast<int>(50 * a),
                         static_cast<int>(230 * b), static_cast<int>(55 * c));
}

std::string FormatValue(int64_t value, const std::string& unit) {
  if (unit == "nanoseconds") {
    const double v = static_cast<double>(value);
    if (value >= 1'000'000'000) {
      return absl::StrFormat("%.3g s", v / 1e9);
    }
    if (value >= 1'000'000) {
      return absl::StrFormat("%.3g ms", v / 1e6);
    }
    if (value >= 1'000) {
      return absl::StrFormat("%.3g us", v / 1e3);
    }
    return absl::StrCat(value, " ns");
  }
  if (unit.empty() || unit == "count") {
    return absl::StrCat(value, value == 1 ? " sample" : " samples");
  }
  return absl::StrCat(value, " ", unit);
}

// The label that fits `width` pixels: the whole name, or its start and "..",
// or nothing. The script uses the same rule when zooming.
std::string FitLabel(const std::string& name, double width) {
  const auto fits = static_cast<int64_t>(std::floor((width - 6) / kCharWidth));
  if (fits >= static_cast<int64_t>(name.size())) {
    return name;
  }
  if (fits < 3) {
    return "";
  }
  // Do not cut a UTF-8 sequence in half.
  size_t cut = static_cast<size_t>(fits - 2);
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return name.substr(0, cut) + "..";
}

constexpr char kStyle[] = R"css(
text { font-family: monospace; font-size: 12px; fill: #000; }
#title { font-size: 17px; text-anchor: middle; }
#subtitle { text-anchor: middle; fill: #555; }
.button { cursor: pointer; fill: #06c; }
.button:hover { text-decoration: underline; }
#matched { text-anchor: end; }
.f { cursor: pointer; }
.f rect { stroke: #fff; stroke-width: 0.5; }
.f:hover rect { stroke: #000; stroke-width: 1; }
.f text { pointer-events: none; }
.f.hl rect { fill: rgb(230,0,230); }
.f.par rect { opacity: 0.5; }
.hid { display: none; }
)css";

// The script: zoom (click a frame; "Reset Zoom" or a click on the root
// undoes it), search (button or Ctrl-F: a regular expression, matches in
// magenta, their share bottom right; Esc clears), hover details.
constexpr char kScript[] = R"js(
(function () {
  'use strict';
  var frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));
  var details = document.getElementById('details');
  var reset = document.getElementById('reset');
  var matched = document.getElementById('matched');
  var searchButton = document.getElementById('search');
  function num(g, a) { return parseFloat(g.getAttribute(a)); }
  function fit(name, w) {
    var n = Math.floor((w - 6) / CHAR_WIDTH);
    if (n >= name.length) return name;
    if (n < 3) return '';
    return name.substring(0, n - 2) + '..';
  }
  function place(g, x, w) {
    var r = g.querySelector('rect'), t = g.querySelector('text');
    r.setAttribute('x', (PAD + x * WIDTH).toFixed(2));
    r.setAttribute('width', Math.max(0, w * WIDTH).toFixed(2));
    t.setAttribute('x', (PAD + x * WIDTH + 3).toFixed(2));
    t.textContent = fit(g.getAttribute('data-n'), w * WIDTH);
  }
  function zoom(z) {
    var zx = num(z, 'data-x'), zw = num(z, 'data-w'), zd = num(z, 'data-d');
    if (zd === 0) { unzoom(); return; }
    var eps = 1e-9;
    frames.forEach(function (g) {
      var x = num(g, 'data-x'), w = num(g, 'data-w'), d = num(g, 'data-d');
      g.classList.remove('hid');
      g.classList.remove('par');
      if (d >= zd && x >= zx - eps && x + w <= zx + zw + eps) {
        place(g, (x - zx) / zw, w / zw);
      } else if (d < zd && x <= zx + eps && x + w >= zx + zw - eps) {
        g.classList.add('par');
        place(g, 0, 1);
      } else {
        g.classList.add('hid');
      }
    });
    reset.classList.remove('hid');
  }
  function unzoom() {
    frames.forEach(function (g) {
      g.classList.remove('hid');
      g.classList.remove('par');
      place(g, num(g, 'data-x'), num(g, 'data-w'));
    });
    reset.classList.add('hid');
  }
  function search(term) {
    var re = null;
    if (term) {
      try { re = new RegExp(term); } catch (e) {
        re = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      }
    }
    var spans = [];
    frames.forEach(function (g) {
      var hit = re !== null && re.test(g.getAttribute('data-n'));
      g.classList.toggle('hl', hit);
      if (hit) spans.push([num(g, 'data-x'), num(g, 'data-w')]);
    });
    if (re === null) {
      matched.classList.add('hid');
      searchButton.textContent = 'Search';
      return;
    }
    // Matches nest (a recursive function matches at several depths): count
    // each stretch of the x axis once.
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var share = 0, end = -1;
    spans.forEach(function (s) {
      if (s[0] >= end - 1e-12) { share += s[1]; end = s[0] + s[1]; }
      else if (s[0] + s[1] > end) { share += s[0] + s[1] - end; end = s[0] + s[1]; }
    });
    matched.textContent = 'Matched: ' + (100 * share).toFixed(1) + '%';
    matched.classList.remove('hid');
    searchButton.textContent = 'Reset Search';
  }
  frames.forEach(function (g) {
    g.addEventListener('click', function () { zoom(g); });
    g.addEventListener('mouseover', function () {
      details.textContent = g.querySelector('title').textContent;
    });
    g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  reset.addEventListener('click', unzoom);
  searchButton.addEventListener('click', function () {
    if (searchButton.textContent !== 'Search') { search(''); return; }
    var term = window.prompt('Search frames (regular expression):', '');
    if (term !== null) search(term);
  });
  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
      e.preventDefault();
      var term = window.prompt('Search frames (regular expression):', '');
      if (term !== null) search(term);
    } else if (e.key === 'Escape') {
      search('');
    }
  });
})();
)js";

}  // namespace

std::string RenderFlameGraph(const Profile& profile,
                             const RenderOptions& options) {
  return RenderFlameGraph(profile, options, FlameGraphStyle{});
}

std::string RenderFlameGraph(const Profile& profile,
                             const RenderOptions& options,
                             const FlameGraphStyle& style) {
  const int value_index = profile_internal::ResolveValueIndex(profile, options);
  const std::string unit =
      value_index >= 0 ? profile.sample_types[value_index].unit : "";
  const Tree tree = BuildTree(profile, options, value_index);
  const int64_t total = tree.nodes[0].value;
  const double width = kImageWidth - 2 * kPad;

  // Lay out the visible frames depth first, iteratively: Python stacks can
  // be thousands deep.
  struct Placed {
    int node;
    int depth;
    int64_t x;  // in value units from the left edge
  };
  std::vector<Placed> visible;
  std::vector<std::vector<std::string>> paths;  // for the style callbacks
  {
    const auto min_value =
        static_cast<int64_t>(std::ceil(kMinShare * static_cast<double>(total)));
    std::vector<Placed> todo = {{0, 0, 0}};
    while (!todo.empty()) {
      const Placed p = todo.back();
      todo.pop_back();
      visible.push_back(p);
      int64_t x = p.x;
      std::vector<Placed> kids;
      for (int child : tree.nodes[p.node].children) {
        const int64_t v = tree.nodes[child].value;
        if (v >= min_value && v > 0) {
          kids.push_back({child, p.depth + 1, x});
        }
        x += v;
      }
      todo.insert(todo.end(), kids.rbegin(), kids.rend());
    }
  }
  int max_depth = 0;
  for (const Placed& p : visible) {
    max_depth = std::max(max_depth, p.depth);
  }
  const double height =
      kTopMargin + (max_depth + 1) * kFrameHeight + kBottomMargin;

  std::string out;
  out.reserve(visible.size() * 260 + 8192);
  absl::StrAppendFormat(
      &out,
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
      "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
      kImageWidth, height, kImageWidth, height);
  absl::StrAppend(&out, "<style type=\"text/css\"><![CDATA[", kStyle,
                  "]]></style>\n");
  absl::StrAppendFormat(&out,
                        "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
                        "fill=\"#f8f8f0\"/>\n",
                        kImageWidth, height);
  absl::StrAppendFormat(&out, "<text id=\"title\" x=\"%.0f\" y=\"24\">",
                        kImageWidth / 2);
  // The default graph says what it shows (a differential one has its own
  // title and legend).
  profile_internal::FlameGraphHeading heading{options.title, style.subtitle};
  if (options.title == RenderOptions{}.title && style.subtitle.empty()) {
    heading = profile_internal::HeadingFor(profile);
  }
  AppendXmlEscaped(heading.title, &out);
  out.append("</text>\n");
  absl::StrAppendFormat(&out, "<text id=\"subtitle\" x=\"%.0f\" y=\"42\">",
                        kImageWidth / 2);
  AppendXmlEscaped(heading.subtitle, &out);
  out.append("</text>\n");
  absl::StrAppendFormat(&out,
                        "<text id=\"reset\" class=\"button hid\" x=\"%.0f\" "
                        "y=\"24\">Reset Zoom</text>\n"
                        "<text id=\"search\" class=\"button\" x=\"%.0f\" "
                        "y=\"24\">Search</text>\n"
                        "<text id=\"matched\" class=\"hid\" x=\"%.0f\" "
                        "y=\"%.0f\"> </text>\n"
                        "<text id=\"details\" x=\"%.0f\" y=\"%.0f\"> </text>\n",
                        kPad, kImageWidth - kPad - 100, kImageWidth - kPad,
                        height - 10, kPad, height - 10);

  std::vector<std::string> path;
  for (const Placed& p : visible) {
    const Node& n = tree.nodes[p.node];
    const std::string& name = tree.names[n.name];
    // Labels without the long path above site-packages or the stdlib; the
    // tooltip keeps it whole.
    const std::string label = profile_internal::ShortFrameLabel(name);
    // `visible` is in depth-first order: trim the path to this frame's
    // parent, then add it. The root "all" is not part of any path.
    if (p.depth > 0) {
      path.resize(p.depth - 1);
      path.push_back(name);
    } else {
      path.clear();
    }
    const FlameFrame frame{&path, n.value, n.self_value, total};
    const double share =
        total > 0 ? static_cast<double>(n.value) / static_cast<double>(total)
                  : 0;
    const double fx =
        total > 0 ? static_cast<double>(p.x) / static_cast<double>(total) : 0;
    std::string color;
    if (style.color) {
      color = style.color(frame);
    }
    if (color.empty()) {
      const int label_frames =
          (options.per_thread ? 1 : 0) + (options.per_process ? 1 : 0);
      color = p.node == 0 || (p.depth >= 1 && p.depth <= label_frames)
                  ? "rgb(200,200,200)"
                  : WarmColor(tree.names[n.function]);
    }
    std::string tooltip;
    if (style.tooltip) {
      tooltip = style.tooltip(frame);
    }
    if (tooltip.empty()) {
      tooltip = absl::StrFormat("%s (%s, %.2f%%)", name,
                                FormatValue(n.value, unit), 100 * share);
    }
    const double px = kPad + fx * width;
    const double pw = share * width;
    const double py = height - kBottomMargin - (p.depth + 1) * kFrameHeight;
    absl::StrAppendFormat(&out,
                          "<g class=\"f\" data-x=\"%.7g\" data-w=\"%.7g\" "
                          "data-d=\"%d\" data-n=\"",
                          fx, share, p.depth);
    AppendXmlEscaped(label, &out);
    out.append("\"><title>");
    AppendXmlEscaped(tooltip, &out);
    absl::StrAppendFormat(&out,
                          "</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" "
                          "height=\"%.0f\" fill=\"",
                          px, py, pw, kFrameHeight - 1);
    AppendXmlEscaped(color, &out);
    absl::StrAppendFormat(&out, "\"/><text x=\"%.2f\" y=\"%.0f\">", px + 3,
                          py + kFrameHeight - 4);
    AppendXmlEscaped(FitLabel(label, pw), &out);
    out.append("</text></g>\n");
  }
  absl::StrAppendFormat(&out,
                        "<script type=\"text/ecmascript\"><![CDATA[\n"
                        "var WIDTH = %.2f, PAD = %.2f, CHAR_WIDTH = %.2f;",
                        width, kPad, kCharWidth);
  absl::StrAppend(&out, kScript, "]]></script>\n</svg>\n");
  return out;
}

}  // namespace pystrobe
