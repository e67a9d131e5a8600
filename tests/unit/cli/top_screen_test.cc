// The screen of `pystrobe top`: it fits the terminal (80x24 and smaller,
// names truncated, ASCII only), shows the hot function first with its
// shares, the threads and the state (paused, filter, sort), and with
// several processes a line per process with its threads; keys change the
// state as documented and escape sequences are ignored.
#include "top_screen.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pystrobe {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kMs = 1'000'000;

Profile Window() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.duration_nanos = 500 * kMs;
  p.comments = {"python_version=3.11.2"};
  auto add = [&](int64_t tid, const std::string& thread,
                 const std::vector<std::string>& stack, int64_t n) {
    Sample s;
    for (const std::string& f : stack) {
      const uint64_t fn = p.AddFunction({f, f, "/srv/app/" + f + ".py", 7});
      s.location_ids.push_back(p.AddLocation({fn, 8}));
    }
    s.values = {n, n * 10 * kMs};
    s.labels = {{"thread_name", thread, 0, ""}, {"thread_id", "", tid, ""}};
    p.samples.push_back(s);
  };
  add(11, "MainThread", {"hot_function", "main"}, 75);
  add(12, "worker",
      {"a_function_with_a_really_long_qualified_name_that_cannot_fit."
       "in_eighty_columns_at_all",
       "main"},
      25);
  return p;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

TEST(TopScreenTest, FitsTheTerminalAndShowsTheHotFunctionFirst) {
  LiveView view;
  view.AddWindow(Window());
  TopHeader header;
  header.pid = 4242;
  header.rate_hz = 100;
  for (auto [w, h] : {std::pair{80, 24}, {60, 12}, {40, 10}}) {
    const std::vector<std::string> lines =
        RenderTop(view, TopState{}, header, w, h);
    ASSERT_EQ(static_cast<int>(lines.size()), h);
    for (const std::string& l : lines) {
      EXPECT_LE(static_cast<int>(l.size()), w) << l;
      for (char c : l) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << l;
    }
  }
  const std::vector<std::string> lines =
      RenderTop(view, TopState{}, header, 80, 24);
  const std::string screen = Join(lines);
  EXPECT_THAT(lines[0], HasSubstr("pid 4242"));
  EXPECT_THAT(lines[0], HasSubstr("python 3.11.2"));
  EXPECT_THAT(lines[3], HasSubstr("%Own"));
  EXPECT_THAT(lines[4], HasSubstr("hot_function (hot_function.py:7)"));
  EXPECT_THAT(lines[4], StartsWith(" 75.0%  75.0%     0.75s"));
  EXPECT_THAT(lines[5], HasSubstr("a_function_with_a_really_long"));
  EXPECT_THAT(lines[5], testing::EndsWith("..."));
  EXPECT_THAT(screen, HasSubstr("11 MainThread 75%"));
  EXPECT_THAT(screen, HasSubstr("12 worker 25%"));
  EXPECT_THAT(lines[23], HasSubstr("q quit"));
}

// The third line states the wait for a CPU above a quarter of the
// runnable time, and its kind, by record's rule.
TEST(TopScreenTest, TheWaitForACpuIsStated) {
  LiveView view;
  view.AddWindow(Window());
  TopHeader header;
  header.pid = 4242;
  header.rate_hz = 100;
  header.ran_s = 3;
  header.wait_s = 1;  // 25%: not above
  header.waits = 100;
  EXPECT_EQ(RenderTop(view, TopState{}, header, 100, 24)[2], "");
  header.wait_s = 1.87;
  header.ran_s = 3.25;
  header.waits = 5125;  // 0.36 ms per wait
  EXPECT_EQ(RenderTop(view, TopState{}, header, 100, 24)[2],
            "CPU wait 37% of runnable time: short waits, its own threads "
            "taking turns");
  header.waits = 500;  // 3.7 ms per wait
  EXPECT_THAT(RenderTop(view, TopState{}, header, 100, 24)[2],
              HasSubstr("CPU wait 37% of runnable time: long waits, an "
                        "overloaded machine"));
}

TEST(TopScreenTest, KeysChangeTheState) {
  LiveView view;
  view.AddWindow(Window());
  const std::vector<ThreadRow> threads = view.Threads();
  TopState s;
  EXPECT_EQ(HandleKeys("p", threads, &s), KeyResult::kChanged);
  EXPECT_TRUE(s.paused);
  EXPECT_EQ(HandleKeys(" ", threads, &s), KeyResult::kChanged);
  EXPECT_FALSE(s.paused);
  HandleKeys("s", threads, &s);
  EXPECT_EQ(s.query.sort, SortKey::kTotal);
  HandleKeys("s", threads, &s);
  EXPECT_EQ(s.query.sort, SortKey::kName);
  HandleKeys("s", threads, &s);
  EXPECT_EQ(s.query.sort, SortKey::kSelf);
  HandleKeys("r", threads, &s);
  EXPECT_EQ(s.query.span, Span::kSinceStart);
  // t: each thread by tid (most time first), then all.
  HandleKeys("t", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "11");
  HandleKeys("t", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "12");
  HandleKeys("t", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "");
  // '/' types a filter; Enter applies it, Esc cancels.
  HandleKeys("/wor", threads, &s);
  EXPECT_TRUE(s.editing);
  EXPECT_EQ(s.query.thread_filter, "");
  HandleKeys("kx\x7f\r", threads, &s);
  EXPECT_FALSE(s.editing);
  EXPECT_EQ(s.query.thread_filter, "work");
  HandleKeys("/zzz\x1b", threads, &s);
  EXPECT_FALSE(s.editing);
  EXPECT_EQ(s.query.thread_filter, "work");
  HandleKeys("a", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "");
  // Arrow keys (ESC [ A) do nothing, not even quit on their letters.
  EXPECT_EQ(HandleKeys("\x1b[A\x1b[B\x1bOA", threads, &s), KeyResult::kNone);
  EXPECT_EQ(HandleKeys("x", threads, &s), KeyResult::kNone);
  EXPECT_EQ(HandleKeys("sq", threads, &s), KeyResult::kQuit);
  EXPECT_EQ(HandleKeys("/q", threads, &s), KeyResult::kChanged)
      << "q typed into a filter is text";
}

TEST(TopScreenTest, TheFilterPausedAndHelpShow) {
  LiveView view;
  view.AddWindow(Window());
  TopState s;
  s.query.thread_filter = "worker";
  s.paused = true;
  const std::string screen = Join(RenderTop(view, s, {}, 80, 24));
  EXPECT_THAT(screen, HasSubstr("PAUSED"));
  EXPECT_THAT(screen, HasSubstr("threads: 'worker' (1 of 2)"));
  EXPECT_THAT(screen, Not(HasSubstr("hot_function (")));
  EXPECT_THAT(screen, HasSubstr("(11 MainThread"));  // not selected
  s.help = true;
  EXPECT_THAT(Join(RenderTop(view, s, {}, 80, 24)), HasSubstr("q        quit"));
  s = TopState{};
  s.editing = true;
  s.edit = "wo";
  EXPECT_THAT(Join(RenderTop(view, s, {}, 80, 24)),
              HasSubstr("filter (thread name, tid or pid:PID): wo_"));
  LiveView empty;
  EXPECT_THAT(Join(RenderTop(empty, TopState{}, {}, 80, 24)),
              HasSubstr("(waiting for samples)"));
}

// Three processes, as top --subprocesses sees a master and two workers.
Profile Processes() {
  Profile p;
  p.sample_types = {{"samples", "count"}, {"wall", "nanoseconds"}};
  p.duration_nanos = 500 * kMs;
  auto add = [&](int64_t pid, const std::string& command, int64_t tid,
                 const std::string& thread, const std::string& leaf,
                 int64_t n) {
    Sample s;
    const uint64_t fn = p.AddFunction({leaf, leaf, "/srv/" + leaf + ".py", 3});
    s.location_ids.push_back(p.AddLocation({fn, 4}));
    s.values = {n, n * 10 * kMs};
    s.labels = {{"thread_name", thread, 0, ""},
                {"thread_id", "", tid, ""},
                {"pid", "", pid, ""},
                {"process", command, 0, ""}};
    p.samples.push_back(s);
  };
  add(700, "/usr/bin/python3 /srv/app/master.py --workers 2", 700, "MainThread",
      "supervise", 10);
  add(701, "/usr/bin/python3 /srv/app/master.py --workers 2", 701, "MainThread",
      "serve", 50);
  add(701, "/usr/bin/python3 /srv/app/master.py --workers 2", 705, "io", "poll",
      10);
  add(702, "/usr/bin/python3 -c from multiprocessing.spawn import spawn_main",
      702, "MainThread", "crunch", 30);
  return p;
}

TEST(TopScreenTest, SeveralProcessesAreCountedAndListedWithTheirThreads) {
  LiveView view;
  view.AddWindow(Processes());
  TopHeader header;
  header.pid = 700;
  header.subprocesses = true;
  header.rate_hz = 100;
  const std::vector<std::string> lines =
      RenderTop(view, TopState{}, header, 80, 24);
  ASSERT_EQ(lines.size(), 24u);
  for (const std::string& l : lines) EXPECT_LE(l.size(), 80u) << l;
  const std::string screen = Join(lines);
  EXPECT_THAT(lines[0], HasSubstr("pid 700 +children: 3 processes"));
  EXPECT_THAT(lines[4], HasSubstr("serve (serve.py:3)"));
  // A line per process, most time first: pid, short command, share, its
  // threads.
  EXPECT_THAT(lines[20], HasSubstr("701 python3 master.py --workers 2 60%: 701 "
                                   "MainThread 50% 705 io 10%"));
  EXPECT_THAT(lines[21],
              HasSubstr("702 python3 -c from multiprocessi... 30%:"));
  EXPECT_THAT(lines[21], HasSubstr("702 MainThread 30%"));
  EXPECT_THAT(lines[22], HasSubstr("700 python3 master.py --workers 2 10%"));
  EXPECT_THAT(lines[23], HasSubstr("P process"));

  // Filtered to a process: only its functions, at its own shares.
  TopState s;
  s.query.thread_filter = "pid:701";
  const std::string filtered = Join(RenderTop(view, s, header, 80, 24));
  EXPECT_THAT(filtered, HasSubstr("threads: 'pid:701' (2 of 4)"));
  EXPECT_THAT(filtered, Not(HasSubstr("crunch (")));
  EXPECT_THAT(filtered, HasSubstr(" 83.3%  83.3%"));  // serve: 50 of 60
  EXPECT_THAT(filtered, HasSubstr("(702 MainThread 30%)"));

  // Several --pid: the title names them.
  header.subprocesses = false;
  header.more_pids = {701, 702};
  EXPECT_THAT(RenderTop(view, TopState{}, header, 80, 24)[0],
              HasSubstr("pids 700,701,702: 3 processes"));
  // More processes than lines: the last says how many are left out.
  const std::vector<std::string> small =
      RenderTop(view, TopState{}, header, 80, 14);
  ASSERT_EQ(small.size(), 14u);
  EXPECT_THAT(small[11], HasSubstr("701 python3"));
  EXPECT_THAT(small[12], HasSubstr("... 2 more processes"));
}

TEST(TopScreenTest, PCyclesThroughTheProcesses) {
  LiveView view;
  view.AddWindow(Processes());
  const std::vector<ThreadRow> threads = view.Threads();
  TopState s;
  HandleKeys("P", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "pid:701");
  HandleKeys("P", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "pid:702");
  HandleKeys("t", threads, &s);  // a thread now: the first
  EXPECT_EQ(s.query.thread_filter, "701");
  HandleKeys("P", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "pid:701");
  HandleKeys("PPP", threads, &s);
  EXPECT_EQ(s.query.thread_filter, "");
}

TEST(TopScreenTest, ScreenBytesRedrawInPlace) {
  const std::string bytes = ScreenBytes({"title", "row"});
  EXPECT_THAT(bytes, StartsWith("\x1b[H\x1b[7mtitle"));
  EXPECT_THAT(bytes, HasSubstr("\r\nrow\x1b[K"));
  EXPECT_THAT(bytes, testing::EndsWith("\x1b[J"));
}

}  // namespace
}  // namespace pystrobe
