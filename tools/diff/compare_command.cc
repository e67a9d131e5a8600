// pystrobe-diff compare BASE NEW: per-function comparison, reports, the
// differential flame graph and the CI gate's exit code.

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "diff_cli.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/diff/diff_flamegraph.h"
#include "pystrobe/diff/report.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe::diff_cli {
namespace {

constexpr char kUsage[] =
    "usage: pystrobe-diff compare BASE NEW [options]\n"
    "\n"
    "Compares two profiles per function and tells which functions got\n"
    "slower, by how much, and whether that is real or sampling noise.\n"
    "BASE is a pprof file or a stored baseline: NAME (its latest entry),\n"
    "NAME@N (entry N), or NAME with --last K (the last K entries merged;\n"
    "their spread counts as noise). NEW is a pprof file.\n"
    "\n"
    "  --store DIR            baseline store (default .pystrobe/baselines)\n"
    "  --last K               merge the last K entries of baseline BASE\n"
    "  --threshold PCT        minimum increase that matters (default 10)\n"
    "  --fail-on-regression   exit 1 when a function regressed\n"
    "  --fail-on-new          exit 1 when a new function is above the floor\n"
    "  --metric self|total    what decides (default self; both are shown)\n"
    "  --normalize share|none share of all samples (default; profiles of\n"
    "                         different lengths compare fairly) or absolute\n"
    "                         seconds (recorded runs of the same script)\n"
    "  --alpha A              family-wise significance level (default 0.05)\n"
    "  --min-share S          noise floor, a share (0.005) or percent (0.5%)\n"
    "  --top N                show at most N functions (table: 25)\n"
    "  --ignore REGEX         drop functions whose \"name file\" matches\n"
    "                         (repeatable)\n"
    "  --only-regressions     show only regressions\n"
    "  --by function|line     granularity (default function)\n"
    "  --format table|json|csv|markdown   report on stdout (default table)\n"
    "  --flamegraph FILE.svg  write a differential flame graph (widths from\n"
    "                         NEW; red: more time, blue: less)\n"
    "  --sample-type TYPE     weigh by this sample type (wall, cpu, samples)\n"
    "  --color auto|always|never   colours in the table (default auto: a "
    "TTY)\n"
    "\n"
    "Exit status: 0 no regression (or not asked to fail), 1 regression with\n"
    "--fail-on-regression (or new function with --fail-on-new), 2 bad input.\n";

enum class Format { kTable, kJson, kCsv, kMarkdown };

struct CompareArgs {
  std::string base;
  std::string now;
  std::string store = kDefaultStore;
  int last = 0;
  CompareOptions compare;
  bool fail_on_regression = false;
  TableOptions table;
  int top = 0;
  bool only_regressions = false;
  Format format = Format::kTable;
  std::string flamegraph;
  std::string color = "auto";
};

bool ParseDouble(const std::string& s, double* out) {
  return absl::SimpleAtod(s, out) && std::isfinite(*out);
}

// Returns an empty string on success, else the message.
std::string Parse(const std::vector<std::string>& argv, CompareArgs* a,
                  bool* help) {
  Args args(argv);
  std::vector<std::string> positional;
  std::string error;
  std::string v;
  for (; !args.Done(); args.Next()) {
    const std::string& cur = args.Current();
    if (cur == "-h" || cur == "--help") {
      *help = true;
      return "";
    }
    if (args.Flag("--fail-on-regression")) {
      a->fail_on_regression = true;
    } else if (args.Flag("--fail-on-new")) {
      a->compare.fail_on_new = true;
    } else if (args.Flag("--only-regressions")) {
      a->only_regressions = true;
    } else if (args.Option("--store", &v, &error)) {
      a->store = v;
    } else if (args.Option("--last", &v, &error)) {
      if (error.empty() && (!absl::SimpleAtoi(v, &a->last) || a->last <= 0)) {
        return "--last wants a positive number, not '" + v + "'";
      }
    } else if (args.Option("--threshold", &v, &error)) {
      absl::string_view t(v);
      absl::ConsumeSuffix(&t, "%");
      if (error.empty() &&
          (!ParseDouble(std::string(t), &a->compare.threshold_pct) ||
           a->compare.threshold_pct < 0)) {
        return "--threshold wants a percentage >= 0, not '" + v + "'";
      }
    } else if (args.Option("--alpha", &v, &error)) {
      if (error.empty() && (!ParseDouble(v, &a->compare.alpha) ||
                            a->compare.alpha <= 0 || a->compare.alpha >= 1)) {
        return "--alpha wants a number between 0 and 1, not '" + v + "'";
      }
    } else if (args.Option("--min-share", &v, &error)) {
      absl::string_view s(v);
      const bool percent = absl::ConsumeSuffix(&s, "%");
      double x = 0;
      if (error.empty() && (!ParseDouble(std::string(s), &x) || x < 0 ||
                            (percent ? x : x * 100) >= 100)) {
        return "--min-share wants a share like 0.005 or 0.5%, not '" + v + "'";
      }
      a->compare.min_share = percent ? x / 100 : x;
    } else if (args.Option("--metric", &v, &error)) {
      if (v == "self") {
        a->compare.metric = Metric::kSelf;
      } else if (v == "total") {
        a->compare.metric = Metric::kTotal;
      } else if (error.empty()) {
        return "--metric wants self or total, not '" + v + "'";
      }
    } else if (args.Option("--normalize", &v, &error)) {
      if (v == "share") {
        a->compare.normalize = Normalize::kShare;
      } else if (v == "none") {
        a->compare.normalize = Normalize::kNone;
      } else if (error.empty()) {
        return "--normalize wants share or none, not '" + v + "'";
      }
    } else if (args.Option("--top", &v, &error)) {
      if (error.empty() && (!absl::SimpleAtoi(v, &a->top) || a->top <= 0)) {
        return "--top wants a positive number, not '" + v + "'";
      }
    } else if (args.Option("--ignore", &v, &error)) {
      a->table.ignore.push_back(v);
    } else if (args.Option("--by", &v, &error)) {
      if (v == "function") {
        a->table.by = Granularity::kFunction;
      } else if (v == "line") {
        a->table.by = Granularity::kLine;
      } else if (error.empty()) {
        return "--by wants function or line, not '" + v + "'";
      }
    } else if (args.Option("--format", &v, &error)) {
      if (v == "table") {
        a->format = Format::kTable;
      } else if (v == "json") {
        a->format = Format::kJson;
      } else if (v == "csv") {
        a->format = Format::kCsv;
      } else if (v == "markdown" || v == "md") {
        a->format = Format::kMarkdown;
      } else if (error.empty()) {
        return "--format wants table, json, csv or markdown, not '" + v + "'";
      }
    } else if (args.Option("--flamegraph", &v, &error)) {
      a->flamegraph = v;
    } else if (args.Option("--sample-type", &v, &error)) {
      a->table.sample_type = v;
    } else if (args.Option("--color", &v, &error)) {
      if (error.empty() && v != "auto" && v != "always" && v != "never") {
        return "--color wants auto, always or never, not '" + v + "'";
      }
      a->color = v;
    } else if (cur.size() > 1 && cur[0] == '-') {
      return "unknown option '" + cur + "' (see pystrobe-diff compare --help)";
    } else {
      positional.push_back(cur);
    }
    if (!error.empty()) return error;
  }
  if (positional.size() != 2) {
    return "compare wants BASE and NEW (see pystrobe-diff compare --help)";
  }
  a->base = positional[0];
  a->now = positional[1];
  return "";
}

std::string TypeName(const ValueType& t) {
  return absl::StrCat(t.type, "/", t.unit);
}

std::string TypeList(const Profile& p) {
  std::vector<std::string> names;
  for (const ValueType& t : p.sample_types) names.push_back(TypeName(t));
  return absl::StrJoin(names, ", ");
}

// The sample type both sides are weighed by: --sample-type, else NEW's
// default, else NEW's last. Every base must have it, with the same unit.
absl::StatusOr<ValueType> ChooseSampleType(
    const std::vector<LoadedProfile>& bases, const LoadedProfile& now,
    const std::string& wanted) {
  const Profile& p = now.profile;
  int index = static_cast<int>(p.sample_types.size()) - 1;
  const std::string name = wanted.empty() ? p.default_sample_type : wanted;
  if (!name.empty()) {
    const int i = p.SampleTypeIndex(name);
    if (i < 0 && !wanted.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(now.label, " has no sample type '", wanted, "' (it has ",
                       TypeList(p), ")"));
    }
    if (i >= 0) index = i;
  }
  const ValueType type = p.sample_types[index];
  for (const LoadedProfile& b : bases) {
    bool found = false;
    for (const ValueType& t : b.profile.sample_types) found |= t == type;
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sample types do not match: ", now.label, " is weighed in ",
          TypeName(type), ", ", b.label, " has only ", TypeList(b.profile)));
    }
  }
  return type;
}

}  // namespace

int RunCompare(const std::vector<std::string>& argv) {
  CompareArgs a;
  bool help = false;
  const std::string usage_error = Parse(argv, &a, &help);
  if (help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (!usage_error.empty()) {
    PrintError(usage_error);
    return kExitBadInput;
  }

  BaselineStore store(a.store);
  std::string base_label;
  absl::StatusOr<std::vector<LoadedProfile>> bases =
      LoadBase(store, a.base, a.last, &base_label);
  if (!bases.ok()) {
    PrintError(bases.status());
    return kExitBadInput;
  }
  absl::StatusOr<LoadedProfile> now = LoadProfileFile(a.now);
  if (!now.ok()) {
    PrintError(now.status());
    return kExitBadInput;
  }
  absl::StatusOr<ValueType> type =
      ChooseSampleType(*bases, *now, a.table.sample_type);
  if (!type.ok()) {
    PrintError(type.status());
    return kExitBadInput;
  }
  TableOptions table = a.table;
  table.sample_type = type->type;

  std::vector<FunctionTable> base_tables;
  for (const LoadedProfile& b : *bases) {
    absl::StatusOr<FunctionTable> t = BuildFunctionTable(b.profile, table);
    if (!t.ok()) {
      PrintError(absl::StrCat(b.label, ": ", t.status().message()));
      return kExitBadInput;
    }
    base_tables.push_back(*std::move(t));
  }
  absl::StatusOr<FunctionTable> now_table =
      BuildFunctionTable(now->profile, table);
  if (!now_table.ok()) {
    PrintError(absl::StrCat(now->label, ": ", now_table.status().message()));
    return kExitBadInput;
  }
  absl::StatusOr<Comparison> c = Compare(base_tables, *now_table, a.compare);
  if (!c.ok()) {
    PrintError(c.status());
    return kExitBadInput;
  }

  ReportOptions r;
  r.base_label = base_label;
  r.new_label = a.now;
  r.compare = a.compare;
  r.only_regressions = a.only_regressions;
  // A terminal table shows the rows that matter; --top widens it.
  r.top = a.top > 0 ? a.top : (a.format == Format::kTable ? 25 : 0);
  r.color = a.format == Format::kTable &&
            (a.color == "always" ||
             (a.color == "auto" && isatty(STDOUT_FILENO) != 0 &&
              std::getenv("NO_COLOR") == nullptr));
  std::string report;
  switch (a.format) {
    case Format::kTable:
      report = RenderTable(*c, r);
      break;
    case Format::kJson:
      report = RenderJson(*c, r);
      break;
    case Format::kCsv:
      report = RenderCsv(*c, r);
      break;
    case Format::kMarkdown:
      report = RenderMarkdown(*c, r);
      break;
  }

  if (!a.flamegraph.empty()) {
    std::vector<const Profile*> base_profiles;
    for (const LoadedProfile& b : *bases) base_profiles.push_back(&b.profile);
    DiffFlameGraphOptions f;
    f.sample_type = type->type;
    f.normalize = a.compare.normalize;
    f.lines = a.table.by == Granularity::kLine;
    f.title = absl::StrCat("pystrobe-diff: ", base_label, " -> ", a.now);
    absl::StatusOr<std::string> svg =
        RenderDiffFlameGraph(base_profiles, now->profile, f);
    absl::Status written =
        svg.ok() ? WriteFileAtomically(a.flamegraph, *svg) : svg.status();
    if (!written.ok()) {
      PrintError(written);
      return kExitBadInput;
    }
  }

  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);
  if (!a.flamegraph.empty()) {
    std::fprintf(stderr, "wrote the differential flame graph to %s\n",
                 a.flamegraph.c_str());
  }
  const bool fail = (a.fail_on_regression && c->regressions > 0) ||
                    (a.compare.fail_on_new && c->new_functions > 0);
  return fail ? kExitRegression : kExitOk;
}

}  // namespace pystrobe::diff_cli
