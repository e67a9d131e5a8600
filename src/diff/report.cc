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
std::string FormatValue(const Comparison& c, const ReportOptions&, double v) {
  if (!c.fixed_work) {
    return absl::StrFormat("%.2f%%", 100 * v);
  }
  if (IsNanoseconds(c)) return absl::StrFormat("%.3fs", v);
  return absl::StrFormat("%.6g", v);
}

std::string FormatPct(double pct) {
  if (std::isinf(pct)) return pct > 0 ? "new" : "gone";
  if (std::isnan(pct)) return "-";
  if (std::fabs(pct) < 10) return absl::StrFormat("%+.1f%%", pct);
  return absl::StrFormat("%+.0f%%", pct);
}

std::string FormatDelta(const FunctionDiff& d) {
  if (d.verdict == Verdict::kNew || std::isinf(d.delta_pct)) return "new";
  if (d.verdict == Verdict::kGone) return "gone";
  return FormatPct(d.delta_pct);
}

// Per metric delta of a row, "new"/"gone" where a side is absent.
std::string FormatMetricDelta(const FunctionDiff& d, double pct) {
  if (d.verdict == Verdict::kNew) return "new";
  if (d.verdict == Verdict::kGone) return "gone";
  return FormatPct(pct);
}

// The smallest detectable change: "12%", or "-" when it could not be known.
std::string FormatDetectable(double pct) {
  if (!std::isfinite(pct)) return "-";
  if (pct >= 1000) return ">999%";
  return absl::StrFormat("%.0f%%", pct);
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

std::string ValueUnit(const Comparison& c, const ReportOptions&) {
  if (!c.fixed_work) return "share";
  return IsNanoseconds(c) ? "seconds" : c.value_type.unit;
}

std::string Plural(int n, absl::string_view word) {
  return absl::StrCat(n, " ", word, n == 1 ? "" : "s");
}

// "wall time share, self decides, threshold +10%, alpha 0.05, floor 0.5%".
std::string Settings(const Comparison& c, const ReportOptions& o) {
  const std::string what =
      !c.fixed_work
          ? absl::StrCat(c.value_type.type, " share of the base's total")
          : absl::StrCat(c.value_type.type, " ",
                         IsNanoseconds(c) ? "seconds" : c.value_type.unit,
                         " per run");
  return absl::StrFormat(
      "%s; %s decide%s; threshold +%g%%, alpha %g, noise floor %g%% share; "
      "%d vs %d replicates%s%s",
      what, c.metric == Metric::kBoth ? "self and total" : MetricName(c.metric),
      c.metric == Metric::kBoth ? "" : "s", o.compare.threshold_pct,
      o.compare.alpha, 100 * o.compare.min_share, c.runs_base, c.runs_new,
      c.paired ? " (interleaved pairs)" : "",
      c.samples_base > 0 ? absl::StrFormat(" of ~%.0f vs ~%.0f samples",
                                           c.samples_base, c.samples_new)
                         : std::string());
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
  if (c.overloaded) {
    return absl::StrCat(
        "INCONCLUSIVE: ", c.inconclusive_reason,
        c.regressions > 0
            ? absl::StrCat(" (", Plural(c.regressions, "apparent regression"),
                           " not judged)")
            : "");
  }
  std::vector<std::string> named;
  std::vector<std::string> new_named;
  for (const FunctionDiff& d : c.rows) {
    if (d.verdict == Verdict::kRegression && !d.affected && named.size() < 3) {
      std::string item = absl::StrCat(FunctionLabel(d.key), " ", FormatDelta(d),
                                      " ", MetricName(d.decided_by));
      if (d.decided_by == Metric::kTotal && !d.cause.empty()) {
        absl::StrAppend(&item, ": ", d.cause);
      }
      // The callers whose totals grew with it, the largest first.
      std::vector<std::string> affected;
      int more_affected = 0;
      for (const FunctionDiff& a : c.rows) {
        if (!a.affected || a.explained_by != d.key.name) continue;
        if (affected.size() < 2) {
          affected.push_back(
              absl::StrCat(FunctionLabel(a.key), " ", FormatDelta(a)));
        } else {
          ++more_affected;
        }
      }
      if (!affected.empty()) {
        absl::StrAppend(&item, ", affecting ", absl::StrJoin(affected, ", "),
                        more_affected > 0
                            ? absl::StrCat(" and ", more_affected, " more")
                            : "",
                        " total");
      }
      named.push_back(std::move(item));
    }
    // Rows are sorted by impact: the first new ones are those above the
    // noise floor, which new_functions counts.
    if (d.verdict == Verdict::kNew &&
        static_cast<int>(new_named.size()) < std::min(3, c.new_functions)) {
      new_named.push_back(FunctionLabel(d.key));
    }
  }
  auto more = [](int n, const std::vector<std::string>& shown) {
    return n > static_cast<int>(shown.size()) ? "; ..." : "";
  };
  if (c.regressions > 0) {
    return absl::StrCat("FAIL: ", Plural(c.regressions, "regression"), " (",
                        absl::StrJoin(named, "; "), more(c.regressions, named),
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
  const std::string noted =
      notes.empty() ? "" : absl::StrCat(" (", absl::StrJoin(notes, ", "), ")");
  if (!c.conclusive) {
    return absl::StrCat("INCONCLUSIVE: no regression found", noted, ", but ",
                        c.inconclusive_reason, " (", c.remedy, ")");
  }
  return absl::StrCat("OK: no regression", noted);
}

std::string WholeRunLine(const Comparison& c) {
  std::string out;
  if (c.fixed_work) {
    out = absl::StrFormat("Whole run: %.3fs -> %.3fs sampled per run (%s)",
                          c.whole.base, c.whole.now,
                          FormatPct(c.whole.delta_pct));
    if (c.whole.base_cpu_s >= 0 && c.whole.new_cpu_s >= 0) {
      absl::StrAppendFormat(&out, ", CPU %.3fs -> %.3fs per run",
                            c.whole.base_cpu_s, c.whole.new_cpu_s);
    }
    if (c.whole.speed_scale != 1) {
      absl::StrAppendFormat(
          &out,
          "; NEW ran at %.2fx the base's time overall (machine speed or a "
          "change everywhere): function times are compared at equal speed",
          c.whole.speed_scale);
    }
  } else {
    out = absl::StrFormat(
        "Whole recording: %.1fs -> %.1fs sampled per replicate; compared as "
        "shares",
        c.whole.base, c.whole.now);
  }
  // Worth a word once the machine made the threads wait noticeably.
  if (std::max(c.whole.base_wait_share, c.whole.new_wait_share) >= 0.05) {
    absl::StrAppendFormat(
        &out, "; waited for a CPU: %s -> %s of the runnable time",
        c.whole.base_wait_share < 0
            ? std::string("?")
            : absl::StrFormat("%.0f%%", 100 * c.whole.base_wait_share),
        c.whole.new_wait_share < 0
            ? std::string("?")
            : absl::StrFormat("%.0f%%", 100 * c.whole.new_wait_share));
  }
  return out;
}

// "  render_page: time grew in spin called from render_page" per regression.
std::string CauseLines(const Comparison& c, const char* indent) {
  std::string out;
  for (const FunctionDiff& d : c.rows) {
    if (d.verdict != Verdict::kRegression || d.cause.empty() || d.affected) {
      continue;
    }
    absl::StrAppend(&out, indent, FunctionLabel(d.key), " ", FormatDelta(d),
                    " ", MetricName(d.decided_by), ": ", d.cause, "\n");
    std::vector<std::string> callers;
    for (const FunctionDiff& a : c.rows) {
      if (a.affected && a.explained_by == d.key.name) {
        callers.push_back(
            absl::StrCat(FunctionLabel(a.key), " ", FormatDelta(a)));
      }
    }
    if (!callers.empty()) {
      absl::StrAppend(&out, indent, "  callers whose total grew with it: ",
                      absl::StrJoin(callers, ", "), "\n");
    }
  }
  return out;
}

std::string RenderTable(const Comparison& c, const ReportOptions& options) {
  const std::vector<const FunctionDiff*> rows = SelectRows(c, options);
  std::vector<std::vector<std::string>> cells;
  cells.push_back({"function", "file", "base self", "new self", "base total",
                   "new total", "d self", "d total", "detect", "p-value",
                   "verdict"});
  for (const FunctionDiff* d : rows) {
    std::string verdict = VerdictName(d->verdict);
    if (d->verdict == Verdict::kRegression ||
        d->verdict == Verdict::kImprovement) {
      absl::StrAppend(&verdict, " (", MetricName(d->decided_by), ")");
    }
    cells.push_back({ClipRight(FunctionLabel(d->key), kMaxFunctionWidth),
                     ClipLeft(FileLabel(d->key), kMaxFileWidth),
                     FormatValue(c, options, d->base_self),
                     FormatValue(c, options, d->new_self),
                     FormatValue(c, options, d->base_total),
                     FormatValue(c, options, d->new_total),
                     FormatMetricDelta(*d, d->self_delta_pct),
                     FormatMetricDelta(*d, d->total_delta_pct),
                     FormatDetectable(d->detectable_pct), FormatP(d->p_value),
                     verdict});
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
  const std::string causes = CauseLines(c, "  ");
  if (!causes.empty())
    absl::StrAppend(&out, "\nWhere the time grew:\n", causes);
  absl::StrAppend(&out, "\n", WholeRunLine(c), "\n");
  absl::StrAppend(&out,
                  "detect: the smallest change the data could have "
                  "shown (alpha, 80% power).\n");
  absl::StrAppend(&out, kCallsNote, "\nMethod: ", c.method, "\n");
  const std::string verdict = VerdictLine(c);
  if (options.color) {
    const char* color = c.failed ? kRed : (c.conclusive ? kGreen : "\x1b[33m");
    absl::StrAppend(&out, kBold, color, verdict, kReset, "\n");
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
  absl::StrAppend(&out, "  \"conclusive\": ", c.conclusive ? "true" : "false",
                  ",\n");
  absl::StrAppend(&out, "  \"covered_share\": ", JsonNumber(c.covered_share),
                  ",\n");
  absl::StrAppend(
      &out, "  \"inconclusive_reason\": ", str(c.inconclusive_reason), ",\n");
  absl::StrAppend(&out, "  \"suggested_runs\": ", c.suggested_runs, ",\n");
  absl::StrAppend(&out, "  \"suggested_rate_hz\": ", c.suggested_rate_hz,
                  ",\n");
  absl::StrAppend(&out, "  \"remedy\": ", str(c.remedy), ",\n");
  absl::StrAppend(&out, "  \"sampling_share\": ", c.sampling_share, ",\n");
  absl::StrAppend(&out, "  \"samples_base\": ", c.samples_base, ",\n");
  absl::StrAppend(&out, "  \"samples_new\": ", c.samples_new, ",\n");
  absl::StrAppend(&out, "  \"paired\": ", c.paired ? "true" : "false", ",\n");
  absl::StrAppend(&out, "  \"runs_base\": ", c.runs_base, ",\n");
  absl::StrAppend(&out, "  \"runs_new\": ", c.runs_new, ",\n");
  absl::StrAppend(&out, "  \"replicates\": ", str(c.replicates), ",\n");
  absl::StrAppend(&out, "  \"fixed_work\": ", c.fixed_work ? "true" : "false",
                  ",\n");
  absl::StrAppend(
      &out, "  \"whole_run\": {\"base_s\": ", JsonNumber(c.whole.base),
      ", \"new_s\": ", JsonNumber(c.whole.now),
      ", \"delta_pct\": ", JsonNumber(c.whole.delta_pct),
      ", \"speed_scale\": ", JsonNumber(c.whole.speed_scale),
      ", \"base_cpu_s\": ",
      JsonNumber(c.whole.base_cpu_s < 0 ? NAN : c.whole.base_cpu_s),
      ", \"new_cpu_s\": ",
      JsonNumber(c.whole.new_cpu_s < 0 ? NAN : c.whole.new_cpu_s),
      ", \"base_wait_share\": ",
      JsonNumber(c.whole.base_wait_share < 0 ? NAN : c.whole.base_wait_share),
      ", \"new_wait_share\": ",
      JsonNumber(c.whole.new_wait_share < 0 ? NAN : c.whole.new_wait_share),
      "},\n");
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
  absl::StrAppend(&out, "  \"metric\": ", str(MetricName(c.metric)), ",\n");
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
        ", \"self_delta_pct\": ", JsonNumber(d.self_delta_pct),
        ", \"total_delta_pct\": ", JsonNumber(d.total_delta_pct),
        ", \"decided_by\": ", str(MetricName(d.decided_by)),
        ", \"p_value\": ", JsonNumber(d.p_value),
        ", \"detectable_pct\": ", JsonNumber(d.detectable_pct),
        ", \"cause\": ", d.cause.empty() ? "null" : str(d.cause),
        ", \"explained_by\": ",
        d.explained_by.empty() ? "null" : str(d.explained_by),
        ", \"above_floor\": ", d.above_floor ? "true" : "false",
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
      "delta_pct,p_value,impact,values,calls,detectable_pct,decided_by,"
      "cause,explained_by\r\n";
  const std::string unit = ValueUnit(c, options);
  for (const FunctionDiff* d : SelectRows(c, options)) {
    absl::StrAppend(&out, field(d->key.name), ",", field(d->key.file), ",",
                    d->key.line, ",", VerdictName(d->verdict), ",",
                    num(d->base_self), ",", num(d->new_self), ",",
                    num(d->base_total), ",", num(d->new_total), ",",
                    num(d->delta_pct), ",", num(d->p_value), ",",
                    num(d->impact), ",", unit, ",not measured,",
                    num(d->detectable_pct), ",", MetricName(d->decided_by), ",",
                    field(d->cause), ",", field(d->explained_by), "\r\n");
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
      "new total | delta | detectable | p |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
      "|\n");
  for (const FunctionDiff* d : rows) {
    const bool bold = d->verdict == Verdict::kRegression;
    absl::StrAppend(&out, "| ", bold ? "**" : "", VerdictName(d->verdict),
                    bold ? "**" : "", " | `", cell(FunctionLabel(d->key)),
                    "` | ", cell(ClipLeft(FileLabel(d->key), kMaxFileWidth)),
                    " | ", FormatValue(c, o, d->base_self), " | ",
                    FormatValue(c, o, d->new_self), " | ",
                    FormatValue(c, o, d->base_total), " | ",
                    FormatValue(c, o, d->new_total), " | ", FormatDelta(*d),
                    d->verdict == Verdict::kRegression ||
                            d->verdict == Verdict::kImprovement
                        ? absl::StrCat(" ", MetricName(d->decided_by))
                        : "",
                    " | ", FormatDetectable(d->detectable_pct), " | ",
                    FormatP(d->p_value), " |\n");
  }
  if (total_rows > rows.size()) {
    absl::StrAppend(&out, "\n", total_rows - rows.size(),
                    " more functions not shown.\n");
  }
  const std::string causes = CauseLines(c, "- ");
  if (!causes.empty()) {
    absl::StrAppend(&out, "\n**Where the time grew**\n\n", causes, "\n");
  }
  absl::StrAppend(&out, "\n", WholeRunLine(c), ".\n");
  absl::StrAppend(&out, "\n<sub>Method: ", cell(c.method), ". ", kCallsNote,
                  "</sub>\n");
  return out;
}

}  // namespace pystrobe
