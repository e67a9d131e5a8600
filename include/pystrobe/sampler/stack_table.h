// Aggregation of sampled stacks: memory grows with the number of distinct
// frames and stacks, never with the duration of a recording.
//
// Frames (code object, line) are interned to ids; stacks (frame id lists)
// to ids; each (stack, thread, time batch, flags) key holds a count and a
// weight. Time batches let pystrobe-diff estimate run-to-run variance: the
// recording is cut into at most kMaxBatches equal windows, and when a long
// recording runs past the last one, windows are merged pairwise (their
// length doubles), so their number stays bounded.
//
//   StackTable table(/*batch_ns=*/1'000'000'000);
//   uint32_t stack = table.InternStack(thread.frames, /*with_lines=*/true);
//   table.Add({stack, thread_slot, table.BatchFor(elapsed_ns), flags}, 1, w);
//   Profile profile = table.ToProfile(metadata);
#ifndef PYSTROBE_SAMPLER_STACK_TABLE_H_
#define PYSTROBE_SAMPLER_STACK_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pystrobe/profile/profile.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {

// Per-sample flags that become pprof labels.
enum SampleFlags : uint8_t {
  kFlagGil = 1,   // the thread held the GIL
  kFlagIdle = 2,  // the thread was not running on a CPU
  // State R, but waiting for a CPU, as the kernel's run-queue delay told
  // afterwards (CpuWaitFilter): label cpu_wait=true.
  kFlagCpuWait = 4,
};

struct StackKey {
  uint32_t stack = 0;
  uint32_t thread = 0;  // slot from StackTable::InternThread
  uint32_t batch = 0;
  uint8_t flags = 0;
  bool operator==(const StackKey& o) const {
    return stack == o.stack && thread == o.thread && batch == o.batch &&
           flags == o.flags;
  }
  template <typename H>
  friend H AbslHashValue(H h, const StackKey& k) {
    return H::combine(std::move(h), k.stack, k.thread, k.batch, k.flags);
  }
};

struct StackValue {
  int64_t count = 0;
  int64_t weight_ns = 0;
};

struct ThreadLabel {
  pid_t tid = 0;
  uint64_t thread_id = 0;
  std::string name;
  std::string task;  // the asyncio task it ran (--async), or ""
};

// What goes into a profile besides the stacks.
struct ProfileMetadata {
  std::string weight_type = "wall";  // "wall" or "cpu"
  int64_t period_ns = 0;
  int64_t start_unix_ns = 0;
  int64_t duration_ns = 0;
  pid_t pid = 0;
  std::string process;  // the `process` label (command line); "" for none
  std::vector<std::string> comments;
};

class StackTable {
 public:
  static constexpr uint32_t kMaxBatches = 32;

  explicit StackTable(int64_t batch_ns = 1'000'000'000);

  // Interns the frames of one stack (innermost first). Without lines, frames
  // of the same code object share one entry (--function).
  uint32_t InternStack(const std::vector<Frame>& frames, bool with_lines);
  // Like InternStack, but first compares with the stack last interned for
  // `thread` (a slot from InternThread): a thread that sits where it sat at
  // the previous sample, as most do, costs no hashing at all.
  uint32_t InternThreadStack(uint32_t thread, const std::vector<Frame>& frames,
                             bool with_lines);
  // The slot of thread `tid` running asyncio task `task` ("" for none: a
  // thread's samples outside tasks, and every sample without --async);
  // `name` is copied only the first time. Samples of a slot with a task
  // carry the label task=NAME.
  uint32_t InternThread(pid_t tid, uint64_t thread_id, const std::string& name,
                        const std::string& task = std::string());
  // The batch for a sample taken `elapsed_ns` after the start; merges
  // batches when needed to stay within kMaxBatches.
  uint32_t BatchFor(int64_t elapsed_ns);
  void Add(const StackKey& key, int64_t count, int64_t weight_ns);

  size_t distinct_stacks() const { return stacks_.size(); }
  size_t distinct_keys() const { return values_.size(); }
  size_t distinct_frames() const { return frames_.size(); }
  int64_t batch_ns() const { return batch_ns_; }
  // Bytes held by the table, roughly (for the memory-bound test).
  size_t ApproximateBytes() const;

  Profile ToProfile(const ProfileMetadata& metadata) const;
  // EncodePprof(ToProfile(metadata)), written straight from the table: at
  // the end of a long recording the Profile is many times the table (a
  // copy of each stack per time batch, labels per sample), and this never
  // builds it.
  absl::StatusOr<std::string> EncodePprof(
      const ProfileMetadata& metadata) const;
  // The profile reduced to one sample per leaf function (no lines, no
  // labels, no batches): what a summary of self time needs, at the size of
  // the function list.
  Profile ToLeafProfile(const ProfileMetadata& metadata) const;

 private:
  struct FrameKey {
    const CodeInfo* code;
    int line;
    bool operator==(const FrameKey& o) const {
      return code == o.code && line == o.line;
    }
    template <typename H>
    friend H AbslHashValue(H h, const FrameKey& k) {
      return H::combine(std::move(h), k.code, k.line);
    }
  };
  struct FrameEntry {
    // Keeps the CodeInfo alive, so its address (the interning key) is never
    // reused by another code object while this table exists.
    std::shared_ptr<const CodeInfo> code;
    int line;
  };
  // Stacks are looked up by span so a sample allocates nothing when its
  // stack was seen before.
  struct SpanHash {
    using is_transparent = void;
    size_t operator()(absl::Span<const uint32_t> s) const {
      return absl::Hash<absl::Span<const uint32_t>>()(s);
    }
  };
  struct SpanEq {
    using is_transparent = void;
    bool operator()(absl::Span<const uint32_t> a,
                    absl::Span<const uint32_t> b) const {
      return a == b;
    }
  };

  static Function FunctionOf(const FrameEntry& frame);
  // The pprof Mapping of a native frame's module.
  static Mapping MappingOf(const CodeInfo& code);
  std::vector<const std::pair<const StackKey, StackValue>*> SortedEntries()
      const;

  int64_t batch_ns_;
  absl::flat_hash_map<FrameKey, uint32_t> frame_ids_;
  std::vector<FrameEntry> frames_;
  // Node-based: stacks_ points at the keys, which must not move on rehash.
  absl::node_hash_map<std::vector<uint32_t>, uint32_t, SpanHash, SpanEq>
      stack_ids_;
  std::vector<const std::vector<uint32_t>*> stacks_;
  absl::flat_hash_map<std::pair<pid_t, std::string>, uint32_t> thread_ids_;
  std::vector<ThreadLabel> threads_;
  absl::flat_hash_map<StackKey, StackValue> values_;
  std::vector<uint32_t> scratch_;
  // Per thread slot: the frames (code, line) and id of its last stack. The
  // CodeInfo pointers stay valid: frames_ keeps every interned one alive.
  struct LastStack {
    std::vector<std::pair<const CodeInfo*, int>> frames;
    uint32_t id = 0;
    bool valid = false;
  };
  std::vector<LastStack> last_by_thread_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SAMPLER_STACK_TABLE_H_
