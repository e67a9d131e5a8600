#include "pystrobe/recorder/live_view.h"

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace pystrobe {
namespace {

// The index of the weight among the sample types: wall or cpu ns, else
// the count.
int WeightIndex(const Profile& p) {
  for (const char* type : {"wall", "cpu"}) {
    const int i = p.SampleTypeIndex(type);
    if (i >= 0) return i;
  }
  return 0;
}

// The labels of a sample that say whose it is.
struct Whose {
  int64_t pid = 0;
  int64_t tid = 0;
  const std::string* name = nullptr;
  const std::string* process = nullptr;
};

Whose WhoseSample(const Sample& s) {
  Whose w;
  for (const Label& l : s.labels) {
    if (l.is_numeric()) {
      if (l.key == "thread_id") w.tid = l.num;
      if (l.key == "pid") w.pid = l.num;
    } else {
      if (l.key == "thread_name") w.name = &l.str;
      if (l.key == "process") w.process = &l.str;
    }
  }
  return w;
}

}  // namespace

LiveView::LiveView(LiveViewOptions options) : options_(options) {}

uint32_t LiveView::InternFunction(const Function& f) {
  auto [it, inserted] =
      function_ids_.try_emplace(f, static_cast<uint32_t>(functions_.size()));
  if (inserted) functions_.push_back(f);
  return it->second;
}

void LiveView::AddInto(const Window& w, int sign, Table* rows,
                       ThreadWeights* threads) {
  for (const auto& [key, sums] : w.rows) {
    Sums& s = (*rows)[key];
    s.self_ns += sign * sums.self_ns;
    s.total_ns += sign * sums.total_ns;
    if (sign < 0 && s.self_ns == 0 && s.total_ns == 0) rows->erase(key);
  }
  for (const auto& [id, ns] : w.thread_ns) {
    int64_t& t = (*threads)[id];
    t += sign * ns;
    if (sign < 0 && t == 0) threads->erase(id);
  }
}

void LiveView::AddWindow(const Profile& window) {
  Window w;
  const int weight = WeightIndex(window);
  if (weight > 0) weight_type_ = window.sample_types[weight].type;
  w.duration_ns = window.duration_nanos;
  for (const std::string& c : window.comments) {
    if (absl::StartsWith(c, "python_version=")) python_version_ = c.substr(15);
  }
  // Function ids of the profile -> the view's, once per window.
  std::vector<uint32_t> ids(window.functions.size());
  for (size_t i = 0; i < window.functions.size(); ++i) {
    ids[i] = InternFunction(window.functions[i]);
  }
  absl::flat_hash_set<uint32_t> on_stack;
  for (const Sample& s : window.samples) {
    if (static_cast<size_t>(weight) >= s.values.size()) continue;
    const int64_t ns = s.values[weight];
    const Whose who = WhoseSample(s);
    const ThreadId tid{who.pid, who.tid};
    if (who.name != nullptr && !who.name->empty()) {
      thread_names_[tid] = *who.name;
    }
    if (who.process != nullptr && !who.process->empty()) {
      process_names_[who.pid] = *who.process;
    }
    w.ns += ns;
    w.samples += s.values[0];
    w.thread_ns[tid] += ns;
    on_stack.clear();
    for (size_t i = 0; i < s.location_ids.size(); ++i) {
      const uint64_t loc = s.location_ids[i];
      if (loc == 0 || loc > window.locations.size()) continue;
      const uint64_t fn = window.LocationAt(loc).function_id;
      if (fn == 0 || fn > ids.size()) continue;
      const uint32_t id = ids[fn - 1];
      Sums& sums = w.rows[Key{tid, id}];
      if (i == 0) sums.self_ns += ns;
      // Recursion counts once towards the total.
      if (on_stack.insert(id).second) sums.total_ns += ns;
    }
  }
  ++windows_;
  AddInto(w, +1, &total_, &total_threads_);
  total_ns_ += w.ns;
  total_samples_ += w.samples;
  total_duration_ns_ += w.duration_ns;
  AddInto(w, +1, &recent_rows_, &recent_threads_);
  recent_ns_ += w.ns;
  recent_samples_ += w.samples;
  recent_duration_ns_ += w.duration_ns;
  recent_.push_back(std::move(w));
  // Keep the newest windows that cover recent_s (at least one).
  const auto span_ns = static_cast<int64_t>(options_.recent_s * 1e9);
  while (recent_.size() > 1 &&
         recent_duration_ns_ - recent_.front().duration_ns >= span_ns) {
    const Window& old = recent_.front();
    AddInto(old, -1, &recent_rows_, &recent_threads_);
    recent_ns_ -= old.ns;
    recent_samples_ -= old.samples;
    recent_duration_ns_ -= old.duration_ns;
    recent_.pop_front();
  }
}

bool LiveView::Selects(const std::string& filter, const ThreadRow& t) {
  if (filter.empty()) return true;
  int64_t n = 0;
  absl::string_view pid = filter;
  if (absl::ConsumePrefix(&pid, "pid:")) {
    return absl::SimpleAtoi(pid, &n) && n == t.pid;
  }
  if (absl::SimpleAtoi(filter, &n) && n == t.tid) return true;
  return t.name.find(filter) != std::string::npos;
}

ThreadRow LiveView::Row(const ThreadId& id) const {
  ThreadRow t;
  t.pid = id.pid;
  t.tid = id.tid;
  if (auto name = thread_names_.find(id); name != thread_names_.end()) {
    t.name = name->second;
  }
  if (auto p = process_names_.find(id.pid); p != process_names_.end()) {
    t.process = p->second;
  }
  return t;
}

std::vector<FunctionRow> LiveView::Functions(const ViewQuery& query) const {
  const Table& table = query.span == Span::kRecent ? recent_rows_ : total_;
  const auto& threads =
      query.span == Span::kRecent ? recent_threads_ : total_threads_;
  // Shares are of the selected threads' weight.
  int64_t selected_ns = 0;
  absl::flat_hash_set<ThreadId> selected;
  for (const auto& [id, ns] : threads) {
    if (Selects(query.thread_filter, Row(id))) {
      selected.insert(id);
      selected_ns += ns;
    }
  }
  absl::flat_hash_map<uint32_t, FunctionRow> by_function;
  for (const auto& [key, sums] : table) {
    if (!selected.contains(key.thread)) continue;
    FunctionRow& row = by_function[key.function];
    row.self_ns += sums.self_ns;
    row.total_ns += sums.total_ns;
  }
  std::vector<FunctionRow> rows;
  rows.reserve(by_function.size());
  for (auto& [id, row] : by_function) {
    const Function& f = functions_[id];
    row.name = f.name;
    row.filename = f.filename;
    row.start_line = f.start_line;
    if (selected_ns > 0) {
      row.self_share = static_cast<double>(row.self_ns) / selected_ns;
      row.total_share = static_cast<double>(row.total_ns) / selected_ns;
    }
    rows.push_back(std::move(row));
  }
  auto by_name = [](const FunctionRow& a, const FunctionRow& b) {
    return std::tie(a.name, a.filename, a.start_line) <
           std::tie(b.name, b.filename, b.start_line);
  };
  std::sort(rows.begin(), rows.end(),
            [&](const FunctionRow& a, const FunctionRow& b) {
              switch (query.sort) {
                case SortKey::kSelf:
                  if (a.self_ns != b.self_ns) return a.self_ns > b.self_ns;
                  if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
                  break;
                case SortKey::kTotal:
                  if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
                  if (a.self_ns != b.self_ns) return a.self_ns > b.self_ns;
                  break;
                case SortKey::kName:
                  break;
              }
              return by_name(a, b);
            });
  return rows;
}

std::vector<ThreadRow> LiveView::Threads() const {
  std::vector<ThreadRow> out;
  for (const auto& [id, ns] : total_threads_) {
    ThreadRow t = Row(id);
    t.total_ns = ns;
    auto recent = recent_threads_.find(id);
    if (recent != recent_threads_.end()) t.recent_ns = recent->second;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const ThreadRow& a, const ThreadRow& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    return std::tie(a.pid, a.tid) < std::tie(b.pid, b.tid);
  });
  return out;
}

std::vector<ProcessRow> LiveView::Processes(Span span) const {
  absl::flat_hash_map<int64_t, ProcessRow> by_pid;
  const ThreadWeights& threads =
      span == Span::kRecent ? recent_threads_ : total_threads_;
  for (const auto& [id, ns] : threads) {
    if (ns <= 0) continue;
    ProcessRow& p = by_pid[id.pid];
    p.pid = id.pid;
    ++p.threads;
    if (auto total = total_threads_.find(id); total != total_threads_.end()) {
      p.total_ns += total->second;
    }
    auto recent = recent_threads_.find(id);
    if (recent != recent_threads_.end()) p.recent_ns += recent->second;
  }
  std::vector<ProcessRow> out;
  out.reserve(by_pid.size());
  for (auto& [pid, p] : by_pid) {
    if (auto name = process_names_.find(pid); name != process_names_.end()) {
      p.process = name->second;
    }
    out.push_back(std::move(p));
  }
  std::sort(
      out.begin(), out.end(), [span](const ProcessRow& a, const ProcessRow& b) {
        const int64_t x = span == Span::kRecent ? a.recent_ns : a.total_ns;
        const int64_t y = span == Span::kRecent ? b.recent_ns : b.total_ns;
        return x != y ? x > y : a.pid < b.pid;
      });
  return out;
}

int64_t LiveView::span_ns(Span span) const {
  return span == Span::kRecent ? recent_ns_ : total_ns_;
}
int64_t LiveView::span_samples(Span span) const {
  return span == Span::kRecent ? recent_samples_ : total_samples_;
}
double LiveView::span_seconds(Span span) const {
  return static_cast<double>(span == Span::kRecent ? recent_duration_ns_
                                                   : total_duration_ns_) /
         1e9;
}

absl::Status LiveSink::Write(const Profile& profile, bool /*final*/) {
  view_->AddWindow(profile);
  return absl::OkStatus();
}

}  // namespace pystrobe
