// Collapsed stacks and speedscope against golden files; the flame graph SVG
// against xmllint and the rules of the format.
//
// UPDATE_GOLDEN=1 rewrites the golden files under tests/data/profile/ from
// the current output (review the diff before committing it).

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/merge.h"
#include "pystrobe/profile/profile.h"
#include "test_profiles.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::MakeTempDir;
using ::pystrobe::testing::ReadFileOrDie;
using ::pystrobe::testing::RunCommand;
using ::pystrobe::testing::SmallProfile;
using ::pystrobe::testing::WriteFileOrDie;
using ::testing::HasSubstr;
using ::testing::Not;

void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path =
      absl::StrCat(PYSTROBE_SOURCE_DIR, "/tests/data/profile/", name);
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    WriteFileOrDie(path, actual);
    return;
  }
  const std::string expected = ReadFileOrDie(path);
  ASSERT_FALSE(expected.empty())
      << path << " is missing: run with UPDATE_GOLDEN=1 to create it";
  EXPECT_EQ(actual, expected)
      << "differs from " << path << " (UPDATE_GOLDEN=1 rewrites it)";
}

TEST(CollapsedTest, Golden) {
  const std::string out = RenderCollapsed(SmallProfile());
  ExpectGolden("small.collapsed", out);
  // What the golden file must say, independently of how it was made: root
  // first, qualified names, stacks of both threads merged and summed (50 ms
  // + 20 ms), the name of `compute` (no qualname) from Function.name.
  EXPECT_THAT(out, HasSubstr("/srv/app.py:<module>:3;/srv/app.py:Server.handle:"
                             "12;/srv/parse.py:Parser.parse:7 70000000\n"));
  EXPECT_THAT(out, HasSubstr("/srv/app.py:Worker.run:41;/srv/calc.py:compute:25"
                             " 10000000\n"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4);
}

TEST(CollapsedTest, PerThreadWithoutLinesGolden) {
  RenderOptions options;
  options.per_thread = true;
  options.lines = false;
  options.value_index = 0;
  const std::string out = RenderCollapsed(SmallProfile(), options);
  ExpectGolden("small_threads_nolines.collapsed", out);
  EXPECT_THAT(out, HasSubstr("MainThread (100);/srv/app.py:<module>;"
                             "/srv/app.py:Server.handle;/srv/parse.py:"
                             "Parser.parse 5\n"));
  EXPECT_THAT(out, HasSubstr("Worker-1 (101);/srv/app.py:<module>;"
                             "/srv/app.py:Server.handle;/srv/parse.py:"
                             "Parser.parse 2\n"));
}

// Two processes' profiles merged with pid/process labels (as a recording
// of several processes writes them).
Profile TwoProcesses() {
  Profile p;
  AppendProfile(SmallProfile(),
                {{"pid", "", 7, ""}, {"process", "python3 a;b.py", 0, ""}}, &p);
  AppendProfile(SmallProfile(), {{"pid", "", 8, ""}}, &p);
  return p;
}

TEST(CollapsedTest, PerProcessRootFrames) {
  RenderOptions options;
  options.per_process = true;
  options.per_thread = true;
  options.lines = false;
  options.value_index = 0;
  const std::string out = RenderCollapsed(TwoProcesses(), options);
  // "PID COMMAND" (';' replaced), then the thread; a process without a
  // command line is its pid alone.
  EXPECT_THAT(out, HasSubstr("7 python3 a_b.py;MainThread (100);/srv/app.py:"
                             "<module>;/srv/app.py:Server.handle;/srv/"
                             "parse.py:Parser.parse 5\n"));
  EXPECT_THAT(out, HasSubstr("8;Worker-1 (101);/srv/app.py:Worker.run;/srv/"
                             "calc.py:compute 1\n"));
  // Without per_process the two processes' stacks are summed.
  options.per_process = false;
  EXPECT_THAT(RenderCollapsed(TwoProcesses(), options),
              HasSubstr("Worker-1 (101);/srv/app.py:Worker.run;/srv/"
                        "calc.py:compute 2\n"));
}

TEST(SpeedscopeTest, PerProcessRootFramesAndProfiles) {
  RenderOptions options;
  options.per_process = true;
  const std::string out = RenderSpeedscope(TwoProcesses(), options);
  EXPECT_THAT(out,
              HasSubstr("\"name\":\"7 python3 a;b.py: MainThread (100)\""));
  EXPECT_THAT(out, HasSubstr("\"name\":\"8: Worker-1 (101)\""));
  EXPECT_THAT(out, HasSubstr("{\"name\":\"7 python3 a;b.py\",\"file\":\"\"}"));
}

TEST(CollapsedTest, WithoutLinesMergesLinesOfAFunction) {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  const uint64_t f = p.AddFunction({"f", "", "a.py", 1});
  p.samples.push_back({{p.AddLocation({f, 2})}, {1}, {}});
  p.samples.push_back({{p.AddLocation({f, 3})}, {2}, {}});
  p.samples.push_back({{p.AddLocation({f, 0})}, {4}, {}});
  RenderOptions no_lines;
  no_lines.lines = false;
  EXPECT_EQ(RenderCollapsed(p, no_lines), "a.py:f 7\n");
  EXPECT_EQ(RenderCollapsed(p), "a.py:f 4\na.py:f:2 1\na.py:f:3 2\n");
}

TEST(SpeedscopeTest, GoldenAndSchema) {
  const std::string out = RenderSpeedscope(SmallProfile());
  ExpectGolden("small.speedscope.json", out);

  // The rules of https://www.speedscope.app/file-format-schema.json that
  // apply to sampled profiles, checked by Python's JSON parser.
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/p.json", out);
  WriteFileOrDie(dir + "/check.py", R"py(
import json, sys
d = json.load(open(sys.argv[1]))
assert d["$schema"] == "https://www.speedscope.app/file-format-schema.json"
frames = d["shared"]["frames"]
for f in frames:
    assert isinstance(f["name"], str)
    assert isinstance(f.get("file", ""), str)
    assert isinstance(f.get("line", 0), int)
names = []
for p in d["profiles"]:
    assert p["type"] == "sampled"
    assert p["unit"] in ("none", "nanoseconds", "microseconds",
                         "milliseconds", "seconds", "bytes")
    assert isinstance(p["name"], str)
    assert len(p["samples"]) == len(p["weights"])
    for s in p["samples"]:
        assert all(isinstance(i, int) and 0 <= i < len(frames) for i in s)
    assert p["endValue"] - p["startValue"] == sum(p["weights"])
    names.append(p["name"])
    if p["name"] == "Worker-1 (101)":
        # Root first: Worker.run, then compute.
        stacks = [[frames[i]["name"] for i in s] for s in p["samples"]]
        assert ["Worker.run", "compute"] in stacks, stacks
print(" ".join(sorted(names)))
)py");
  std::string output;
  EXPECT_EQ(
      RunCommand("python3 " + dir + "/check.py " + dir + "/p.json", &output), 0)
      << output;
  EXPECT_EQ(output, "MainThread (100) Worker-1 (101)\n");
  EXPECT_THAT(out, HasSubstr("\"unit\":\"nanoseconds\""));
  RenderOptions counts;
  counts.value_index = 0;
  EXPECT_THAT(RenderSpeedscope(SmallProfile(), counts),
              HasSubstr("\"unit\":\"none\""));
}

TEST(SpeedscopeTest, EscapesJson) {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  const uint64_t f = p.AddFunction({"we\"ird\\\n\x01", "", "bad\xff.py", 1});
  p.samples.push_back({{p.AddLocation({f, 2})}, {1}, {}});
  const std::string out = RenderSpeedscope(p);
  EXPECT_THAT(out, HasSubstr(R"("name":"we\"ird\\\n\u0001")"));
  EXPECT_THAT(out, HasSubstr("\"file\":\"bad\xEF\xBF\xBD.py\""));
}

// xmllint's verdict on `svg`, "" when well-formed.
std::string XmlLint(const std::string& svg) {
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/f.svg", svg);
  std::string output;
  const int rc = RunCommand("xmllint --noout " + dir + "/f.svg", &output);
  return rc == 0 ? "" : absl::StrCat("xmllint exit ", rc, ": ", output);
}

TEST(FlameGraphTest, WellFormedSelfContainedInteractive) {
  RenderOptions options;
  options.value_index = 0;
  options.title = "pystrobe <record> & co";
  const std::string svg = RenderFlameGraph(SmallProfile(), options);
  EXPECT_EQ(XmlLint(svg), "");
  EXPECT_THAT(svg, HasSubstr("<script"));
  EXPECT_THAT(svg, HasSubstr("<style"));
  EXPECT_THAT(svg, HasSubstr("pystrobe &lt;record&gt; &amp; co"));
  // Frames with their tooltips; names are XML-escaped.
  EXPECT_THAT(svg, HasSubstr("<title>Parser.parse (/srv/parse.py:7) "
                             "(7 samples, 53.85%)</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>all (13 samples, 100.00%)</title>"));
  EXPECT_THAT(svg, HasSubstr("Server.handle.&lt;locals&gt;.&lt;lambda&gt; "
                             "(/srv/a&amp;b.py:31)"));
  EXPECT_THAT(svg, HasSubstr("<title>compute (/srv/calc.py:25) (1 sample, "));
  // Nothing external: no links, images or remote scripts.
  EXPECT_THAT(svg, Not(HasSubstr("href")));
  EXPECT_THAT(svg, Not(HasSubstr("<image")));
  EXPECT_THAT(svg, Not(HasSubstr("src=")));
  // Zoom, search and its matched share are in the script.
  EXPECT_THAT(svg, HasSubstr("function zoom("));
  EXPECT_THAT(svg, HasSubstr("Matched: "));
  EXPECT_THAT(svg, HasSubstr("prompt("));
}

// Runs the SVG's script in node against a minimal stand-in for the DOM and
// drives it like a user: search for "Parser", then click the Parser.parse
// frame. Skips without node.
TEST(FlameGraphTest, ScriptSearchesAndZooms) {
  std::string output;
  if (RunCommand("node --version", &output) != 0) {
    GTEST_SKIP() << "node not found: the flame graph script is not exercised";
  }
  RenderOptions options;
  options.value_index = 0;
  const std::string dir = MakeTempDir();
  WriteFileOrDie(dir + "/f.svg", RenderFlameGraph(SmallProfile(), options));
  WriteFileOrDie(dir + "/drive.js", R"js(
const fs = require('fs');
const svg = fs.readFileSync(process.argv[2], 'utf8');
function el(attrs) {
  const e = { attrs: Object.assign({}, attrs), handlers: {}, textContent: '',
    classes: new Set((attrs['class'] || '').split(' ').filter(Boolean)) };
  e.getAttribute = (k) => e.attrs[k];
  e.setAttribute = (k, v) => { e.attrs[k] = String(v); };
  e.addEventListener = (t, f) => { e.handlers[t] = f; };
  e.classList = { add: (c) => e.classes.add(c), remove: (c) => e.classes.delete(c),
    toggle: (c, on) => on ? e.classes.add(c) : e.classes.delete(c) };
  return e;
}
function attrs(s) {
  const a = {};
  for (const m of s.matchAll(/([\w-]+)="([^"]*)"/g)) a[m[1]] = m[2]
      .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return a;
}
const frames = [];
for (const m of svg.matchAll(/<g ([^>]*)><title>([^<]*)<\/title><rect ([^>]*)\/><text ([^>]*)>/g)) {
  const g = el(attrs(m[1]));
  const parts = { title: el({}), rect: el(attrs(m[3])), text: el(attrs(m[4])) };
  parts.title.textContent = m[2];
  g.querySelector = (q) => parts[q];
  frames.push(g);
}
const byId = {};
for (const m of svg.matchAll(/<text id="(\w+)"([^>]*)>([^<]*)</g)) {
  byId[m[1]] = el(Object.assign({ id: m[1] }, attrs(m[2])));
  byId[m[1]].textContent = m[3];
}
global.document = { querySelectorAll: () => frames,
  getElementById: (id) => byId[id], addEventListener: () => {} };
global.window = { prompt: () => 'Parser' };
eval(svg.match(/<!\[CDATA\[\n(var WIDTH[\s\S]*?)\]\]><\/script>/)[1]);
byId.search.handlers.click();
const hl = frames.filter((g) => g.classes.has('hl')).map((g) => g.attrs['data-n']);
console.log(byId.matched.textContent + ' | ' + hl.join(','));
const parse = frames.find((g) => g.attrs['data-n'] === 'Parser.parse (/srv/parse.py:7)');
const compute = frames.find((g) => g.attrs['data-n'] === 'compute (/srv/calc.py:22)');
const root = frames.find((g) => g.attrs['data-d'] === '0');
parse.handlers.click();
console.log('zoomed width ' + parse.querySelector('rect').attrs.width +
    ' compute hidden ' + compute.classes.has('hid') +
    ' root parent ' + root.classes.has('par') +
    ' reset shown ' + !byId.reset.classes.has('hid'));
byId.reset.handlers.click();
console.log('unzoomed compute hidden ' + compute.classes.has('hid') +
    ' parse width ' + parse.querySelector('rect').attrs.width);
)js");
  ASSERT_EQ(RunCommand("node " + dir + "/drive.js " + dir + "/f.svg", &output),
            0)
      << output;
  // 7 of 13 samples are in Parser.parse; 1180 px is the full frame width.
  EXPECT_EQ(output,
            "Matched: 53.8% | Parser.parse (/srv/parse.py:7)\n"
            "zoomed width 1180.00 compute hidden true root parent true "
            "reset shown true\n"
            "unzoomed compute hidden false parse width 635.38\n");
}

TEST(FlameGraphTest, WallTimeTooltipsAndThreads) {
  RenderOptions options;
  options.per_thread = true;
  const std::string svg = RenderFlameGraph(SmallProfile(), options);
  EXPECT_EQ(XmlLint(svg), "");
  EXPECT_THAT(svg, HasSubstr("<title>all (130 ms, 100.00%)</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>Worker-1 (101) (30 ms, 23.08%)</title>"));
}

TEST(FlameGraphTest, PerProcessRootFrames) {
  RenderOptions options;
  options.per_process = true;
  const std::string svg = RenderFlameGraph(TwoProcesses(), options);
  EXPECT_EQ(XmlLint(svg), "");
  EXPECT_THAT(svg,
              HasSubstr("<title>7 python3 a;b.py (130 ms, 50.00%)</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>8 (130 ms, 50.00%)</title>"));
}

TEST(FlameGraphTest, StyleCallbacksColourAndTooltip) {
  FlameGraphStyle style;
  style.subtitle = "red: slower, blue: faster";
  style.color = [](const FlameFrame& f) -> std::string {
    return !f.path->empty() &&
                   f.path->back() == "Parser.parse (/srv/parse.py:7)"
               ? "rgb(1,2,3)"
               : "";
  };
  style.tooltip = [](const FlameFrame& f) {
    return absl::StrCat("depth ", f.path->size(), " value ", f.value, " self ",
                        f.self_value, " of ", f.total, " <&>");
  };
  RenderOptions options;
  options.value_index = 0;
  const std::string svg = RenderFlameGraph(SmallProfile(), options, style);
  EXPECT_EQ(XmlLint(svg), "");
  EXPECT_THAT(svg, HasSubstr("red: slower, blue: faster"));
  EXPECT_EQ(svg.find("rgb(1,2,3)"), svg.rfind("rgb(1,2,3)"));  // one frame
  EXPECT_THAT(svg, HasSubstr("fill=\"rgb(1,2,3)\""));
  EXPECT_THAT(svg, HasSubstr("<title>depth 3 value 7 self 7 of 13 &lt;&amp;&gt;"
                             "</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>depth 0 value 13 self 0 of 13"));
}

TEST(FlameGraphTest, ManyDistinctStacksStayBounded) {
  Profile p;
  p.sample_types = {{"samples", "count"}};
  std::mt19937 rng(1);
  std::vector<uint64_t> locations;
  for (int i = 0; i < 400; ++i) {
    const uint64_t f =
        p.AddFunction({absl::StrCat("function_", i), "",
                       absl::StrCat("/srv/mod_", i % 37, ".py"), 1});
    locations.push_back(p.AddLocation({f, 1 + i % 13}));
  }
  // 20,000 distinct stacks: a common trunk, then random branches.
  for (int s = 0; s < 20000; ++s) {
    Sample sample;
    const int depth = 5 + static_cast<int>(rng() % 20);
    for (int d = 0; d < depth; ++d) {
      sample.location_ids.push_back(
          d < 2 ? locations[d] : locations[rng() % locations.size()]);
    }
    std::reverse(sample.location_ids.begin(), sample.location_ids.end());
    sample.values = {1 + static_cast<int64_t>(rng() % 5)};
    p.samples.push_back(std::move(sample));
  }
  const std::string svg = RenderFlameGraph(p);
  EXPECT_LT(svg.size(), 3u << 20);
  EXPECT_EQ(XmlLint(svg), "");
  // The trunk is there; the collapsed output (which keeps everything) is
  // much larger than the bounded graph.
  EXPECT_THAT(svg, HasSubstr("function_0 (/srv/mod_0.py:1)"));
  const std::string collapsed = RenderCollapsed(p);
  EXPECT_EQ(std::count(collapsed.begin(), collapsed.end(), '\n'), 20000);
  size_t frames = 0;
  for (size_t pos = svg.find("<g class=\"f\""); pos != std::string::npos;
       pos = svg.find("<g class=\"f\"", pos + 1)) {
    ++frames;
  }
  // Frames under 0.1% are left out: at most 1000 per depth level.
  EXPECT_GT(frames, 2u);
  EXPECT_LT(frames, 25u * 1000u);
}

TEST(FlameGraphTest, EmptyProfileIsStillAValidSvg) {
  Profile p;
  const std::string svg = RenderFlameGraph(p);
  EXPECT_EQ(XmlLint(svg), "");
  EXPECT_THAT(svg, HasSubstr("<title>all ("));
}

}  // namespace
}  // namespace pystrobe
