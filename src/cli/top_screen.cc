#include "top_screen.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "pystrobe/process/cpu_wait.h"

namespace pystrobe {
namespace {

// At most `width` characters; a cut shows as "..." at its end.
std::string Fit(std::string s, int width) {
  if (width <= 0) return "";
  const auto w = static_cast<size_t>(width);
  if (s.size() <= w) return s;
  if (w <= 3) return s.substr(0, w);
  return s.substr(0, w - 3) + "...";
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "name (file:line)" in at most `width`: the file goes first, then the
// name is cut.
std::string FunctionLabel(const FunctionRow& row, int width) {
  const std::string where =
      row.filename.empty()
          ? ""
          : absl::StrCat(
                " (", Basename(row.filename),
                row.start_line > 0 ? absl::StrCat(":", row.start_line) : "",
                ")");
  if (static_cast<int>(row.name.size() + where.size()) <= width) {
    return row.name + where;
  }
  return Fit(row.name, width);
}

const char* SortName(SortKey k) {
  switch (k) {
    case SortKey::kSelf:
      return "own";
    case SortKey::kTotal:
      return "total";
    case SortKey::kName:
      return "name";
  }
  return "";
}

std::string Percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "0%";
  return absl::StrFormat(
      "%.0f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

void ApplyFilter(TopState* state, std::string filter) {
  state->query.thread_filter = std::move(filter);
  state->thread_index = -1;
  state->process_index = -1;
}

// The processes of `threads`, in their order there.
std::vector<int64_t> PidsOf(const std::vector<ThreadRow>& threads) {
  std::vector<int64_t> pids;
  for (const ThreadRow& t : threads) {
    if (std::find(pids.begin(), pids.end(), t.pid) == pids.end()) {
      pids.push_back(t.pid);
    }
  }
  return pids;
}

// Whether `word` is an interpreter's option that takes no value ("-S",
// "-uE"; not -c, -m, -W, -X).
bool PythonFlag(const std::string& word) {
  if (word.size() < 2 || word[0] != '-') return false;
  for (size_t i = 1; i < word.size(); ++i) {
    const char c = word[i];
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c)) ||
        std::strchr("cmWX", c) != nullptr) {
      return false;
    }
  }
  return true;
}

// A command line in at most `width`: every word that is a path by its last
// component and a Python's flags left out ("/usr/bin/python3 -u /srv/app.py"
// -> "python3 app.py").
std::string ShortCommand(const std::string& command, int width) {
  std::vector<std::string> words;
  bool python = false;
  for (absl::string_view w : absl::StrSplit(command, ' ', absl::SkipEmpty())) {
    std::string word(w);
    const size_t slash = word.rfind('/');
    if (slash != std::string::npos && slash + 1 < word.size()) {
      word = word.substr(slash + 1);
    }
    if (words.empty()) {
      python = absl::StartsWith(word, "python");
    } else if (python && words.size() == 1 && PythonFlag(word)) {
      continue;  // the flags before the script or -m/-c
    }
    words.push_back(std::move(word));
  }
  return Fit(words.empty() ? "?" : absl::StrJoin(words, " "), width);
}

// "pid 11", "pids 11,12,13", "pids 11,12,13,+2"; " +children" with
// --subprocesses.
std::string Targets(const TopHeader& header) {
  std::string out =
      absl::StrCat(header.more_pids.empty() ? "pid " : "pids ", header.pid);
  for (size_t i = 0; i < header.more_pids.size(); ++i) {
    if (i == 2) {
      absl::StrAppend(&out, ",+", header.more_pids.size() - i);
      break;
    }
    absl::StrAppend(&out, ",", header.more_pids[i]);
  }
  if (header.subprocesses) out += " +children";
  return out;
}

// " TID NAME SHARE", in parentheses when the filter leaves the thread out.
std::string ThreadEntry(const ThreadRow& t, const TopState& state,
                        const LiveView& view) {
  const Span span = state.query.span;
  const bool in = LiveView::Selects(state.query.thread_filter, t);
  return absl::StrFormat(
      " %s%d %s %s%s", in ? "" : "(", t.tid, t.name.empty() ? "?" : t.name,
      Percent(span == Span::kRecent ? t.recent_ns : t.total_ns,
              view.span_ns(span)),
      in ? "" : ")");
}

// The foot's lists: the threads on one line, or (several processes) a line
// per process, at most `max_lines`.
std::vector<std::string> Foot(const LiveView& view, const TopState& state,
                              bool several, int max_lines) {
  const Span span = state.query.span;
  const std::vector<ThreadRow> threads = view.Threads();
  if (!several) {
    std::string line = "threads:";
    for (const ThreadRow& t : threads) line += ThreadEntry(t, state, view);
    return {line};
  }
  const std::vector<ProcessRow> processes = view.Processes(span);
  std::vector<std::string> lines;
  if (processes.empty()) lines.push_back("processes: (none with samples)");
  for (const ProcessRow& p : processes) {
    if (static_cast<int>(lines.size()) == max_lines - 1 &&
        processes.size() > static_cast<size_t>(max_lines)) {
      lines.push_back(
          absl::StrFormat("  ... %d more processes (P: next process)",
                          processes.size() - lines.size()));
      break;
    }
    std::string line = absl::StrFormat(
        "%6d %s %s:", p.pid, ShortCommand(p.process, 32),
        Percent(span == Span::kRecent ? p.recent_ns : p.total_ns,
                view.span_ns(span)));
    for (const ThreadRow& t : threads) {
      if (t.pid != p.pid) continue;
      if ((span == Span::kRecent ? t.recent_ns : t.total_ns) <= 0) continue;
      line += ThreadEntry(t, state, view);
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

KeyResult HandleKeys(const std::string& input,
                     const std::vector<ThreadRow>& threads, TopState* state) {
  KeyResult result = KeyResult::kNone;
  for (size_t i = 0; i < input.size(); ++i) {
    const char c = input[i];
    if (c == '\x1b') {
      // An escape sequence (ESC [ ... final byte) is skipped whole; ESC
      // alone cancels an edit.
      if (i + 1 < input.size() &&
          (input[i + 1] == '[' || input[i + 1] == 'O')) {
        i += 2;
        while (i < input.size() && !(input[i] >= 0x40 && input[i] <= 0x7e)) ++i;
        continue;
      }
      if (state->editing) {
        state->editing = false;
        state->edit.clear();
        result = KeyResult::kChanged;
      }
      continue;
    }
    if (state->editing) {
      if (c == '\r' || c == '\n') {
        state->editing = false;
        ApplyFilter(state, state->edit);
        state->edit.clear();
      } else if (c == 127 || c == '\b') {
        if (!state->edit.empty()) state->edit.pop_back();
      } else if (c >= 0x20 && c < 0x7f && state->edit.size() < 64) {
        state->edit.push_back(c);
      }
      result = KeyResult::kChanged;
      continue;
    }
    switch (c) {
      case 'q':
      case 'Q':
        return KeyResult::kQuit;
      case 'p':
      case ' ':
        state->paused = !state->paused;
        break;
      case 's':
        state->query.sort =
            state->query.sort == SortKey::kSelf    ? SortKey::kTotal
            : state->query.sort == SortKey::kTotal ? SortKey::kName
                                                   : SortKey::kSelf;
        break;
      case 'r':
        state->query.span = state->query.span == Span::kRecent
                                ? Span::kSinceStart
                                : Span::kRecent;
        break;
      case 't': {
        // The next thread by tid, then all threads again.
        const int next = state->thread_index + 1;
        if (next >= static_cast<int>(threads.size())) {
          ApplyFilter(state, "");
        } else {
          state->query.thread_filter = absl::StrCat(threads[next].tid);
          state->thread_index = next;
          state->process_index = -1;
        }
        break;
      }
      case 'P': {
        // The next process (in the thread list's order), then all.
        const std::vector<int64_t> pids = PidsOf(threads);
        const int next = state->process_index + 1;
        if (next >= static_cast<int>(pids.size())) {
          ApplyFilter(state, "");
        } else {
          state->query.thread_filter = absl::StrCat("pid:", pids[next]);
          state->process_index = next;
          state->thread_index = -1;
        }
        break;
      }
      case 'a':
        ApplyFilter(state, "");
        break;
      case '/':
        state->editing = true;
        state->edit.clear();
        break;
      case 'h':
      case '?':
        state->help = !state->help;
        break;
      default:
        continue;
    }
    result = KeyResult::kChanged;
  }
  return result;
}

std::vector<std::string> RenderTop(const LiveView& view, const TopState& state,
                                   const TopHeader& header, int width,
                                   int height) {
  width = std::max(width, 20);
  height = std::max(height, 8);
  std::vector<std::string> lines;
  const Span span = state.query.span;
  const bool several = header.subprocesses || !header.more_pids.empty() ||
                       view.Processes(Span::kSinceStart).size() > 1;

  std::string title = "pystrobe top  ";
  if (several) {
    // The count is the span's: exited processes leave the recent span.
    const size_t n = view.Processes(span).size();
    absl::StrAppend(&title, Targets(header), ": ", n,
                    n == 1 ? " process" : " processes");
  } else {
    absl::StrAppend(&title, "pid ", header.pid);
    if (!view.python_version().empty()) {
      absl::StrAppend(&title, "  python ", view.python_version());
    }
  }
  absl::StrAppendFormat(&title, "  %s %g Hz (%.0f)  %.0f s", header.mode,
                        header.rate_hz, header.achieved_hz, header.elapsed_s);
  lines.push_back(title);

  const std::vector<ThreadRow> threads = view.Threads();
  int selected = 0;
  for (const ThreadRow& t : threads) {
    if (LiveView::Selects(state.query.thread_filter, t)) ++selected;
  }
  std::string status = absl::StrFormat(
      "%s %.1f s: %d samples | threads: %s (%d of %d) | sort: %s | errors %d",
      span == Span::kRecent ? "recent" : "since start", view.span_seconds(span),
      view.span_samples(span),
      state.query.thread_filter.empty() ? "all"
                                        : "'" + state.query.thread_filter + "'",
      selected, threads.size(), SortName(state.query.sort), header.errors);
  if (state.paused) status = "PAUSED  " + status;
  lines.push_back(status);
  // The wait for a CPU, by the rule of record's summary (cpu_wait.h).
  std::string wait_note;
  const CpuWaitKind wait =
      ClassifyCpuWait(header.ran_s, header.wait_s, header.waits);
  if (wait != CpuWaitKind::kLittle) {
    wait_note = absl::StrFormat(
        "CPU wait %.0f%% of runnable time: %s",
        100 * header.wait_s / (header.ran_s + header.wait_s),
        wait == CpuWaitKind::kLongWaits
            ? "long waits, an overloaded machine (times include them)"
            : "short waits, its own threads taking turns");
  }
  lines.push_back(state.editing
                      ? "filter (thread name, tid or pid:PID): " + state.edit +
                            "_   Enter applies, Esc cancels"
                      : wait_note);

  // A third of the rows below the header at most for the processes.
  std::vector<std::string> foot =
      Foot(view, state, several, std::max(1, (height - 8) / 3));
  foot.push_back(
      several ? "q quit  p pause  s sort  r recent/all  t thread  P process  "
                "/ filter  h help"
              : "q quit  p pause  s sort  r recent/all  t thread  / filter  "
                "h help");
  // Title, status, prompt, the column heads, the foot.
  const int rows_room = height - 4 - static_cast<int>(foot.size());
  if (state.help) {
    for (const char* h :
         {"keys:", "  q        quit (the targets keep running)",
          "  p, space pause / resume the display",
          "  s        sort by own time, total time, name",
          "  r        recent seconds / since start",
          "  t        next thread (then all);  a  all threads",
          "  P        next process (then all)",
          "  /        filter threads by name, tid or pid:PID",
          "  h, ?     this help", "",
          "%Own: samples where the function was running (the leaf);",
          "%Total: samples where it was on the stack (callees included)."}) {
      lines.push_back(h);
    }
  } else {
    lines.push_back("  %Own %Total   OwnTime  TotalTime  Function (file:line)");
    const std::vector<FunctionRow> rows = view.Functions(state.query);
    if (rows.empty()) {
      lines.push_back(view.windows() == 0 ? "  (waiting for samples)"
                                          : "  (no samples)");
    }
    for (const FunctionRow& r : rows) {
      if (static_cast<int>(lines.size()) >= 4 + rows_room) break;
      std::string line = absl::StrFormat(
          "%5.1f%% %5.1f%% %8.2fs %9.2fs  ", 100 * r.self_share,
          100 * r.total_share, static_cast<double>(r.self_ns) / 1e9,
          static_cast<double>(r.total_ns) / 1e9);
      line += FunctionLabel(r, width - static_cast<int>(line.size()));
      lines.push_back(line);
    }
  }
  const int body = height - static_cast<int>(foot.size());
  while (static_cast<int>(lines.size()) < body) lines.push_back("");
  lines.resize(body);
  lines.insert(lines.end(), foot.begin(), foot.end());
  for (std::string& l : lines) l = Fit(std::move(l), width);
  return lines;
}

std::string ScreenBytes(const std::vector<std::string>& lines) {
  std::string out = "\x1b[H";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0) {
      absl::StrAppend(&out, "\x1b[7m", lines[i], "\x1b[K\x1b[0m");
    } else {
      absl::StrAppend(&out, lines[i], "\x1b[K");
    }
    if (i + 1 < lines.size()) out += "\r\n";
  }
  out += "\x1b[J";
  return out;
}

}  // namespace pystrobe
