#include "top_screen.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

  std::string title = absl::StrFormat("pystrobe top  pid %d", header.pid);
  if (!view.python_version().empty()) {
    absl::StrAppend(&title, "  python ", view.python_version());
  }
  absl::StrAppendFormat(&title, "  %s %g Hz (%.0f)  %.0f s", header.mode,
                        header.rate_hz, header.achieved_hz, header.elapsed_s);
  lines.push_back(title);

  const std::vector<ThreadRow> threads = view.Threads();
  int selected = 0;
  for (const ThreadRow& t : threads) {
    if (LiveView::Selects(state.query.thread_filter, t.tid, t.name)) ++selected;
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
  lines.push_back(state.editing ? "thread filter (name or tid): " + state.edit +
                                      "_   Enter applies, Esc cancels"
                                : "");

  const int rows_room = height - 6;  // title, status, prompt, head, 2 foot
  if (state.help) {
    for (const char* h :
         {"keys:", "  q        quit (the target keeps running)",
          "  p, space pause / resume the display",
          "  s        sort by own time, total time, name",
          "  r        recent seconds / since start",
          "  t        next thread (then all);  a  all threads",
          "  /        filter threads by name or tid", "  h, ?     this help",
          "", "%Own: samples where the function was running (the leaf);",
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
  while (static_cast<int>(lines.size()) < height - 2) lines.push_back("");
  lines.resize(height - 2);

  std::string thread_line = "threads:";
  for (const ThreadRow& t : threads) {
    absl::StrAppendFormat(
        &thread_line, " %s%d %s %s%s",
        LiveView::Selects(state.query.thread_filter, t.tid, t.name) ? "" : "(",
        t.tid, t.name.empty() ? "?" : t.name,
        Percent(span == Span::kRecent ? t.recent_ns : t.total_ns,
                view.span_ns(span)),
        LiveView::Selects(state.query.thread_filter, t.tid, t.name) ? "" : ")");
  }
  lines.push_back(thread_line);
  lines.push_back(
      "q quit  p pause  s sort  r recent/all  t thread  / filter  h help");
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
