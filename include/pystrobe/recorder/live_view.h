// The live view of `pystrobe top`: where a running process (or several:
// top --subprocesses, several --pid) spends its time now and since the view
// started, per function, thread and process.
//
// The recording hands it short windows of the aggregation (a Profile each,
// Recording with window_s ~0.5 s; LiveSink below); the view keeps, per
// thread and function, the sums since start and a running sum over the
// windows of the last `recent_s` seconds. Threads are told apart by pid and
// tid (the samples' `pid` and `thread_id` labels; `process`, the command
// line, names the process). Its memory is bounded by functions x threads
// (plus the recent windows' rows), not by time.
// Rendering is elsewhere (src/cli/top_screen.h): this is the model only.
//
//   LiveView view({.recent_s = 5});
//   LiveSink sink(&view);                 // or view.AddWindow(profile)
//   ...
//   std::vector<FunctionRow> rows =
//       view.Functions({.span = Span::kRecent, .sort = SortKey::kSelf});
#ifndef PYSTROBE_RECORDER_LIVE_VIEW_H_
#define PYSTROBE_RECORDER_LIVE_VIEW_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/recorder/recording.h"

namespace pystrobe {

enum class Span { kRecent, kSinceStart };
enum class SortKey { kSelf, kTotal, kName };

// One function, summed over the threads that pass the filter.
struct FunctionRow {
  std::string name;  // Function.name (co_qualname where available)
  std::string filename;
  int64_t start_line = 0;
  int64_t self_ns = 0;    // weight of the samples where it was the leaf
  int64_t total_ns = 0;   // weight of the samples where it was on the stack
  double self_share = 0;  // of the span's weight (0..1)
  double total_share = 0;
};

struct ThreadRow {
  int64_t pid = 0;  // its process (0: the samples did not say)
  int64_t tid = 0;
  std::string name;
  std::string process;    // its process's command line ("" unknown)
  int64_t recent_ns = 0;  // weight in the recent span
  int64_t total_ns = 0;   // since start
};

// One process: the sums of its threads.
struct ProcessRow {
  int64_t pid = 0;
  std::string process;  // its command line ("" unknown)
  int threads = 0;      // with weight in the span asked for
  int64_t recent_ns = 0;
  int64_t total_ns = 0;
};

struct ViewQuery {
  Span span = Span::kRecent;
  SortKey sort = SortKey::kSelf;
  // Only the thread whose tid is this number, the threads of process N for
  // "pid:N", or the threads whose name contains it ("" : every thread).
  std::string thread_filter;
};

struct LiveViewOptions {
  double recent_s = 5;  // what "recent" covers
};

class LiveView {
 public:
  explicit LiveView(LiveViewOptions options = {});

  // A closed window of the recording (its samples only). Samples weigh
  // their wall or cpu value (the profile's second sample type), else their
  // count.
  void AddWindow(const Profile& window);

  // Functions of the span for the threads the query selects, sorted.
  std::vector<FunctionRow> Functions(const ViewQuery& query) const;
  // Every thread seen, by weight since start (most first).
  std::vector<ThreadRow> Threads() const;
  // The processes with weight in `span`, by that weight (most first); a
  // process that exited leaves the recent span with its last window.
  std::vector<ProcessRow> Processes(Span span) const;
  // Whether `filter` (ViewQuery::thread_filter) selects `thread`.
  static bool Selects(const std::string& filter, const ThreadRow& thread);

  // Weight and samples of the span (all threads).
  int64_t span_ns(Span span) const;
  int64_t span_samples(Span span) const;
  // Seconds of recording the span covers.
  double span_seconds(Span span) const;
  int windows() const { return windows_; }
  // "wall" or "cpu" (from the windows), "" before the first.
  const std::string& weight_type() const { return weight_type_; }
  // From the windows' comments (python_version=...), "" before the first.
  const std::string& python_version() const { return python_version_; }

 private:
  // A thread: tids are unique among the live threads of the machine, but
  // one that exited may be reused by another process.
  struct ThreadId {
    int64_t pid;
    int64_t tid;
    bool operator==(const ThreadId& o) const {
      return pid == o.pid && tid == o.tid;
    }
    template <typename H>
    friend H AbslHashValue(H h, const ThreadId& t) {
      return H::combine(std::move(h), t.pid, t.tid);
    }
  };
  struct Key {
    ThreadId thread;
    uint32_t function;  // index into functions_
    bool operator==(const Key& o) const {
      return thread == o.thread && function == o.function;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.thread, k.function);
    }
  };
  using ThreadWeights = absl::flat_hash_map<ThreadId, int64_t>;
  struct Sums {
    int64_t self_ns = 0;
    int64_t total_ns = 0;
  };
  using Table = absl::flat_hash_map<Key, Sums>;
  struct Window {
    Table rows;
    ThreadWeights thread_ns;
    int64_t ns = 0;
    int64_t samples = 0;
    int64_t duration_ns = 0;
  };

  uint32_t InternFunction(const Function& f);
  static void AddInto(const Window& w, int sign, Table* rows,
                      ThreadWeights* threads);
  // The row of `id` (name, process; no weights).
  ThreadRow Row(const ThreadId& id) const;

  LiveViewOptions options_;
  std::vector<Function> functions_;
  absl::flat_hash_map<Function, uint32_t> function_ids_;
  absl::flat_hash_map<ThreadId, std::string> thread_names_;
  absl::flat_hash_map<int64_t, std::string> process_names_;  // by pid
  // Since start, and the running sum of recent_ (entries that fall to zero
  // are erased, so it stays the size of the recent windows).
  Table total_, recent_rows_;
  ThreadWeights total_threads_, recent_threads_;
  std::deque<Window> recent_;
  int64_t total_ns_ = 0, total_samples_ = 0, total_duration_ns_ = 0;
  int64_t recent_ns_ = 0, recent_samples_ = 0, recent_duration_ns_ = 0;
  int windows_ = 0;
  std::string weight_type_;
  std::string python_version_;
};

// The sink of a `top` recording: every write (a closed window, see
// RecordingOptions::window_s; set checkpoint_s to 0) goes to the view.
class LiveSink : public ProfileSink {
 public:
  explicit LiveSink(LiveView* view) : view_(view) {}
  absl::Status Write(const Profile& profile, bool final) override;

 private:
  LiveView* view_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_RECORDER_LIVE_VIEW_H_
