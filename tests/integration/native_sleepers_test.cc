// record --native on a target with threads asleep in the kernel: they are
// never stopped (stopping one interrupts its system call), yet their
// samples show the C frames of the call they sleep in under their Python
// caller (unwound from /proc/PID/task/TID/syscall's stack pointer and
// program counter, docs/native.md).
//
// Ground truth from the target: the TIDs of its sleeping threads (it
// reports them) and the kernel's count of their context switches, which
// any interruption (a ptrace stop, a signal) moves.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "interpreters.h"
#include "native_support.h"
#include "record_support.h"
#include "subprocess.h"

namespace pystrobe::integration {
namespace {

// voluntary + nonvoluntary context switches of one thread, or -1.
int64_t ContextSwitches(pid_t pid, int64_t tid) {
  absl::StatusOr<std::string> status =
      ReadFileToString(absl::StrCat("/proc/", pid, "/task/", tid, "/status"));
  if (!status.ok()) return -1;
  int64_t total = 0;
  int found = 0;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    for (absl::string_view key :
         {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"}) {
      if (!absl::ConsumePrefix(&line, key)) continue;
      int64_t n = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &n)) return -1;
      total += n;
      ++found;
    }
  }
  return found == 2 ? total : -1;
}

// {"nap": 123, "read": 456} as the workload writes it.
std::map<std::string, int64_t> ParseTids(const std::string& json) {
  std::map<std::string, int64_t> tids;
  for (absl::string_view part : absl::StrSplit(json, ',')) {
    std::vector<std::string> kv = absl::StrSplit(part, ':');
    if (kv.size() != 2) continue;
    std::string name(absl::StripAsciiWhitespace(kv[0]));
    absl::StripAsciiWhitespace(&kv[1]);
    absl::string_view value = kv[1];
    absl::ConsumeSuffix(&value, "}");
    name.erase(std::remove_if(name.begin(), name.end(),
                              [](char c) { return c == '"' || c == '{'; }),
               name.end());
    int64_t tid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &tid)) {
      tids[name] = tid;
    }
  }
  return tids;
}

// Blocked in a system call (not running, not between calls).
bool Blocked(pid_t pid, int64_t tid) {
  absl::StatusOr<std::vector<uint64_t>> call = ThreadSyscall(pid, tid);
  return call.ok() && call->size() == 9;
}

struct Share {
  int64_t samples = 0;
  // with native frames: a leaf in libc, C frames down to the caller
  int64_t native = 0;
  int64_t named = 0;        // of those, with a C frame named like c_function
  int64_t python_only = 0;  // the caller is the leaf: no native frames
  std::map<std::string, int64_t> leaves;  // of those
};

// The samples of thread `tid`, and those whose leaf is a libc frame with
// only native frames between it and the Python frame `caller`.
Share NativeShare(const Profile& p, int64_t tid, const std::string& caller,
                  const std::string& c_function) {
  const int count = p.SampleTypeIndex("samples");
  Share share;
  for (const Sample& s : p.samples) {
    bool mine = false;
    for (const Label& l : s.labels) {
      mine |= l.key == "thread_id" && l.num == tid;
    }
    if (!mine || s.location_ids.empty()) continue;
    const int64_t n = count >= 0 ? s.values[count] : 1;
    share.samples += n;
    const Location& leaf = p.LocationAt(s.location_ids[0]);
    if (leaf.mapping_id == 0 && p.FunctionOf(leaf).name == caller) {
      share.python_only += n;
      continue;
    }
    if (leaf.mapping_id == 0 || p.mappings[leaf.mapping_id - 1].filename.find(
                                    "/libc.so") == std::string::npos) {
      continue;
    }
    bool named = false;
    for (uint64_t id : s.location_ids) {
      const Location& loc = p.LocationAt(id);
      const std::string& name = p.FunctionOf(loc).name;
      if (loc.mapping_id == 0) {
        if (name != caller) break;
        share.native += n;
        if (named) share.named += n;
        share.leaves[p.FunctionOf(leaf).name] += n;
        break;
      }
      named |= name.find(c_function) != std::string::npos;
    }
  }
  return share;
}

std::string Describe(const Share& s) {
  std::string out = absl::StrCat(
      s.native, "/", s.samples, " samples with native frames, ", s.python_only,
      " with Python frames only (", s.named, " naming the C function; leaves:");
  for (const auto& [leaf, n] : s.leaves) {
    absl::StrAppend(&out, " ", leaf, " ", n);
  }
  return out + ")";
}

// Whether the interpreter was built with frame pointers (its own build
// flags say): its functions' CFI computes the CFA from rbp, which a
// sleeping thread's syscall file does not give, so its sleepers cannot be
// unwound and keep their Python frames.
bool BuiltWithFramePointers(const Interpreter& py) {
  CommandResult r = RunCommand(py.Command(
      {"-c",
       "import sysconfig\n"
       "flags = ' '.join(str(sysconfig.get_config_var(v) or '') for v in "
       "('CFLAGS', 'CFLAGS_NODIST'))\n"
       "print('-fno-omit-frame-pointer' in flags.split())"}));
  return r.exited && r.exit_code == 0 &&
         absl::StripAsciiWhitespace(r.out) == "True";
}

class NativeSleeperTest : public ::testing::TestWithParam<Interpreter> {};

// A thread in time.sleep and one in os.read (the main thread burns in C):
// in wall mode with --idle nearly every sample of each shows libc's call
// (named time_sleep / os_read where the interpreter has its symbols) under
// the Python function that called it, and neither thread is woken: their
// context switch counts do not move (a dump --native afterwards, which
// stops them, moves them: the count sees a stop). An interpreter built
// with frame pointers cannot be unwound that way: its sleepers keep their
// Python frames, counted in pystrobe.errors.native. Never anything else.
TEST_P(NativeSleeperTest, SleepersGetNativeFramesWithoutBeingWoken) {
  const Interpreter& py = GetParam();
  ScopedTempDir dir(py.TempParent());
  absl::StatusOr<Started> target =
      StartNativeBurn(py, dir, {"sleepers", "600", "READY"});
  if (!target.ok() && target.status().code() == absl::StatusCode::kNotFound) {
    GTEST_SKIP() << target.status() << " (its -dev package is not installed)";
  }
  ASSERT_TRUE(target.ok()) << target.status();
  const pid_t pid = target->child.pid();
  ASSERT_TRUE(
      WaitForFileOrExit(target->ready, target->child, absl::Seconds(30)))
      << target->child.Log();
  absl::StatusOr<std::string> json = ReadFileToString(target->ready);
  ASSERT_TRUE(json.ok());
  std::map<std::string, int64_t> tids = ParseTids(*json);
  ASSERT_EQ(tids.size(), 2u) << *json;
  const int64_t nap = tids["nap"];
  const int64_t reader = tids["read"];
  ASSERT_TRUE(WaitFor([&] { return Blocked(pid, nap) && Blocked(pid, reader); },
                      absl::Seconds(30)))
      << target->child.Log();
  const int64_t nap_switches = ContextSwitches(pid, nap);
  const int64_t reader_switches = ContextSwitches(pid, reader);
  ASSERT_GE(nap_switches, 0);
  ASSERT_GE(reader_switches, 0);

  const std::string profile = dir.path() + "/sleepers.pb.gz";
  CommandResult r =
      RunCommand({PystrobeBinary(), "record", "--pid", std::to_string(pid),
                  "--native", "--mode", "wall", "--idle", "--rate", "100",
                  "--duration", "3", "-o", profile});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe();
  // Never interrupted: a ptrace stop (or a signal) wakes a sleeping
  // thread, which then switches out once more when it sleeps again.
  EXPECT_EQ(ContextSwitches(pid, nap), nap_switches);
  EXPECT_EQ(ContextSwitches(pid, reader), reader_switches);

  // The control: a stop is seen.
  CommandResult dump = RunCommand(
      {PystrobeBinary(), "dump", "--pid", std::to_string(pid), "--native"});
  ASSERT_TRUE(dump.exited && dump.exit_code == 0) << dump.Describe();
  EXPECT_GT(ContextSwitches(pid, nap), nap_switches);
  EXPECT_GT(ContextSwitches(pid, reader), reader_switches);

  absl::StatusOr<Profile> p = ReadProfile(profile);
  ASSERT_TRUE(p.ok()) << p.status();
  const Share napping = NativeShare(*p, nap, "nap", "time_sleep");
  const Share reading = NativeShare(*p, reader, "wait_for_data", "os_read");
  const bool frame_pointers = BuiltWithFramePointers(py);
  const int64_t unmerged = CommentValue(*p, "pystrobe.errors.native");
  const int64_t samples = CommentValue(*p, "pystrobe.samples");
  std::cout << py.name << (frame_pointers ? " (frame pointers)" : "")
            << ": nap " << Describe(napping) << "; wait_for_data "
            << Describe(reading) << "; pystrobe.errors.native=" << unmerged
            << " of " << samples << std::endl;
  // About 300 ticks (fewer on a loaded machine).
  ASSERT_GE(napping.samples, 50) << DescribeProfile(*p);
  ASSERT_GE(reading.samples, 50) << DescribeProfile(*p);
  // Merged under the right caller, or Python frames alone: never a stack
  // of another shape.
  EXPECT_EQ(napping.native + napping.python_only, napping.samples)
      << DescribeProfile(*p);
  EXPECT_EQ(reading.native + reading.python_only, reading.samples)
      << DescribeProfile(*p);
  // Python frames alone are counted.
  EXPECT_GE(unmerged, napping.python_only + reading.python_only);
  if (frame_pointers) return;
  EXPECT_GE(napping.native * 20, napping.samples * 19) << DescribeProfile(*p);
  EXPECT_GE(reading.native * 20, reading.samples * 19) << DescribeProfile(*p);
}

INSTANTIATE_TEST_SUITE_P(Interpreters, NativeSleeperTest,
                         ::testing::ValuesIn(NativeInterpreters()),
                         [](const auto& p) { return p.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(NativeSleeperTest);

}  // namespace
}  // namespace pystrobe::integration
