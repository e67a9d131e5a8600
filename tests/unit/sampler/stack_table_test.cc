// StackTable's outputs: the streamed pprof encoding is the same profile as
// ToProfile's, the leaf profile has the same self time per function, and
// the streamed encoding needs little memory beyond the table itself.
//
// Memory is measured by counting the bytes this test binary holds on the
// heap (operator new/delete below), so the bound is exact and repeatable:
// the table of a long recording (300 stacks of depth 1..300, as
// tests/workloads/record_many_stacks.py makes, in 32 time batches) is
// filled; its bytes are the steady state; encoding it may at most double
// them. Building the Profile first (what `record` did) must not fit in the
// same bound, so the bound can tell.
#include "pystrobe/sampler/stack_table.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "pystrobe/profile/formats.h"

// The replacements below pair malloc with free by design; GCC sees
// operator new's pointer reach free() once they are inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void Count(void* p) {
  if (p == nullptr) return;
  const int64_t now =
      g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p))) +
      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
void Uncount(void* p) {
  if (p != nullptr) {
    g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
  }
}
}  // namespace

void* operator new(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  Count(p);
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept {
  Uncount(p);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, size_t) noexcept { operator delete(p); }
void operator delete[](void* p, size_t) noexcept { operator delete(p); }

namespace pystrobe {
namespace {

std::shared_ptr<const CodeInfo> Code(const std::string& name,
                                     const std::string& qualname) {
  auto code = std::make_shared<CodeInfo>();
  code->name = name;
  code->qualname = qualname;
  code->filename = "/srv/many_stacks.py";
  code->first_line = 10;
  return code;
}

struct Fixture {
  std::vector<std::shared_ptr<const CodeInfo>> codes = {
      Code("descend_a", "descend_a"), Code("descend_b", ""),
      Code("<module>", "<module>"), Code("spin_leaf", "Leaf.spin")};
  ProfileMetadata metadata;
  Fixture() {
    metadata.weight_type = "wall";
    metadata.period_ns = 1'000'000;
    metadata.start_unix_ns = 1'700'000'000'000'000'000;
    metadata.duration_ns = 32'000'000'000;
    metadata.pid = 4242;
    metadata.comments = {"python_version=3.11.2"};
  }
  // One recording's worth: every depth in every batch, two threads.
  void Fill(StackTable& table, int max_depth) const {
    std::vector<Frame> frames;
    for (uint32_t batch = 0; batch < StackTable::kMaxBatches; ++batch) {
      const uint32_t b = table.BatchFor(batch * 1'000'000'000LL);
      for (int thread = 0; thread < 2; ++thread) {
        const uint32_t slot = table.InternThread(
            100 + thread, 7000 + thread, thread == 0 ? "MainThread" : "");
        for (int depth = 1; depth <= max_depth; ++depth) {
          frames.clear();
          frames.push_back(Frame{codes[3], 20 + depth % 3});
          for (int i = 1; i < depth; ++i) {
            frames.push_back(Frame{codes[i % 2], 12 + i % 2});
          }
          frames.push_back(Frame{codes[2], 1});
          const uint32_t stack = table.InternThreadStack(slot, frames, true);
          const uint8_t flags =
              (depth % 2 ? kFlagGil : 0) | (depth % 7 == 0 ? kFlagIdle : 0);
          table.Add(StackKey{stack, slot, b, flags}, depth,
                    depth * 1'000'000LL);
        }
      }
    }
  }
};

TEST(StackTableTest, StreamedPprofIsTheSameProfile) {
  Fixture f;
  StackTable table(1'000'000'000);
  f.Fill(table, 40);
  const Profile built = table.ToProfile(f.metadata);
  absl::StatusOr<std::string> streamed = table.EncodePprof(f.metadata);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  absl::StatusOr<Profile> back = DecodePprof(*streamed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->sample_types, built.sample_types);
  EXPECT_EQ(back->functions, built.functions);
  EXPECT_EQ(back->locations, built.locations);
  EXPECT_EQ(back->comments, built.comments);
  EXPECT_EQ(back->time_nanos, built.time_nanos);
  EXPECT_EQ(back->duration_nanos, built.duration_nanos);
  EXPECT_EQ(back->period, built.period);
  EXPECT_EQ(back->period_type, built.period_type);
  EXPECT_EQ(back->default_sample_type, built.default_sample_type);
  ASSERT_EQ(back->samples.size(), built.samples.size());
  for (size_t i = 0; i < built.samples.size(); ++i) {
    const Sample& a = back->samples[i];
    const Sample& b = built.samples[i];
    ASSERT_EQ(a.location_ids, b.location_ids) << i;
    ASSERT_EQ(a.values, b.values) << i;
    ASSERT_EQ(a.labels.size(), b.labels.size()) << i;
    for (size_t j = 0; j < a.labels.size(); ++j) {
      EXPECT_EQ(a.labels[j].key, b.labels[j].key);
      EXPECT_EQ(a.labels[j].str, b.labels[j].str);
      EXPECT_EQ(a.labels[j].num, b.labels[j].num);
    }
  }
}

TEST(StackTableTest, LeafProfileHasTheSelfTimeOfEachFunction) {
  Fixture f;
  StackTable table(1'000'000'000);
  f.Fill(table, 30);
  const Profile full = table.ToProfile(f.metadata);
  const Profile leaf = table.ToLeafProfile(f.metadata);
  auto self = [](const Profile& p) {
    std::map<std::string, std::pair<int64_t, int64_t>> out;
    for (const Sample& s : p.samples) {
      const Function& fn = p.FunctionOf(p.LocationAt(s.location_ids.front()));
      out[fn.name].first += s.values[0];
      out[fn.name].second += s.values[1];
    }
    return out;
  };
  EXPECT_EQ(self(leaf), self(full));
  EXPECT_EQ(leaf.samples.size(), 1u);  // every stack ends in Leaf.spin
  EXPECT_EQ(leaf.sample_types, full.sample_types);
}

TEST(StackTableTest, StreamedPprofAtMostDoublesTheTablesMemory) {
  Fixture f;
  const int64_t before = g_live.load();
  auto table = std::make_unique<StackTable>(1'000'000'000);
  f.Fill(*table, 300);
  const int64_t steady = g_live.load() - before;

  g_peak.store(g_live.load());
  absl::StatusOr<std::string> streamed = table->EncodePprof(f.metadata);
  ASSERT_TRUE(streamed.ok());
  const int64_t streamed_peak = g_peak.load() - before;
  const size_t streamed_size = streamed->size();
  streamed = std::string();

  g_peak.store(g_live.load());
  {
    const Profile profile = table->ToProfile(f.metadata);
    absl::StatusOr<std::string> encoded = EncodePprof(profile);
    ASSERT_TRUE(encoded.ok());
  }
  const int64_t built_peak = g_peak.load() - before;
  std::cout
      << absl::StreamFormat(
             "table %.1f MiB (%d entries); peak while encoding: "
             "streamed %.1f MiB (%.2fx), via a Profile %.1f MiB "
             "(%.2fx); %d bytes of pprof",
             static_cast<double>(steady) / (1 << 20), table->distinct_keys(),
             static_cast<double>(streamed_peak) / (1 << 20),
             static_cast<double>(streamed_peak) / static_cast<double>(steady),
             static_cast<double>(built_peak) / (1 << 20),
             static_cast<double>(built_peak) / static_cast<double>(steady),
             streamed_size)
      << std::endl;
  EXPECT_LE(streamed_peak, 2 * steady);
  // The bound can fail: the Profile alone is several times the table.
  EXPECT_GT(built_peak, 2 * steady);
}

}  // namespace
}  // namespace pystrobe
