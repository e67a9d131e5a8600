// pystrobe-diff save / list / show: the baseline store from the command line.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "diff_cli.h"
#include "pystrobe/diff/baseline_store.h"
#include "pystrobe/diff/compare.h"
#include "pystrobe/profile/formats.h"

namespace pystrobe::diff_cli {
namespace {

constexpr char kSaveUsage[] =
    "usage: pystrobe-diff save NAME PROFILE [--store DIR]\n"
    "\n"
    "Stores PROFILE (a pprof file) as the next numbered entry of baseline\n"
    "NAME, with metadata: time, host, git commit and dirty flag (inside a\n"
    "git checkout), Python version and command line (from the profile).\n";
constexpr char kListUsage[] =
    "usage: pystrobe-diff list [NAME] [--store DIR]\n"
    "\n"
    "Without NAME: every baseline and its entries. With NAME: its entries.\n";
constexpr char kShowUsage[] =
    "usage: pystrobe-diff show NAME[@N] [--store DIR] [--top N]\n"
    "                          [--sample-type TYPE] [--by function|line]\n"
    "\n"
    "The metadata and top functions of a stored profile (latest entry\n"
    "unless @N), or of a pprof file.\n";

// Positional arguments and --store; returns false (after printing) on a
// usage error. `extra` handles command-specific options.
template <typename Extra>
bool ParseCommon(const std::vector<std::string>& argv, const char* usage,
                 std::vector<std::string>* positional, std::string* store,
                 bool* help, Extra extra) {
  Args args(argv);
  std::string error;
  std::string v;
  for (; !args.Done(); args.Next()) {
    const std::string& cur = args.Current();
    if (cur == "-h" || cur == "--help") {
      std::fputs(usage, stdout);
      *help = true;
      return false;
    }
    if (args.Option("--store", &v, &error)) {
      *store = v;
    } else if (extra(args, &error)) {
      // handled
    } else if (cur.size() > 1 && cur[0] == '-') {
      error = "unknown option '" + cur + "'";
    } else {
      positional->push_back(cur);
    }
    if (!error.empty()) {
      PrintError(error);
      return false;
    }
  }
  return true;
}

std::string EntrySummary(const BaselineEntry& e) {
  std::string commit =
      e.metadata.git_commit.empty()
          ? "-"
          : e.metadata.git_commit + (e.metadata.git_dirty ? "+dirty" : "");
  return absl::StrFormat(
      "%s@%-4d %-20s %-14s %-10s %s", e.name, e.number, e.metadata.time, commit,
      e.metadata.python_version.empty() ? "-" : e.metadata.python_version,
      e.metadata.command_line);
}

}  // namespace

int RunSave(const std::vector<std::string>& argv) {
  std::vector<std::string> pos;
  std::string store_dir = kDefaultStore;
  bool help = false;
  if (!ParseCommon(argv, kSaveUsage, &pos, &store_dir, &help,
                   [](Args&, std::string*) { return false; })) {
    return help ? kExitOk : kExitBadInput;
  }
  if (pos.size() != 2) {
    PrintError("save wants NAME and PROFILE (see pystrobe-diff save --help)");
    return kExitBadInput;
  }
  absl::StatusOr<LoadedProfile> p = LoadProfileFile(pos[1]);
  if (!p.ok()) {
    PrintError(p.status());
    return kExitBadInput;
  }
  // A profile whose every weight is zero would make a useless baseline.
  absl::StatusOr<FunctionTable> table = BuildFunctionTable(p->profile, {});
  if (!table.ok()) {
    PrintError(absl::StrCat(pos[1], ": ", table.status().message()));
    return kExitBadInput;
  }
  std::string bytes = p->bytes;
  const bool gzipped = bytes.size() >= 2 &&
                       static_cast<unsigned char>(bytes[0]) == 0x1f &&
                       static_cast<unsigned char>(bytes[1]) == 0x8b;
  if (!gzipped) {
    // Entries are .pb.gz: store what was given, compressed.
    absl::StatusOr<std::string> gz = EncodePprof(p->profile);
    if (!gz.ok()) {
      PrintError(gz.status());
      return kExitBadInput;
    }
    bytes = *std::move(gz);
  }
  BaselineStore store(store_dir);
  absl::StatusOr<BaselineEntry> e =
      store.Save(pos[0], bytes, MetadataFor(p->profile));
  if (!e.ok()) {
    PrintError(e.status());
    return kExitBadInput;
  }
  std::printf("saved %s@%d: %s\n", e->name.c_str(), e->number,
              e->profile_path.c_str());
  return kExitOk;
}

int RunList(const std::vector<std::string>& argv) {
  std::vector<std::string> pos;
  std::string store_dir = kDefaultStore;
  bool help = false;
  if (!ParseCommon(argv, kListUsage, &pos, &store_dir, &help,
                   [](Args&, std::string*) { return false; })) {
    return help ? kExitOk : kExitBadInput;
  }
  if (pos.size() > 1) {
    PrintError("list wants at most one NAME");
    return kExitBadInput;
  }
  BaselineStore store(store_dir);
  std::vector<std::string> names = pos;
  if (names.empty()) {
    absl::StatusOr<std::vector<std::string>> all = store.Names();
    if (!all.ok()) {
      PrintError(all.status());
      return kExitBadInput;
    }
    names = *std::move(all);
    if (names.empty()) {
      std::printf("no baselines in %s\n", store_dir.c_str());
      return kExitOk;
    }
  }
  std::string out;
  for (const std::string& name : names) {
    absl::StatusOr<std::vector<BaselineEntry>> entries = store.List(name);
    if (!entries.ok()) {
      PrintError(entries.status());
      return kExitBadInput;
    }
    absl::StrAppend(&out, name, ": ", entries->size(),
                    entries->size() == 1 ? " entry" : " entries", "\n");
    for (const BaselineEntry& e : *entries) {
      absl::StrAppend(&out, "  ", EntrySummary(e), "\n");
    }
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int RunShow(const std::vector<std::string>& argv) {
  std::vector<std::string> pos;
  std::string store_dir = kDefaultStore;
  bool help = false;
  int top = 20;
  TableOptions table;
  std::string bad;
  auto extra = [&](Args& args, std::string* error) {
    std::string v;
    if (args.Option("--top", &v, error)) {
      if (error->empty() && (!absl::SimpleAtoi(v, &top) || top <= 0)) {
        *error = "--top wants a positive number, not '" + v + "'";
      }
      return true;
    }
    if (args.Option("--sample-type", &v, error)) {
      table.sample_type = v;
      return true;
    }
    if (args.Option("--by", &v, error)) {
      if (v == "line") {
        table.by = Granularity::kLine;
      } else if (v != "function" && error->empty()) {
        *error = "--by wants function or line, not '" + v + "'";
      }
      return true;
    }
    return false;
  };
  if (!ParseCommon(argv, kShowUsage, &pos, &store_dir, &help, extra)) {
    return help ? kExitOk : kExitBadInput;
  }
  if (pos.size() != 1) {
    PrintError("show wants one NAME[@N] (see pystrobe-diff show --help)");
    return kExitBadInput;
  }
  BaselineStore store(store_dir);
  std::string label;
  absl::StatusOr<std::vector<LoadedProfile>> loaded =
      LoadBase(store, pos[0], 0, &label);
  if (!loaded.ok()) {
    PrintError(loaded.status());
    return kExitBadInput;
  }
  const LoadedProfile& p = loaded->front();
  absl::StatusOr<FunctionTable> t = BuildFunctionTable(p.profile, table);
  if (!t.ok()) {
    PrintError(absl::StrCat(p.label, ": ", t.status().message()));
    return kExitBadInput;
  }
  std::string out;
  std::string name;
  int number = 0;
  if (p.label != p.path && ParseEntryRef(p.label, &name, &number).ok()) {
    absl::StatusOr<BaselineEntry> e = store.Get(name, number);
    if (e.ok()) {
      absl::StrAppend(
          &out, "entry:    ", p.label, "\nfile:     ", e->profile_path,
          "\ntime:     ", e->metadata.time, "\nhost:     ", e->metadata.host,
          "\ncommit:   ",
          e->metadata.git_commit.empty() ? "-" : e->metadata.git_commit,
          e->metadata.git_dirty ? " (dirty)" : "",
          "\npython:   ", e->metadata.python_version,
          "\ncommand:  ", e->metadata.command_line, "\n");
    }
  } else {
    absl::StrAppend(&out, "file:     ", p.path, "\n");
  }
  const bool ns = t->value_type.unit == "nanoseconds";
  absl::StrAppend(
      &out, "samples:  ", t->sample_count, " (",
      ns ? absl::StrFormat("%.3fs of %s",
                           static_cast<double>(t->grand_total) / 1e9,
                           t->value_type.type)
         : absl::StrCat(t->grand_total, " ", t->value_type.type, "/",
                        t->value_type.unit),
      ")\n\n");

  struct Row {
    const FunctionKey* key;
    const FunctionStats* stats;
  };
  std::vector<Row> rows;
  for (const auto& [key, stats] : t->functions) rows.push_back({&key, &stats});
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.stats->self != b.stats->self) return a.stats->self > b.stats->self;
    if (a.stats->total != b.stats->total) {
      return a.stats->total > b.stats->total;
    }
    return a.key->name < b.key->name;
  });
  if (rows.size() > static_cast<size_t>(top))
    rows.resize(static_cast<size_t>(top));
  const double grand =
      t->grand_total > 0 ? static_cast<double>(t->grand_total) : 1;
  absl::StrAppendFormat(&out, "%7s %7s  %s\n", "self", "total",
                        "function (file)");
  for (const Row& r : rows) {
    absl::StrAppendFormat(
        &out, "%6.2f%% %6.2f%%  %s (%s%s)\n",
        100 * static_cast<double>(r.stats->self) / grand,
        100 * static_cast<double>(r.stats->total) / grand, r.key->name,
        r.key->file, r.key->line > 0 ? absl::StrCat(":", r.key->line) : "");
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace pystrobe::diff_cli
