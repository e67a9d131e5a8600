// Reports of a Comparison: a terminal table, JSON, CSV and Markdown.
//
// Every format carries the same rows and columns; the table and Markdown are
// for people (sorted by impact, regressions first in Markdown, a verdict
// line), JSON and CSV for programs (stable field names, raw numbers). All say
// that call counts are not measured: a sampler sees where time goes, not how
// often a function was called.
//
//   ReportOptions r;
//   r.base_label = "api (last 3)";
//   r.new_label = "pr.pb.gz";
//   std::fputs(RenderTable(comparison, r).c_str(), stdout);
#ifndef PYSTROBE_DIFF_REPORT_H_
#define PYSTROBE_DIFF_REPORT_H_

#include <string>
#include <vector>

#include "pystrobe/diff/compare.h"

namespace pystrobe {

struct ReportOptions {
  std::string base_label;  // what BASE was ("api@3", "base.pb.gz")
  std::string new_label;
  CompareOptions compare;  // the options the comparison ran with
  bool color = false;      // ANSI colours (table only; for a TTY)
  bool only_regressions = false;
  int top = 0;  // at most this many rows (0: all; Markdown: 20)
};

// The rows a report shows, in its order, after --only-regressions and --top.
std::vector<const FunctionDiff*> SelectRows(const Comparison& c,
                                            const ReportOptions& options);

// "FAIL: 1 regression (fibonacci +412%)" or "OK: no regression".
std::string VerdictLine(const Comparison& c);

// Aligned columns: function, file, base/new self, base/new total, delta,
// p-value, verdict; a footnote and the verdict line.
std::string RenderTable(const Comparison& c, const ReportOptions& options);

// One object: {"verdict", "failed", counts, "options", "method",
// "calls_measured": false, "functions": [...]}.
std::string RenderJson(const Comparison& c, const ReportOptions& options);

// A header line and one line per function (RFC 4180 quoting).
std::string RenderCsv(const Comparison& c, const ReportOptions& options);

// A compact table for a pull-request comment or a CI job summary.
std::string RenderMarkdown(const Comparison& c, const ReportOptions& options);

}  // namespace pystrobe

#endif  // PYSTROBE_DIFF_REPORT_H_
