// `pystrobe record` memory stays bounded on a long recording of a target
// that keeps changing its stack (tests/workloads/record_many_stacks.py:
// recursion to random depths 1..300, a new stack every few ms, a bounded
// set of distinct stacks).
//
// Three checks, none about time:
// - while it samples, pystrobe's RSS does not grow between the 2000th and
//   the 20000th sample (by then every stack has been seen many times);
// - its peak RSS (ru_maxrss from wait4, which includes building and
//   writing the profile at the end) is under a fixed bound, and at most
//   twice its RSS while sampling (the write once peaked at 3.6 times it:
//   a protobuf copy of the profile and grown vectors);
// - the profile aggregates: its entries number at most distinct stacks x
//   time batches (at most 32) x threads, while the recording took more
//   samples than that product, so storing samples one by one (memory
//   growing with time) would break the relation. The recording lasts past
//   32 one-second batches so that batch merging is exercised too.
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

constexpr int64_t kMaxRssKib = 64 * 1024;
constexpr int64_t kMaxGrowthKib = 4 * 1024;

// VmRSS of `pid` in KiB, -1 if unreadable.
int64_t RssKib(pid_t pid) {
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return -1;
  size_t at = status->find("\nVmRSS:");
  if (at == std::string::npos) return -1;
  int64_t kib = -1;
  size_t end = status->find(" kB", at);
  if (end == std::string::npos ||
      !absl::SimpleAtoi(
          absl::StripAsciiWhitespace(status->substr(at + 7, end - at - 7)),
          &kib)) {
    return -1;
  }
  return kib;
}

TEST(RecordMemoryTest, ManyDistinctStacksKeepMemoryBounded) {
  std::optional<Interpreter> py = DefaultInterpreter();
  if (!py) GTEST_SKIP() << "no CPython 3.8+ found";
  std::cout << "interpreter: " << py->name << " " << py->path << std::endl;
  ScopedTempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<ChildProcess> target =
      StartWorkload(*py, "record_many_stacks.py", {dir.path()}, dir.path());
  ASSERT_TRUE(target.ok()) << target.status();
  ASSERT_TRUE(
      WaitForFileOrExit(dir.path() + "/ready", *target, absl::Seconds(120)))
      << target->Log();

  const std::string out = dir.path() + "/many.pb.gz";
  absl::StatusOr<std::unique_ptr<Recorder>> rec =
      Recorder::Start({"record", "--pid", std::to_string(target->pid()), "-r",
                       "1000", "-d", "36", "-o", out},
                      dir.path());
  ASSERT_TRUE(rec.ok()) << rec.status();
  // While sampling: flat. (Without a bound to stop on, a recorder that kept
  // every sample would grow by ~150 frames per sample here.)
  ASSERT_TRUE((*rec)->WaitForSamples(2000, absl::Seconds(120)))
      << (*rec)->Output();
  const int64_t early_rss = RssKib((*rec)->pid());
  ASSERT_TRUE((*rec)->WaitForSamples(20000, absl::Seconds(120)))
      << "fewer than 20000 samples in 36 s at 1 kHz: the machine is too "
         "loaded for this test\n"
      << (*rec)->Output();
  const int64_t late_rss = RssKib((*rec)->pid());
  ASSERT_GT(early_rss, 0);
  ASSERT_GT(late_rss, 0);
  std::optional<RecorderExit> done = (*rec)->Wait(absl::Seconds(300));
  ASSERT_TRUE(done.has_value()) << (*rec)->Output();
  ASSERT_TRUE(done->exited && done->exit_code == 0) << done->Describe() << "\n"
                                                    << (*rec)->Output();

  absl::StatusOr<Profile> p = ReadProfile(out);
  ASSERT_TRUE(p.ok()) << p.status();
  std::set<std::vector<uint64_t>> stacks;
  std::set<int64_t> batches, threads;
  int64_t samples = 0;
  size_t max_depth = 0;
  for (const Sample& s : p->samples) {
    stacks.insert(s.location_ids);
    max_depth = std::max(max_depth, s.location_ids.size());
    std::optional<int64_t> batch = NumberLabel(s, "batch");
    std::optional<int64_t> thread = NumberLabel(s, "thread_id");
    ASSERT_TRUE(batch.has_value() && thread.has_value()) << DescribeProfile(*p);
    batches.insert(*batch);
    threads.insert(*thread);
    samples += s.values[0];
  }
  const int64_t bound =
      static_cast<int64_t>(stacks.size() * batches.size() * threads.size());
  std::cout << absl::StreamFormat(
                   "pystrobe RSS while sampling: %.1f MiB at 2000 samples, "
                   "%.1f MiB at 20000",
                   static_cast<double>(early_rss) / 1024.0,
                   static_cast<double>(late_rss) / 1024.0)
            << std::endl;
  std::cout << absl::StreamFormat(
                   "pystrobe peak RSS %.1f MiB; profile: %d samples in %d "
                   "entries; %d distinct stacks (deepest %d frames) x %d "
                   "batches x %d threads = %d",
                   static_cast<double>(done->max_rss_kib) / 1024.0, samples,
                   p->samples.size(), stacks.size(), max_depth, batches.size(),
                   threads.size(), bound)
            << std::endl;
  EXPECT_LT(late_rss - early_rss, kMaxGrowthKib);
  EXPECT_LT(done->max_rss_kib, kMaxRssKib);
  EXPECT_LE(done->max_rss_kib, 2 * late_rss)
      << "the final write more than doubled the memory of the recording";
  EXPECT_GT(max_depth, 250u) << "the workload did not recurse deep";
  EXPECT_LE(batches.size(), 32u);
  EXPECT_LE(static_cast<int64_t>(p->samples.size()), bound);
  // Not vacuous: more samples were taken than the bound allows entries.
  EXPECT_GT(samples, bound)
      << "too few samples for the relation to show aggregation";
}

}  // namespace
}  // namespace pystrobe::integration
