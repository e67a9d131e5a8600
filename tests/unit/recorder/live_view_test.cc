// The live view of `pystrobe top` on synthetic windows: own and total
// shares (recursion counted once), the recent span sliding over the
// windows while "since start" keeps everything, thread filters by tid,
// name and pid, processes (several in one view, as top --subprocesses
// has them), sort keys, and memory that does not grow with windows.
#include "pystrobe/recorder/live_view.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

constexpr int64_t kMs = 1'000'000;

// Builds windows: stacks of function names (leaf first) per thread.
class WindowBuilder {
 public:
  explicit WindowBuilder(int64_t duration_ns = 500 * kMs) {
    p_.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
    p_.duration_nanos = duration_ns;
    p_.comments = {"python_version=3.12.1"};
  }
  WindowBuilder& Add(int64_t tid, const std::string& thread,
                     const std::vector<std::string>& stack, int64_t count,
                     int64_t ms_each = 10) {
    Sample s;
    for (const std::string& f : stack) {
      const uint64_t fn = p_.AddFunction({f, f, "/srv/" + f + ".py", 1});
      s.location_ids.push_back(p_.AddLocation({fn, 2}));
    }
    s.values = {count, count * ms_each * kMs};
    s.labels = {{"thread_name", thread, 0, ""}, {"thread_id", "", tid, ""}};
    if (pid_ != 0) {
      s.labels.push_back({"pid", "", pid_, ""});
      s.labels.push_back({"process", process_, 0, ""});
    }
    p_.samples.push_back(s);
    return *this;
  }
  // The samples added next are of process `pid` (labels `pid`, `process`).
  WindowBuilder& Process(int64_t pid, const std::string& command) {
    pid_ = pid;
    process_ = command;
    return *this;
  }
  Profile Build() const { return p_; }

 private:
  Profile p_;
  int64_t pid_ = 0;
  std::string process_;
};

ViewQuery SinceStart() {
  ViewQuery q;
  q.span = Span::kSinceStart;
  return q;
}

FunctionRow Find(const std::vector<FunctionRow>& rows,
                 const std::string& name) {
  for (const FunctionRow& r : rows) {
    if (r.name == name) return r;
  }
  return {};
}

TEST(LiveViewTest, OwnAndTotalSharesCountRecursionOnce) {
  LiveView view;
  view.AddWindow(WindowBuilder()
                     .Add(1, "main", {"leaf", "work", "work", "main"}, 30)
                     .Add(1, "main", {"work", "main"}, 10)
                     .Add(2, "io", {"wait", "main"}, 60)
                     .Build());
  const std::vector<FunctionRow> rows = view.Functions({});
  EXPECT_NEAR(Find(rows, "wait").self_share, 0.6, 1e-9);
  EXPECT_NEAR(Find(rows, "leaf").self_share, 0.3, 1e-9);
  EXPECT_NEAR(Find(rows, "work").self_share, 0.1, 1e-9);
  EXPECT_NEAR(Find(rows, "work").total_share, 0.4, 1e-9);  // not 0.7
  EXPECT_NEAR(Find(rows, "main").total_share, 1.0, 1e-9);
  EXPECT_EQ(Find(rows, "main").self_ns, 0);
  EXPECT_EQ(Find(rows, "wait").self_ns, 600 * kMs);
  EXPECT_EQ(rows.front().name, "wait");  // sorted by own time
  EXPECT_EQ(view.python_version(), "3.12.1");
  EXPECT_EQ(view.weight_type(), "wall");
  EXPECT_EQ(view.span_samples(Span::kRecent), 100);
}

TEST(LiveViewTest, RecentSlidesWhileSinceStartKeepsEverything) {
  LiveView view({.recent_s = 1});  // two windows of 0.5 s
  view.AddWindow(WindowBuilder().Add(1, "main", {"old", "main"}, 50).Build());
  view.AddWindow(WindowBuilder().Add(1, "main", {"old", "main"}, 50).Build());
  EXPECT_NEAR(Find(view.Functions({}), "old").self_share, 1.0, 1e-9);
  view.AddWindow(WindowBuilder().Add(1, "main", {"new", "main"}, 50).Build());
  view.AddWindow(WindowBuilder().Add(1, "main", {"new", "main"}, 50).Build());
  const std::vector<FunctionRow> recent = view.Functions({});
  EXPECT_EQ(Find(recent, "old").name, "") << "old left the recent span";
  EXPECT_NEAR(Find(recent, "new").self_share, 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(view.span_seconds(Span::kRecent), 1.0);
  const std::vector<FunctionRow> all = view.Functions(SinceStart());
  EXPECT_NEAR(Find(all, "old").self_share, 0.5, 1e-9);
  EXPECT_NEAR(Find(all, "new").self_share, 0.5, 1e-9);
  EXPECT_DOUBLE_EQ(view.span_seconds(Span::kSinceStart), 2.0);
  EXPECT_EQ(view.span_samples(Span::kSinceStart), 200);
  EXPECT_EQ(view.windows(), 4);
}

TEST(LiveViewTest, ThreadFiltersByTidOrNameAndSharesAreOfTheSelection) {
  LiveView view;
  view.AddWindow(WindowBuilder()
                     .Add(101, "MainThread", {"serve", "main"}, 20)
                     .Add(202, "worker-1", {"crunch", "run"}, 60)
                     .Add(303, "worker-2", {"crunch", "run"}, 20)
                     .Build());
  ViewQuery by_tid;
  by_tid.thread_filter = "101";
  EXPECT_THAT(view.Functions(by_tid),
              ElementsAre(Field(&FunctionRow::name, "serve"),
                          Field(&FunctionRow::name, "main")));
  EXPECT_NEAR(view.Functions(by_tid)[0].self_share, 1.0, 1e-9);
  ViewQuery by_name;
  by_name.thread_filter = "worker";
  const std::vector<FunctionRow> workers = view.Functions(by_name);
  EXPECT_EQ(Find(workers, "serve").name, "");
  EXPECT_NEAR(Find(workers, "crunch").self_share, 1.0, 1e-9);
  EXPECT_EQ(Find(workers, "crunch").self_ns, 800 * kMs);
  ViewQuery none;
  none.thread_filter = "nothing-matches";
  EXPECT_TRUE(view.Functions(none).empty());
  const std::vector<ThreadRow> threads = view.Threads();
  ASSERT_EQ(threads.size(), 3u);
  EXPECT_EQ(threads[0].tid, 202);  // most time first
  EXPECT_EQ(threads[0].name, "worker-1");
  EXPECT_EQ(threads[0].recent_ns, 600 * kMs);
}

// Two processes; the same tid in both (a tid reused after its process
// exited) is two threads.
TEST(LiveViewTest, ProcessesAndTheirThreadsAndThePidFilter) {
  LiveView view({.recent_s = 1});
  view.AddWindow(WindowBuilder()
                     .Process(500, "/usr/bin/python3 /srv/master.py")
                     .Add(500, "MainThread", {"wait", "main"}, 10)
                     .Process(600, "/usr/bin/python3 -m worker")
                     .Add(600, "MainThread", {"crunch", "main"}, 60)
                     .Add(601, "io", {"read", "main"}, 10)
                     .Add(777, "reused", {"old_tid", "main"}, 20)
                     .Build());
  std::vector<ProcessRow> processes = view.Processes(Span::kRecent);
  ASSERT_EQ(processes.size(), 2u);
  EXPECT_EQ(processes[0].pid, 600);  // most time first
  EXPECT_EQ(processes[0].process, "/usr/bin/python3 -m worker");
  EXPECT_EQ(processes[0].threads, 3);
  EXPECT_EQ(processes[0].recent_ns, 900 * kMs);
  EXPECT_EQ(processes[1].pid, 500);
  EXPECT_EQ(processes[1].threads, 1);
  const std::vector<ThreadRow> threads = view.Threads();
  ASSERT_EQ(threads.size(), 4u);
  EXPECT_EQ(threads[0].pid, 600);
  EXPECT_EQ(threads[0].tid, 600);
  EXPECT_EQ(threads[0].process, "/usr/bin/python3 -m worker");

  ViewQuery worker;
  worker.thread_filter = "pid:600";
  const std::vector<FunctionRow> rows = view.Functions(worker);
  EXPECT_EQ(Find(rows, "wait").name, "");
  EXPECT_NEAR(Find(rows, "crunch").self_share, 60.0 / 90, 1e-9);
  EXPECT_NEAR(Find(rows, "main").total_share, 1.0, 1e-9);
  ViewQuery tid;
  tid.thread_filter = "600";  // a number alone is a tid: the main thread
  EXPECT_EQ(Find(view.Functions(tid), "read").name, "");
  EXPECT_NEAR(Find(view.Functions(tid), "crunch").self_share, 1.0, 1e-9);
  ViewQuery bad;
  bad.thread_filter = "pid:x";
  EXPECT_TRUE(view.Functions(bad).empty());

  // tid 777 again, now in process 500: another thread.
  view.AddWindow(WindowBuilder()
                     .Process(500, "/usr/bin/python3 /srv/master.py")
                     .Add(777, "new", {"new_tid", "main"}, 20)
                     .Build());
  EXPECT_EQ(view.Threads().size(), 5u);
  // Process 600 had no samples in the last second: it left the recent
  // span (it exited), not since start.
  view.AddWindow(WindowBuilder()
                     .Process(500, "/usr/bin/python3 /srv/master.py")
                     .Add(500, "MainThread", {"wait", "main"}, 10)
                     .Build());
  processes = view.Processes(Span::kRecent);
  ASSERT_EQ(processes.size(), 1u);
  EXPECT_EQ(processes[0].pid, 500);
  EXPECT_EQ(processes[0].threads, 2);
  EXPECT_EQ(view.Processes(Span::kSinceStart).size(), 2u);
}

TEST(LiveViewTest, SortKeys) {
  LiveView view;
  view.AddWindow(WindowBuilder()
                     .Add(1, "t", {"b_leaf", "a_caller"}, 30)
                     .Add(1, "t", {"c_other"}, 40)
                     .Build());
  ViewQuery q;
  q.sort = SortKey::kSelf;
  EXPECT_THAT(view.Functions(q),
              ElementsAre(Field(&FunctionRow::name, "c_other"),
                          Field(&FunctionRow::name, "b_leaf"),
                          Field(&FunctionRow::name, "a_caller")));
  q.sort = SortKey::kTotal;  // a_caller 30 ties b_leaf 30: own time decides
  EXPECT_THAT(view.Functions(q),
              ElementsAre(Field(&FunctionRow::name, "c_other"),
                          Field(&FunctionRow::name, "b_leaf"),
                          Field(&FunctionRow::name, "a_caller")));
  q.sort = SortKey::kName;
  EXPECT_THAT(view.Functions(q),
              ElementsAre(Field(&FunctionRow::name, "a_caller"),
                          Field(&FunctionRow::name, "b_leaf"),
                          Field(&FunctionRow::name, "c_other")));
}

TEST(LiveViewTest, TheRecentSpanDoesNotGrowWithTime) {
  LiveView view({.recent_s = 2});
  // A new function per window: since start holds them all, recent only
  // the last 4 windows' worth.
  for (int w = 0; w < 200; ++w) {
    view.AddWindow(WindowBuilder()
                       .Add(1, "t", {"f" + std::to_string(w), "main"}, 5)
                       .Build());
  }
  EXPECT_EQ(view.Functions({}).size(), 5u);  // 4 leaves + main
  EXPECT_EQ(view.Functions(SinceStart()).size(), 201u);
  EXPECT_EQ(view.span_samples(Span::kRecent), 20);
}

TEST(LiveViewTest, LiveSinkFeedsTheView) {
  LiveView view;
  LiveSink sink(&view);
  ASSERT_TRUE(
      sink.Write(WindowBuilder().Add(1, "t", {"x"}, 1).Build(), false).ok());
  EXPECT_EQ(view.windows(), 1);
}

}  // namespace
}  // namespace pystrobe
