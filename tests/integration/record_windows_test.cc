// `pystrobe record --every S [--keep K]`: continuous recording in window
// files. Ground truth from the target's own clock
// (tests/workloads/record_windows.py spins in second_<t % 10> during Unix
// second t): a window file may hold only the functions of the seconds its
// own time span covers. Every window is read by `go tool pprof -raw`; the
// windows' samples add up to the recorder's own count (none lost, none
// counted twice); --keep deletes only this output's oldest windows; a
// SIGKILL leaves the windows already closed intact; memory is flat from
// one window to the next (tests/workloads/record_many_stacks.py).
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);

// Files of `dir` named STEM.YYYYmmdd-HHMMSS.EXT, sorted (listed here
// independently of pystrobe's own ListWindowFiles).
std::vector<std::string> Windows(const std::string& dir,
                                 const std::string& stem,
                                 const std::string& ext) {
  std::vector<std::string> out;
  const std::regex re(stem + R"(\.\d{8}-\d{6}\.)" + ext);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (std::regex_match(e->d_name, re)) out.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The k of every second_k the text names.
std::set<int> SecondsNamed(const std::string& text) {
  std::set<int> out;
  const std::regex re(R"(second_(\d))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re);
       it != std::sregex_iterator(); ++it) {
    out.insert(std::stoi((*it)[1]));
  }
  return out;
}

// The k = t % 10 of the Unix seconds t in [from, to] (ns), widened by
// `slack_ns` on both sides.
std::set<int> SecondsCovered(int64_t from, int64_t to, int64_t slack_ns) {
  std::set<int> out;
  for (int64_t t = (from - slack_ns) / 1'000'000'000;
       t <= (to + slack_ns) / 1'000'000'000; ++t) {
    out.insert(static_cast<int>(t % 10));
  }
  return out;
}

// "pystrobe: N samples in" of the summary.
int64_t SummarySamples(const std::string& output) {
  const std::regex re(R"(pystrobe: (\d+) samples in)");
  std::smatch m;
  if (!std::regex_search(output, m, re)) return -1;
  return std::stoll(m[1]);
}

int64_t RssKib(pid_t pid) {
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return -1;
  const size_t at = status->find("\nVmRSS:");
  const size_t end = status->find(" kB", at);
  int64_t kib = -1;
  if (at == std::string::npos || end == std::string::npos ||
      !absl::SimpleAtoi(
          absl::StripAsciiWhitespace(status->substr(at + 7, end - at - 7)),
          &kib)) {
    return -1;
  }
  return kib;
}

class RecordWindowsTest : public DefaultInterpreterTest {
 protected:
  std::string P(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
  // Starts `workload` and waits until it is ready.
  void StartTarget(const std::string& workload) {
    absl::StatusOr<ChildProcess> t =
        StartWorkload(py_, workload, {dir_.path()}, dir_.path());
    ASSERT_TRUE(t.ok()) << t.status();
    target_.emplace(*std::move(t));
    ASSERT_TRUE(WaitForFileOrExit(P("ready"), *target_, kTimeout))
        << target_->Log();
  }
  // A window file read by Go's pprof (-raw) and by pystrobe's decoder.
  void ExpectValidWindow(const std::string& path, Profile* out) {
    CommandResult raw = GoPprof({"-raw", path}, dir_.path());
    ASSERT_TRUE(raw.exited && raw.exit_code == 0) << path << raw.Describe();
    absl::StatusOr<Profile> p = ReadProfile(path);
    ASSERT_TRUE(p.ok()) << path << ": " << p.status();
    EXPECT_EQ(SecondsNamed(raw.out), SecondsNamed(DescribeProfile(*p, 100000)))
        << path;
    *out = *std::move(p);
  }

  // The window files STEM.*.pb.gz (at least 3) each hold only the seconds
  // their own time span covers, none overlaps the one before, and their
  // samples add up to the recorder's count.
  void ExpectWindowsOfTheirOwnTimeSpans(const std::string& stem,
                                        const std::string& output,
                                        std::vector<std::string>* windows) {
    *windows = Windows(dir_.path(), stem, "pb\\.gz");
    ASSERT_GE(windows->size(), 3u) << output;
    int64_t samples = 0;
    int64_t previous_end = 0;
    std::set<int> all_seen;
    for (const std::string& w : *windows) {
      Profile p;
      ASSERT_NO_FATAL_FAILURE(ExpectValidWindow(w, &p));
      const int64_t from = p.time_nanos, to = p.time_nanos + p.duration_nanos;
      const std::set<int> seen = SecondsNamed(DescribeProfile(p, 100000));
      const std::set<int> covered = SecondsCovered(from, to, 150'000'000);
      std::cout << absl::StreamFormat(
                       "%s: %.2f s from %.3f, %d samples, ", w,
                       static_cast<double>(p.duration_nanos) / 1e9,
                       static_cast<double>(from % 100'000'000'000) / 1e9,
                       p.samples.size())
                << "seconds seen " << testing::PrintToString(seen)
                << ", covered " << testing::PrintToString(covered) << std::endl;
      EXPECT_FALSE(seen.empty()) << w;
      for (int k : seen) {
        EXPECT_TRUE(covered.count(k))
            << w << " holds second_" << k << ", outside its own time span";
      }
      EXPECT_GE(from, previous_end - 50'000'000)
          << w << " overlaps the one before";
      EXPECT_LE(p.duration_nanos, 3'000'000'000) << w;
      previous_end = to;
      all_seen.insert(seen.begin(), seen.end());
      for (const Sample& s : p.samples) samples += s.values[0];
    }
    // Not vacuous: 7 s saw at least 6 distinct seconds, no window all of
    // them.
    EXPECT_GE(all_seen.size(), 6u);
    EXPECT_EQ(samples, SummarySamples(output)) << output;
  }

  std::optional<ChildProcess> target_;
};

TEST_F(RecordWindowsTest, EachWindowHoldsOnlyItsOwnTimeSpan) {
  ASSERT_NO_FATAL_FAILURE(StartTarget("record_windows.py"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target_->pid()), "-r",
                       "100", "--every", "2", "-d", "7", "-o", P("app.pb.gz")},
                      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  EXPECT_FALSE(FileExists(P("app.pb.gz")));
  std::vector<std::string> windows;
  ASSERT_NO_FATAL_FAILURE(
      ExpectWindowsOfTheirOwnTimeSpans("app", (*rec)->Output(), &windows));

  // pystrobe-diff takes window files like any profile, and a baseline
  // saved from windows compares with --last K.
  const std::string diff = std::string(PYSTROBE_BINARY_DIR) + "/pystrobe-diff";
  const std::string store = P("store");
  CommandResult two = RunCommand({diff, "compare", windows[0], windows[1]});
  EXPECT_TRUE(two.exited && two.exit_code == 0) << two.Describe();
  EXPECT_THAT(two.out, testing::HasSubstr("second_")) << two.Describe();
  for (size_t i = 0; i + 1 < windows.size(); ++i) {
    CommandResult saved =
        RunCommand({diff, "save", "--store", store, "win", windows[i]});
    ASSERT_TRUE(saved.exited && saved.exit_code == 0) << saved.Describe();
  }
  const std::string k = std::to_string(windows.size() - 1);
  CommandResult last = RunCommand(
      {diff, "compare", "--store", store, "win", windows.back(), "--last", k});
  EXPECT_TRUE(last.exited && last.exit_code == 0) << last.Describe();
  EXPECT_THAT(last.out, testing::HasSubstr(k + " replicates from " + k +
                                           " baseline entries"))
      << last.Describe();
  EXPECT_FALSE(target_->HasExited()) << target_->Log();
}

// The same with --subprocesses: the windows are merged from every
// process's (one here), with the window's own start and length.
TEST_F(RecordWindowsTest, MergedWindowsHoldOnlyTheirOwnTimeSpan) {
  ASSERT_NO_FATAL_FAILURE(StartTarget("record_windows.py"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "--subprocesses",
       "-r", "100", "--every", "2", "-d", "7", "-o", P("tree.pb.gz")},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  std::vector<std::string> windows;
  ASSERT_NO_FATAL_FAILURE(
      ExpectWindowsOfTheirOwnTimeSpans("tree", (*rec)->Output(), &windows));
  EXPECT_FALSE(target_->HasExited()) << target_->Log();
}

TEST_F(RecordWindowsTest, KeepDeletesOnlyThisOutputsOldestWindows) {
  ASSERT_NO_FATAL_FAILURE(StartTarget("record_windows.py"));
  // An old window of this output (deleted by --keep) and another output's
  // window (never touched).
  ASSERT_TRUE(TouchFile(P("app.20000101-000000.txt")));
  ASSERT_TRUE(TouchFile(P("other.20000101-000000.txt")));
  ASSERT_TRUE(TouchFile(P("app.txt")));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "-f", "collapsed",
       "--every", "1", "--keep", "2", "-d", "5.5", "-o", P("app.txt")},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  const std::vector<std::string> windows = Windows(dir_.path(), "app", "txt");
  ASSERT_EQ(windows.size(), 2u) << testing::PrintToString(windows);
  EXPECT_FALSE(FileExists(P("app.20000101-000000.txt")));
  EXPECT_TRUE(FileExists(P("other.20000101-000000.txt")));
  EXPECT_TRUE(FileExists(P("app.txt")));
  for (const std::string& w : windows) {
    absl::StatusOr<std::string> text = ReadFileToString(w);
    ASSERT_TRUE(text.ok());
    EXPECT_FALSE(SecondsNamed(*text).empty()) << w << ":\n" << *text;
    // Collapsed lines: "frame;frame;... count".
    EXPECT_TRUE(
        std::regex_search(*text, std::regex(R"(second_\d[^\n]* \d+\n)")))
        << *text;
  }
  // The newest two: about 5.5 s of windows of 1 s, the last ones written.
  EXPECT_THAT((*rec)->Output(), testing::HasSubstr("the newest 2 kept"));
}

TEST_F(RecordWindowsTest, SigkillLeavesTheClosedWindowsIntact) {
  ASSERT_NO_FATAL_FAILURE(StartTarget("record_windows.py"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "-r", "200",
       "--every", "1", "--checkpoint", "0.3", "-o", P("app.pb.gz")},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  ASSERT_TRUE(WaitFor(
      [&] { return Windows(dir_.path(), "app", "pb\\.gz").size() >= 3; },
      kTimeout))
      << (*rec)->Output();
  (*rec)->Signal(SIGKILL);
  ASSERT_TRUE((*rec)->Wait(kTimeout).has_value());
  const std::vector<std::string> windows =
      Windows(dir_.path(), "app", "pb\\.gz");
  ASSERT_GE(windows.size(), 3u);
  for (size_t i = 0; i < windows.size(); ++i) {
    Profile p;
    ASSERT_NO_FATAL_FAILURE(ExpectValidWindow(windows[i], &p));
    // The closed ones are whole windows (the last one is the checkpoint of
    // the window in progress).
    if (i + 1 < windows.size()) {
      EXPECT_GE(p.duration_nanos, 900'000'000) << windows[i];
      EXPECT_GT(p.samples.size(), 0u) << windows[i];
    }
  }
  EXPECT_FALSE(target_->HasExited()) << target_->Log();
}

TEST_F(RecordWindowsTest, MemoryIsFlatFromOneWindowToTheNext) {
  ASSERT_NO_FATAL_FAILURE(StartTarget("record_many_stacks.py"));
  absl::StatusOr<std::unique_ptr<Recorder>> rec = Recorder::Start(
      {"record", "--pid", std::to_string(target_->pid()), "-r", "1000",
       "--every", "2", "-d", "21", "--checkpoint", "0", "-o", P("many.pb.gz")},
      dir_.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  // RSS each time a window closes (a new window file appears).
  std::vector<int64_t> rss;
  size_t seen = 0;
  while ((*rec)->running()) {
    const size_t n = Windows(dir_.path(), "many", "pb\\.gz").size();
    if (n > seen) {
      seen = n;
      const int64_t kib = RssKib((*rec)->pid());
      if (kib > 0) rss.push_back(kib);
    }
    if (!WaitFor(
            [&] {
              return Windows(dir_.path(), "many", "pb\\.gz").size() > seen;
            },
            absl::Seconds(5))) {
      break;
    }
  }
  std::optional<RecorderExit> done = (*rec)->Wait(kTimeout);
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();
  std::cout << "pystrobe RSS (KiB) as each window closed: "
            << testing::PrintToString(rss) << "; peak " << done->max_rss_kib
            << std::endl;
  ASSERT_GE(rss.size(), 6u) << (*rec)->Output();
  // Every window saw the workload's whole cycle of stacks (about a second).
  Profile last;
  const std::vector<std::string> windows =
      Windows(dir_.path(), "many", "pb\\.gz");
  ASSERT_GE(windows.size(), 6u);
  ASSERT_NO_FATAL_FAILURE(
      ExpectValidWindow(windows[windows.size() - 2], &last));
  EXPECT_GT(last.samples.size(), 100u) << "too few stacks to load memory";
  // Flat: the RSS after the last window within 20% of after the first.
  EXPECT_LE(static_cast<double>(rss.back()),
            1.2 * static_cast<double>(rss.front()));
  EXPECT_LE(done->max_rss_kib, 64 * 1024);
}

}  // namespace
}  // namespace pystrobe::integration
