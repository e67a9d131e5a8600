// Renderers of a Comparison. Numbers are formatted deterministically (fixed
// precision, no locale) so that reports can be golden-tested and diffed.

#include "pystrobe/diff/report.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "pystrobe/base/text.h"

namespace pystrobe {
namespace {

constexpr char kCallsNote[] =
    "Calls: not measured. A sampling profiler sees where time goes, not how "
    "often a function was called.";
constexpr int kMarkdownDefaultTop = 20;
constexpr size_t kMaxFunctionWidth = 60;
constexpr size_t kMaxFileWidth = 40;

constexpr char kRed[] = "\x1b[31m";
constexpr char kGreen[] = "\x1b[32m";
constexpr char kBold[] = "\x1b[1m";
constexpr char kReset[] = "\x1b[0m";

bool IsNanoseconds(const Comparison& c) {
  return c.value_type.unit == "nanoseconds";
}

// A value of a row as people read it: a share in percent, or seconds.
std::string FormatValue(const Comparison& c, const ReportOptions& o, double v) {
  if (o.compare.normalize == Normalize::kShare) {
    return absl::StrFormat("%.2f%%", 100 * v);
  }
  if (IsNanoseconds(c)) return absl::StrFormat("%.3fs", v);
  return absl::StrFormat("%.6g", v);
}

std::string FormatDelta(const FunctionDiff& d) {
  if (d.verdict == Verdict::kNew || std::isinf(d.delta_pct)) return "new";
  if (d.verdict == Verdict::kGone) return "gone";
  if (std::isnan(d.delta_pct)) return "-";
  if (std::fabs(d.delta_pct) < 10)
    return absl::StrFormat("%+.1f%%", d.delta_pct);
  return absl::StrFormat("%+.0f%%", d.delta_pct);
}

std::string FormatP(double p) {
  if (std::isnan(p)) return "-";
  if (p < 0.001) return "<0.001";
  return absl::StrFormat("%.3f", p);
}

// A number for JSON: finite values with 6 significant digits, else null.
std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

std::string FunctionLabel(const FunctionKey& k) {
  return k.line > 0 ? absl::StrCat(k.name, ":", k.line) : k.name;
}

std::string FileLabel(const FunctionKey& k) {
  return k.line > 0 ? absl::StrCat(k.file, ":", k.line) : k.file;
}

// Keeps the end of a long path (the file name is what people look for) and
// the start of a long function name.
std::string ClipLeft(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  return absl::StrCat("...", s.substr(s.size() - (width - 3)));
}
std::string ClipRight(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  return absl::StrCat(s.substr(0, width - 3), "...");
}

std::string ValueUnit(const Comparison& c, const ReportOptions& o) {
  if (o.compare.normalize == Normalize::kShare) return "share";
  return IsNanoseconds(c) ? "seconds" : c.value_type.unit;
}

const char* MetricName(Metric m) {
  return m == Metric::kSelf ? "self" : "total";
}

std::string Plural(int n, absl::string_view word) {
  return absl::StrCat(n, " ", word, n == 1 ? "" : "s");
}

// "wall time share, self decides, threshold +10%, alpha 0.05, floor 0.5%".
std::string Settings(const Comparison& c, const ReportOptions& o) {
  const std::string what =
      o.compare.normalize == Normalize::kShare
          ? absl::StrCat(c.value_type.type, " share of all samples")
          : absl::StrCat(c.value_type.type, " in ",
                         IsNanoseconds(c) ? "seconds" : c.value_type.unit);
  return absl::StrFormat(
      "%s; %s decides; threshold +%g%%, alpha %g, noise floor %g%% share", what,
      MetricName(o.compare.metric), o.compare.threshold_pct, o.compare.alpha,
      100 * o.compare.min_share);
}

std::string BaseDescription(const Comparison& c, const ReportOptions& o) {
  std::string base = o.base_label.empty() ? "base" : o.base_label;
  if (c.base_entries > 1) {
    absl::StrAppend(&base, " (", c.base_entries, " entries merged)");
  }
  return base;
}

int Rank(Verdict v) {
  switch (v) {
    case Verdict::kRegression:
      return 0;
    case Verdict::kNew:
      return 1;
    case Verdict::kImprovement:
      return 2;
    case Verdict::kGone:
      return 3;
    case Verdict::kUnchanged:
      return 4;
  }
  return 5;
}

}  // namespace

// New and gone functions below the noise floor are noise: they rank with
// the unchanged rows, after the ones that matter.
int RowRank(const FunctionDiff& d) {
  if ((d.verdict == Verdict::kNew || d.verdict == Verdict::kGone) &&
      !d.above_floor) {
    return Rank(Verdict::kUnchanged);
  }
  return Rank(d.verdict);
}

std::vector<const FunctionDiff*> SelectRows(const Comparison& c,
                                            const ReportOptions& options) {
  std::vector<const FunctionDiff*> rows;
  for (const FunctionDiff& d : c.rows) {
    if (options.only_regressions && d.verdict != Verdict::kRegression &&
        !(options.compare.fail_on_new && d.verdict == Verdict::kNew)) {
      continue;
    }
    rows.push_back(&d);
  }
  if (options.top > 0 && rows.size() > static_cast<size_t>(options.top)) {
    rows.resize(static_cast<size_t>(options.top));
  }
  return rows;
}

std::string VerdictLine(const Comparison& c) {
  std::vector<std::string> named;
  std::vector<std::string> new_named;
  for (const FunctionDiff& d : c.rows) {
    if (d.verdict == Verdict::kRegression && named.size() < 3) {
      named.push_back(absl::StrCat(FunctionLabel(d.key), " ", FormatDelta(d)));
    }
    // Rows are sorted by impact: the first new ones are those above the
    // noise floor, which new_functions counts.
    if (d.verdict == Verdict::kNew &&
        static_cast<int>(new_named.size()) < std::min(3, c.new_functions)) {
      new_named.push_back(FunctionLabel(d.key));
    }
  }
  auto more = [](int n, const std::vector<std::string>& shown) {
    return n > static_cast<int>(shown.size()) ? ", ..." : "";
  };
  if (c.regressions > 0) {
    return absl::StrCat("FAIL: ", Plural(c.regressions, "regression"), " (",
                        absl::StrJoin(named, ", "), more(c.regressions, named),
                        ")");
  }
  if (c.failed && c.new_functions > 0) {
    return absl::StrCat("FAIL: ", Plural(c.new_functions, "new function"), " (",
                        absl::StrJoin(new_named, ", "),
                        more(c.new_functions, new_named), ")");
  }
  std::vector<std::string> notes;
  if (c.improvements > 0)
    notes.push_back(Plural(c.improvements, "improvement"));
  if (c.new_functions > 0) {
    notes.push_back(Plural(c.new_functions, "new function"));
  }
  if (c.gone_functions > 0) {
    notes.push_back(Plural(c.gone_functions, "gone function"));
  }
  return absl::StrCat(
      "OK: no regression",
      notes.empty() ? "" : absl::StrCat(" (", absl::StrJoin(notes, ", "), ")"));
}

std::string RenderTable(const Comparison& c, const ReportOptions& options) {
  const std::vector<const FunctionDiff*> rows = SelectRows(c, options);
  std::vector<std::vector<std::string>> cells;
  cells.push_back({"function", "file", "base self", "new self", "base total",
                   "new total", "delta", "p-value", "verdict"});
  for (const FunctionDiff* d : rows) {
    cells.push_back({ClipRight(FunctionLabel(d->key), kMaxFunctionWidth),
                     ClipLeft(FileLabel(d->key), kMaxFileWidth),
                     FormatValue(c, options, d->base_self),
                     FormatValue(c, options, d->new_self),
                     FormatValue(c, options, d->base_total),
                     FormatValue(c, options, d->new_total), FormatDelta(*d),
                     FormatP(d->p_value), VerdictName(d->verdict)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) {
      width[i] = std::max(width[i], line[i].size());
    }
  }
  std::string out = absl::StrCat(
      "base: ", BaseDescription(c, options),
      "\nnew:  ", options.new_label.empty() ? "new" : options.new_label, "\n",
      Settings(c, options), "\n\n");
  for (size_t r = 0; r < cells.size(); ++r) {
    const char* color = "";
    if (options.color && r == 0) color = kBold;
    if (options.color && r > 0) {
      const Verdict v = rows[r - 1]->verdict;
      if (v == Verdict::kRegression) color = kRed;
      if (v == Verdict::kImprovement) color = kGreen;
    }
    std::string line;
    for (size_t i = 0; i < cells[r].size(); ++i) {
      const std::string& cell = cells[r][i];
      const std::string pad(width[i] - cell.size(), ' ');
      // Names left-aligned, numbers right-aligned.
      if (i < 2 || i + 1 == cells[r].size()) {
        absl::StrAppend(&line, cell, i + 1 == cells[r].size() ? "" : pad);
      } else {
        absl::StrAppend(&line, pad, cell);
      }
      if (i + 1 < cells[r].size()) line.append("  ");
    }
    absl::StrAppend(&out, color, line, *color != '\0' ? kReset : "", "\n");
  }
  if (rows.empty()) out.append("(no functions to show)\n");
  const size_t hidden = c.rows.size() - rows.size();
  if (hidden > 0) {
    absl::StrAppend(&out, "(", hidden,
                    " more not shown; --top N shows more)\n");
  }
  absl::StrAppend(&out, "\n", kCallsNote, "\nMethod: ", c.method, "\n");
  const std::string verdict = VerdictLine(c);
  if (options.color) {
    absl::StrAppend(&out, kBold, c.failed ? kRed : kGreen, verdict, kReset,
                    "\n");
  } else {
    absl::StrAppend(&out, verdict, "\n");
  }
  return out;
}

std::string RenderJson(const Comparison& c, const ReportOptions& options) {
  auto str = [](absl::string_view s) {
    return JsonQuoted(std::string_view(s.data(), s.size()));
  };
  std::string out = "{\n";
  absl::StrAppend(&out, "  \"verdict\": ", str(VerdictLine(c)), ",\n");
  absl::StrAppend(&out, "  \"failed\": ", c.failed ? "true" : "false", ",\n");
  absl::StrAppend(&out, "  \"regressions\": ", c.regressions, ",\n");
  absl::StrAppend(&out, "  \"improvements\": ", c.improvements, ",\n");
  absl::StrAppend(&out, "  \"new_functions\": ", c.new_functions, ",\n");
  absl::StrAppend(&out, "  \"gone_functions\": ", c.gone_functions, ",\n");
  absl::StrAppend(&out, "  \"base\": ", str(options.base_label), ",\n");
  absl::StrAppend(&out, "  \"base_entries\": ", c.base_entries, ",\n");
  absl::StrAppend(&out, "  \"new\": ", str(options.new_label), ",\n");
  absl::StrAppend(&out, "  \"value_type\": {\"type\": ", str(c.value_type.type),
                  ", \"unit\": ", str(c.value_type.unit), "},\n");
  absl::StrAppend(&out, "  \"values\": ", str(ValueUnit(c, options)), ",\n");
  absl::StrAppend(
      &out, "  \"metric\": ", str(MetricName(options.compare.metric)), ",\n");
  absl::StrAppend(&out, "  \"threshold_pct\": ",
                  JsonNumber(options.compare.threshold_pct), ",\n");
  absl::StrAppend(&out, "  \"alpha\": ", JsonNumber(options.compare.alpha),
                  ",\n");
  absl::StrAppend(
      &out, "  \"min_share\": ", JsonNumber(options.compare.min_share), ",\n");
  absl::StrAppend(&out, "  \"method\": ", str(c.method), ",\n");
  absl::StrAppend(&out, "  \"calls_measured\": false,\n");
  absl::StrAppend(&out, "  \"note\": ", str(kCallsNote), ",\n");
  out.append("  \"functions\": [");
  const std::vector<const FunctionDiff*> rows = SelectRows(c, options);
  for (size_t i = 0; i < rows.size(); ++i) {
    const FunctionDiff& d = *rows[i];
    absl::StrAppend(
        &out, i == 0 ? "\n" : ",\n", "    {\"function\": ", str(d.key.name),
        ", \"file\": ", str(d.key.file), ", \"line\": ", d.key.line,
        ", \"verdict\": ", str(VerdictName(d.verdict)),
        ", \"base_self\": ", JsonNumber(d.base_self),
        ", \"new_self\": ", JsonNumber(d.new_self),
        ", \"base_total\": ", JsonNumber(d.base_total),
        ", \"new_total\": ", JsonNumber(d.new_total),
        ", \"delta_pct\": ", JsonNumber(d.delta_pct),
        ", \"p_value\": ", JsonNumber(d.p_value),
        ", \"impact\": ", JsonNumber(d.impact), ", \"calls\": null}");
  }
  out.append(rows.empty() ? "]\n}\n" : "\n  ]\n}\n");
  return out;
}

std::string RenderCsv(const Comparison& c, const ReportOptions& options) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
  };
  auto num = [](double v) {
    return std::isfinite(v) ? absl::StrFormat("%.6g", v) : std::string();
  };
  std::string out =
      "function,file,line,verdict,base_self,new_self,base_total,new_total,"
      "delta_pct,p_value,impact,values,calls\r\n";
  const std::string unit = ValueUnit(c, options);
  for (const FunctionDiff* d : SelectRows(c, options)) {
    absl::StrAppend(&out, field(d->key.name), ",", field(d->key.file), ",",
                    d->key.line, ",", VerdictName(d->verdict), ",",
                    num(d->base_self), ",", num(d->new_self), ",",
                    num(d->base_total), ",", num(d->new_total), ",",
                    num(d->delta_pct), ",", num(d->p_value), ",",
                    num(d->impact), ",", unit, ",not measured\r\n");
  }
  return out;
}

std::string RenderMarkdown(const Comparison& c, const ReportOptions& options) {
  // Markdown table cells: no pipes, no newlines; code spans for names.
  auto cell = [](const std::string& s) {
    return absl::StrReplaceAll(s, {{"|", "\\|"}, {"\n", " "}, {"`", "'"}});
  };
  ReportOptions o = options;
  if (o.top <= 0) o.top = kMarkdownDefaultTop;
  std::vector<const FunctionDiff*> rows;
  {
    ReportOptions all = o;
    all.top = 0;
    rows = SelectRows(c, all);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const FunctionDiff* a, const FunctionDiff* b) {
                     return RowRank(*a) < RowRank(*b);
                   });
  const size_t total_rows = rows.size();
  if (rows.size() > static_cast<size_t>(o.top)) {
    rows.resize(static_cast<size_t>(o.top));
  }
  std::string out = absl::StrCat("### pystrobe-diff: ", VerdictLine(c), "\n\n");
  absl::StrAppend(&out, "Base `", cell(BaseDescription(c, o)), "` vs new `",
                  cell(o.new_label.empty() ? "new" : o.new_label),
                  "`: ", Settings(c, o), ".\n\n");
  out.append(
      "| verdict | function | file | base self | new self | base total | "
      "new total | delta | p |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const FunctionDiff* d : rows) {
    const bool bold = d->verdict == Verdict::kRegression;
    absl::StrAppend(&out, "| ", bold ? "**" : "", VerdictName(d->verdict),
                    bold ? "**" : "", " | `", cell(FunctionLabel(d->key)),
                    "` | ", cell(ClipLeft(FileLabel(d->key), kMaxFileWidth)),
                    " | ", FormatValue(c, o, d->base_self), " | ",
                    FormatValue(c, o, d->new_self), " | ",
                    FormatValue(c, o, d->base_total), " | ",
                    FormatValue(c, o, d->new_total), " | ", FormatDelta(*d),
                    " | ", FormatP(d->p_value), " |\n");
  }
  if (total_rows > rows.size()) {
    absl::StrAppend(&out, "\n", total_rows - rows.size(),
                    " more functions not shown.\n");
  }
  absl::StrAppend(&out, "\n<sub>Method: ", cell(c.method), ". ", kCallsNote,
                  "</sub>\n");
  return out;
}

}  // namespace pystrobe
