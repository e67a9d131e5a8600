#include "pystrobe/diff/gate.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "pystrobe/base/text.h"
#include "pystrobe/diff/diff_flamegraph.h"
#include "pystrobe/diff/report.h"
#include "pystrobe/profile/formats.h"
#include "pystrobe/profile/merge.h"

namespace pystrobe {

const char kGateOptionsHelp[] =
    "  --store DIR            baseline store (default .pystrobe/baselines)\n"
    "  --last K               merge the last K entries of baseline BASE (each\n"
    "                         entry's runs are replicates)\n"
    "  --threshold PCT        minimum increase that matters (default 10)\n"
    "  --fail-on-regression   exit 1 when a function regressed\n"
    "  --fail-on-inconclusive exit 3 when the data could not have shown a\n"
    "                         change of the threshold's size\n"
    "  --fail-on-new          exit 1 when a new function is above the floor\n"
    "  --metric both|self|total  what decides (default both: a regression in\n"
    "                         self or in total time)\n"
    "  --normalize auto|time|share|none  auto (default): time per run for\n"
    "                         launched runs (scaled for machine speed),\n"
    "                         robust shares for attached recordings; none:\n"
    "                         raw time per run\n"
    "  --alpha A              family-wise significance level (default 0.05)\n"
    "  --min-share S          noise floor, a share (0.005) or percent (0.5%)\n"
    "  --top N                show at most N functions (table: 25)\n"
    "  --ignore REGEX         drop samples with a function whose \"name "
    "file\"\n"
    "                         matches (repeatable)\n"
    "  --only-regressions     show only regressions\n"
    "  --by function|line     granularity (default function)\n"
    "  --format table|json|csv|markdown   report on stdout (default table)\n"
    "  --flamegraph FILE.svg  write a differential flame graph (widths from\n"
    "                         NEW; red: more time, blue: less)\n"
    "  --sample-type TYPE     weigh by this sample type (wall, cpu, samples)\n"
    "  --native-frames auto|keep|strip  native frames (record --native):\n"
    "                         auto (default) strips them from every side\n"
    "                         when only some sides have them; strip: compare\n"
    "                         Python frames only (C time goes to the caller)\n"
    "  --color auto|always|never   colours in the table (default auto: a "
    "TTY)\n";

namespace {

bool ParseDouble(const std::string& s, double* out) {
  return absl::SimpleAtod(s, out) && std::isfinite(*out);
}

bool Option(const std::vector<std::string>& args, size_t* i, const char* name,
            std::string* value, std::string* error) {
  return MatchOptionValue(args, i, name, value, error);
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

bool ParseGateOption(const std::vector<std::string>& args, size_t* i,
                     GateOptions* a, std::string* error) {
  const std::string& cur = args[*i];
  std::string v;
  if (cur == "--fail-on-regression") {
    a->fail_on_regression = true;
  } else if (cur == "--fail-on-inconclusive") {
    a->fail_on_inconclusive = true;
  } else if (cur == "--fail-on-new") {
    a->compare.fail_on_new = true;
  } else if (cur == "--only-regressions") {
    a->only_regressions = true;
  } else if (Option(args, i, "--store", &v, error)) {
    a->store = v;
  } else if (Option(args, i, "--last", &v, error)) {
    if (error->empty() && (!absl::SimpleAtoi(v, &a->last) || a->last <= 0)) {
      *error = "--last wants a positive number, not '" + v + "'";
    }
  } else if (Option(args, i, "--threshold", &v, error)) {
    absl::string_view t(v);
    absl::ConsumeSuffix(&t, "%");
    if (error->empty() &&
        (!ParseDouble(std::string(t), &a->compare.threshold_pct) ||
         a->compare.threshold_pct < 0)) {
      *error = "--threshold wants a percentage >= 0, not '" + v + "'";
    }
  } else if (Option(args, i, "--alpha", &v, error)) {
    if (error->empty() && (!ParseDouble(v, &a->compare.alpha) ||
                           a->compare.alpha <= 0 || a->compare.alpha >= 1)) {
      *error = "--alpha wants a number between 0 and 1, not '" + v + "'";
    }
  } else if (Option(args, i, "--min-share", &v, error)) {
    absl::string_view s(v);
    const bool percent = absl::ConsumeSuffix(&s, "%");
    double x = 0;
    if (error->empty() && (!ParseDouble(std::string(s), &x) || x < 0 ||
                           (percent ? x : x * 100) >= 100)) {
      *error = "--min-share wants a share like 0.005 or 0.5%, not '" + v + "'";
    }
    a->compare.min_share = percent ? x / 100 : x;
  } else if (Option(args, i, "--metric", &v, error)) {
    if (v == "self") {
      a->compare.metric = Metric::kSelf;
    } else if (v == "total") {
      a->compare.metric = Metric::kTotal;
    } else if (v == "both") {
      a->compare.metric = Metric::kBoth;
    } else if (error->empty()) {
      *error = "--metric wants both, self or total, not '" + v + "'";
    }
  } else if (Option(args, i, "--normalize", &v, error)) {
    if (v == "auto") {
      a->compare.normalize = Normalize::kAuto;
    } else if (v == "time") {
      a->compare.normalize = Normalize::kTime;
    } else if (v == "share") {
      a->compare.normalize = Normalize::kShare;
    } else if (v == "none") {
      a->compare.normalize = Normalize::kNone;
    } else if (error->empty()) {
      *error = "--normalize wants auto, time, share or none, not '" + v + "'";
    }
  } else if (Option(args, i, "--top", &v, error)) {
    if (error->empty() && (!absl::SimpleAtoi(v, &a->top) || a->top <= 0)) {
      *error = "--top wants a positive number, not '" + v + "'";
    }
  } else if (Option(args, i, "--ignore", &v, error)) {
    a->table.ignore.push_back(v);
  } else if (Option(args, i, "--by", &v, error)) {
    if (v == "function") {
      a->table.by = Granularity::kFunction;
    } else if (v == "line") {
      a->table.by = Granularity::kLine;
    } else if (error->empty()) {
      *error = "--by wants function or line, not '" + v + "'";
    }
  } else if (Option(args, i, "--format", &v, error)) {
    if (v == "table") {
      a->format = ReportFormat::kTable;
    } else if (v == "json") {
      a->format = ReportFormat::kJson;
    } else if (v == "csv") {
      a->format = ReportFormat::kCsv;
    } else if (v == "markdown" || v == "md") {
      a->format = ReportFormat::kMarkdown;
    } else if (error->empty()) {
      *error = "--format wants table, json, csv or markdown, not '" + v + "'";
    }
  } else if (Option(args, i, "--flamegraph", &v, error)) {
    a->flamegraph = v;
  } else if (Option(args, i, "--sample-type", &v, error)) {
    a->table.sample_type = v;
  } else if (Option(args, i, "--native-frames", &v, error)) {
    if (v == "auto") {
      a->native = NativeFrames::kAuto;
    } else if (v == "keep") {
      a->native = NativeFrames::kKeep;
    } else if (v == "strip") {
      a->native = NativeFrames::kStrip;
    } else if (error->empty()) {
      *error = "--native-frames wants auto, keep or strip, not '" + v + "'";
    }
  } else if (Option(args, i, "--color", &v, error)) {
    if (error->empty() && v != "auto" && v != "always" && v != "never") {
      *error = "--color wants auto, always or never, not '" + v + "'";
    }
    a->color = v;
  } else {
    return false;
  }
  return true;
}

namespace {

// Strips native frames from every profile when `mode` says so (see
// NativeFrames): from `bases` in place, from `now` into *now_stripped (set
// only when `now` had some). Returns how the comparison treated them, for
// its method line ("" when nothing was stripped).
std::string ApplyNativeFrames(NativeFrames mode, const LoadedProfile& now,
                              std::vector<LoadedProfile>* bases,
                              std::optional<LoadedProfile>* now_stripped) {
  if (mode == NativeFrames::kKeep) return "";
  std::vector<std::string> with;
  std::vector<std::string> without;
  const bool now_native = HasNativeFrames(now.profile);
  (now_native ? with : without).push_back(now.label);
  for (const LoadedProfile& b : *bases) {
    (HasNativeFrames(b.profile) ? with : without).push_back(b.label);
  }
  if (with.empty()) return "";
  if (mode == NativeFrames::kAuto && without.empty()) return "";
  int64_t dropped = 0;
  if (now_native) {
    *now_stripped = now;
    dropped += StripNativeFrames(&(*now_stripped)->profile);
  }
  for (LoadedProfile& b : *bases) dropped += StripNativeFrames(&b.profile);
  const std::string why =
      mode == NativeFrames::kStrip
          ? std::string("--native-frames strip")
          : absl::StrCat(absl::StrJoin(with, ", "), " recorded with --native, ",
                         absl::StrJoin(without, ", "),
                         " without; --native-frames keep compares them");
  std::string note = absl::StrCat(
      "Python frames only, the time of native frames charged to their "
      "Python callers (",
      why, ")");
  if (dropped > 0) {
    absl::StrAppend(&note, "; ", dropped,
                    " samples with no Python frame left out");
  }
  return note;
}

}  // namespace

absl::StatusOr<GateOutcome> RunGate(const GateOptions& a,
                                    const std::string& base,
                                    const LoadedProfile& now_as_read) {
  std::string label;
  BaselineStore store(a.store);
  absl::StatusOr<std::vector<LoadedProfile>> bases =
      LoadBase(store, base, a.last, &label);
  if (!bases.ok()) return bases.status();
  return RunGate(a, *std::move(bases), label, now_as_read);
}

absl::StatusOr<GateOutcome> RunGate(const GateOptions& a,
                                    std::vector<LoadedProfile> base_profiles,
                                    const std::string& base_label,
                                    const LoadedProfile& now_as_read) {
  GateOutcome out;
  out.base_label = base_label;
  if (base_profiles.empty()) {
    return absl::InvalidArgumentError("no baseline profile to compare with");
  }
  std::vector<LoadedProfile>* bases = &base_profiles;
  std::optional<LoadedProfile> now_stripped;
  const std::string native_note =
      ApplyNativeFrames(a.native, now_as_read, &*bases, &now_stripped);
  const LoadedProfile& now = now_stripped ? *now_stripped : now_as_read;
  absl::StatusOr<ValueType> type =
      ChooseSampleType(*bases, now, a.table.sample_type);
  if (!type.ok()) return type.status();
  TableOptions table = a.table;
  table.sample_type = type->type;

  std::vector<FunctionTable> base_tables;
  for (const LoadedProfile& b : *bases) {
    absl::StatusOr<FunctionTable> t = BuildFunctionTable(b.profile, table);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(b.label, ": ", t.status().message()));
    }
    base_tables.push_back(*std::move(t));
  }
  absl::StatusOr<FunctionTable> now_table =
      BuildFunctionTable(now.profile, table);
  if (!now_table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(now.label, ": ", now_table.status().message()));
  }
  absl::StatusOr<Comparison> c = Compare(base_tables, *now_table, a.compare);
  if (!c.ok()) return absl::InvalidArgumentError(c.status().message());
  if (!native_note.empty()) absl::StrAppend(&c->method, "; ", native_note);

  ReportOptions r;
  r.base_label = out.base_label;
  r.new_label = now.label;
  r.compare = a.compare;
  r.only_regressions = a.only_regressions;
  // A terminal table shows the rows that matter; --top widens it.
  r.top = a.top > 0 ? a.top : (a.format == ReportFormat::kTable ? 25 : 0);
  r.color = a.format == ReportFormat::kTable &&
            (a.color == "always" ||
             (a.color == "auto" && isatty(STDOUT_FILENO) != 0 &&
              std::getenv("NO_COLOR") == nullptr));
  switch (a.format) {
    case ReportFormat::kTable:
      out.report = RenderTable(*c, r);
      break;
    case ReportFormat::kJson:
      out.report = RenderJson(*c, r);
      break;
    case ReportFormat::kCsv:
      out.report = RenderCsv(*c, r);
      break;
    case ReportFormat::kMarkdown:
      out.report = RenderMarkdown(*c, r);
      break;
  }
  // CSV and JSON have no room for the verdict a person reads (JSON has it
  // as fields); a CI log shows stderr too.
  if (a.format == ReportFormat::kCsv || a.format == ReportFormat::kJson) {
    out.verdict = absl::StrCat("pystrobe-diff: ", VerdictLine(*c), "\n");
  }

  if (!a.flamegraph.empty()) {
    std::vector<const Profile*> base_views;
    for (const LoadedProfile& b : *bases) base_views.push_back(&b.profile);
    DiffFlameGraphOptions f;
    f.sample_type = type->type;
    f.normalize =
        a.compare.normalize == Normalize::kNone ||
                a.compare.normalize == Normalize::kTime ||
                (a.compare.normalize == Normalize::kAuto && c->fixed_work)
            ? Normalize::kNone
            : Normalize::kShare;
    f.lines = a.table.by == Granularity::kLine;
    f.title =
        absl::StrCat("pystrobe-diff: ", out.base_label, " -> ", now.label);
    absl::StatusOr<std::string> svg =
        RenderDiffFlameGraph(base_views, now.profile, f);
    absl::Status written =
        svg.ok() ? WriteFileAtomically(a.flamegraph, *svg) : svg.status();
    if (!written.ok()) return absl::InvalidArgumentError(written.message());
  }

  if (a.fail_on_regression && c->failed) {  // regressions, or new functions
    out.exit_code = kGateRegression;
  } else if (!c->overloaded && a.compare.fail_on_new && c->new_functions > 0) {
    out.exit_code = kGateRegression;
  } else if (a.fail_on_inconclusive && !c->conclusive && !c->failed) {
    out.exit_code = kGateInconclusive;
  }
  out.comparison = *std::move(c);
  return out;
}

}  // namespace pystrobe
