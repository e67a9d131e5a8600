// Reports of a hand-built Comparison: golden files for JSON, CSV and
// Markdown (UPDATE_GOLDEN=1 rewrites them), and the table's promises
// (aligned columns, colour only when asked, the verdict line, the note that
// calls are not measured).

#include "pystrobe/diff/report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/diff/compare.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

FunctionDiff Row(const std::string& name, const std::string& file,
                 double base_self, double new_self, double delta, double p,
                 Verdict v) {
  FunctionDiff d;
  d.key = {name, file, 0};
  d.base_self = base_self;
  d.new_self = new_self;
  d.base_total = base_self + 0.01;
  d.new_total = new_self + 0.01;
  d.delta_pct = delta;
  d.p_value = p;
  d.verdict = v;
  d.impact = std::fabs(new_self - base_self);
  // As Compare() decides it with the default noise floor (0.5% share).
  d.above_floor = std::max(base_self, new_self) >= 0.005;
  return d;
}

// Sorted by impact, as Compare() returns it: a regression, a new function
// (a name that needs escaping in every format), an improvement, an
// unchanged function and a gone one.
Comparison Sample() {
  Comparison c;
  c.rows = {
      Row("fibonacci", "/srv/calendar_service.py", 0.02, 0.45, 2150, 1e-9,
          Verdict::kRegression),
      Row("render_month", "/srv/calendar_service.py", 0.30, 0.10, -66.6667,
          0.0004, Verdict::kImprovement),
      Row("Handler.<lambda>, \"q\" | x", "/srv/a,b.py", 0, 0.05,
          std::numeric_limits<double>::infinity(), 0.01, Verdict::kNew),
      Row("fizzbuzz", "/srv/calendar_service.py", 0.20, 0.21, 5, 0.9,
          Verdict::kUnchanged),
      Row("old_helper", "/srv/legacy.py", 0.01, 0, -100, 0.2, Verdict::kGone),
  };
  c.regressions = 1;
  c.improvements = 1;
  c.new_functions = 1;
  c.gone_functions = 1;
  c.failed = true;
  c.value_type = {"wall", "nanoseconds"};
  c.base_entries = 3;
  c.runs_base = 15;
  c.runs_new = 5;
  c.replicates = "base: 15 replicates from 3 baseline entries; new: 5 runs";
  c.samples_base = 1520;
  c.samples_new = 1498;
  c.method = "a test method";
  c.rows[0].decided_by = Metric::kTotal;
  c.rows[0].cause = "time grew in fibonacci called from fun_notification";
  c.rows[0].detectable_pct = 8.5;
  c.whole = {2.0, 2.5, 25, 1, 1.9, 2.4};
  return c;
}

ReportOptions Options() {
  ReportOptions o;
  o.base_label = "calendar@1..@3";
  o.new_label = "v2.pb.gz";
  return o;
}

std::string GoldenPath(const std::string& name) {
  return std::string(PYSTROBE_SOURCE_DIR) + "/tests/data/diff/" + name;
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = GoldenPath(name);
  if (std::getenv("UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing: run with UPDATE_GOLDEN=1";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str())
      << "differs from " << path << " (UPDATE_GOLDEN=1 rewrites it)";
}

TEST(DiffReportTest, JsonMatchesGolden) {
  ExpectGolden("report.json", RenderJson(Sample(), Options()));
}

TEST(DiffReportTest, CsvMatchesGolden) {
  ExpectGolden("report.csv", RenderCsv(Sample(), Options()));
}

TEST(DiffReportTest, MarkdownMatchesGolden) {
  ExpectGolden("report.md", RenderMarkdown(Sample(), Options()));
}

TEST(DiffReportTest, JsonHasNoInfinityAndSaysCallsAreNotMeasured) {
  const std::string json = RenderJson(Sample(), Options());
  EXPECT_THAT(json, Not(HasSubstr("inf")));
  EXPECT_THAT(json, HasSubstr("\"calls_measured\": false"));
  EXPECT_THAT(json, HasSubstr("\"delta_pct\": null"));  // the new function
  EXPECT_THAT(json, HasSubstr(R"("Handler.<lambda>, \"q\" | x")"));
}

TEST(DiffReportTest, CsvQuotesFieldsAndHasOneLinePerRow) {
  const std::string csv = RenderCsv(Sample(), Options());
  const std::vector<std::string> lines =
      absl::StrSplit(csv, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0],
            "function,file,line,verdict,base_self,new_self,base_total,"
            "new_total,delta_pct,p_value,impact,values,calls,detectable_pct,"
            "decided_by,cause,explained_by");
  EXPECT_THAT(csv, HasSubstr(R"("Handler.<lambda>, ""q"" | x","/srv/a,b.py")"));
}

TEST(DiffReportTest, MarkdownPutsRegressionsFirstAndEscapesPipes) {
  Comparison c = Sample();
  // Even when a regression is not the largest change.
  std::swap(c.rows[0], c.rows[1]);
  const std::string md = RenderMarkdown(c, Options());
  EXPECT_LT(md.find("fibonacci"), md.find("render_month"));
  EXPECT_THAT(md, HasSubstr("\\| x"));
  EXPECT_THAT(md, HasSubstr("not measured"));
}

TEST(DiffReportTest, TableColumnsAlignAndVerdictLineNamesTheRegression) {
  const std::string table = RenderTable(Sample(), Options());
  EXPECT_THAT(table, Not(HasSubstr("\x1b[")));
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  // The header and the five rows have the verdict column at the same place.
  size_t header = 0;
  while (header < lines.size() &&
         !absl::StartsWith(lines[header], "function")) {
    ++header;
  }
  ASSERT_LT(header + 5, lines.size()) << table;
  const size_t column = lines[header].find("verdict");
  ASSERT_NE(column, std::string::npos);
  EXPECT_EQ(lines[header + 1].substr(column), "regression (total)") << table;
  EXPECT_EQ(lines[header + 2].substr(column), "improvement (self)") << table;
  EXPECT_EQ(lines[header + 3].substr(column), "new") << table;
  EXPECT_THAT(table, HasSubstr("FAIL: 1 regression (fibonacci +2150% total"));
  EXPECT_THAT(table, HasSubstr("Calls: not measured"));
  EXPECT_THAT(table, HasSubstr("45.00%"));
}

TEST(DiffReportTest, TableColoursRegressionsRedAndImprovementsGreen) {
  ReportOptions o = Options();
  o.color = true;
  const std::string table = RenderTable(Sample(), o);
  EXPECT_THAT(table, HasSubstr("\x1b[31mfibonacci"));
  EXPECT_THAT(table, HasSubstr("\x1b[32mrender_month"));
}

TEST(DiffReportTest, OnlyRegressionsAndTop) {
  ReportOptions o = Options();
  o.only_regressions = true;
  const Comparison c = Sample();
  std::vector<const FunctionDiff*> rows = SelectRows(c, o);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]->key.name, "fibonacci");
  o.only_regressions = false;
  o.top = 2;
  EXPECT_EQ(SelectRows(c, o).size(), 2u);
}

TEST(DiffReportTest, VerdictLines) {
  Comparison c = Sample();
  EXPECT_EQ(VerdictLine(c),
            "FAIL: 1 regression (fibonacci +2150% total: time grew in "
            "fibonacci called from fun_notification)");
  c.regressions = 0;
  c.failed = false;
  c.rows.erase(c.rows.begin());
  EXPECT_EQ(VerdictLine(c),
            "OK: no regression (1 improvement, 1 new function, 1 gone "
            "function)");
  c.failed = true;  // with --fail-on-new
  EXPECT_EQ(VerdictLine(c),
            "FAIL: 1 new function (Handler.<lambda>, \"q\" | x)");
  c.failed = false;
  c.conclusive = false;
  c.inconclusive_reason =
      "a 10% growth was ruled out only for functions holding 20% of the "
      "time";
  c.suggested_runs = 12;
  c.remedy = "record more runs: --repeat 12, +3.5 s per side";
  EXPECT_EQ(VerdictLine(c),
            "INCONCLUSIVE: no regression found (1 improvement, 1 new "
            "function, 1 gone function), but a 10% growth was ruled out "
            "only for functions holding 20% of the time (record more runs: "
            "--repeat 12, +3.5 s per side)");
}

TEST(DiffReportTest, JsonHasTheGateFields) {
  Comparison c = Sample();
  c.conclusive = false;
  const std::string json = RenderJson(c, Options());
  EXPECT_THAT(json, HasSubstr("\"conclusive\": false"));
  EXPECT_THAT(json, HasSubstr("\"runs_base\": 15"));
  EXPECT_THAT(json, HasSubstr("\"runs_new\": 5"));
  c.remedy = "sample faster: --rate 2400, +0 s of CI time";
  c.suggested_rate_hz = 2400;
  const std::string with_remedy = RenderJson(c, Options());
  EXPECT_THAT(with_remedy, HasSubstr("\"suggested_rate_hz\": 2400"));
  EXPECT_THAT(with_remedy, HasSubstr("\"remedy\": \"sample faster: --rate "
                                     "2400, +0 s of CI time\""));
  EXPECT_THAT(json, HasSubstr("\"detectable_pct\": 8.5"));
  EXPECT_THAT(json, HasSubstr("\"cause\": \"time grew in fibonacci called from "
                              "fun_notification\""));
}

TEST(DiffReportTest, SecondsWhenNotNormalized) {
  ReportOptions o = Options();
  Comparison c = Sample();
  c.fixed_work = true;
  c.rows[0].base_self = 1.5;
  EXPECT_THAT(RenderTable(c, o), HasSubstr("1.500s"));
  EXPECT_THAT(RenderJson(c, o), HasSubstr("\"values\": \"seconds\""));
}

}  // namespace
}  // namespace pystrobe
