#include "pystrobe/process/remote_memory.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pystrobe/base/errors.h"
#include "status_matchers.h"

namespace pystrobe {
namespace {

using ::pystrobe::testing::ChildProcess;
using ::pystrobe::testing::IsOk;
using ::pystrobe::testing::Pipe;
using ::testing::HasSubstr;

constexpr size_t kPage = PageCache::kPageSize;

uint8_t PatternByte(size_t i) { return static_cast<uint8_t>(i * 7 + 3); }

std::string Hex(uint64_t value) {
  char buffer[32];
  snprintf(buffer, sizeof(buffer), "0x%llx",
           static_cast<unsigned long long>(value));
  return buffer;
}

// A child whose memory the test knows: `kPages` pages mapped before the fork
// at the same address in both processes. The child writes PatternByte(i) at
// offset i (the parent's copy stays zero, copy-on-write), optionally unmaps
// page `hole`, reports ready and then waits. On "poke" it adds 1 to the
// first byte and acknowledges.
class PatternChild {
 public:
  static constexpr size_t kPages = 4;

  explicit PatternChild(int hole = -1) {
    void* mem = mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
      abort();
    }
    base_ = static_cast<uint8_t*>(mem);
    child_.emplace(ChildProcess::Spawn([&] {
      for (size_t i = 0; i < kPages * kPage; ++i) {
        base_[i] = PatternByte(i);
      }
      if (hole >= 0) {
        munmap(base_ + static_cast<size_t>(hole) * kPage, kPage);
      }
      to_parent_.WriteValue('r');
      char command;
      while (to_child_.ReadValue(&command)) {
        ++base_[0];
        to_parent_.WriteValue('a');
      }
    }));
    char ready = 0;
    if (!to_parent_.ReadValue(&ready) || ready != 'r') {
      abort();
    }
  }
  ~PatternChild() {
    child_.reset();
    munmap(base_, kPages * kPage);
  }

  pid_t pid() const { return child_->pid(); }
  uint64_t address(size_t offset = 0) const {
    return reinterpret_cast<uint64_t>(base_) + offset;
  }
  const uint8_t* local() const { return base_; }
  void Poke() {
    char ack = 0;
    ASSERT_TRUE(to_child_.WriteValue('p'));
    ASSERT_TRUE(to_parent_.ReadValue(&ack));
  }
  void Kill() { child_->Kill(); }

 private:
  uint8_t* base_ = nullptr;
  Pipe to_parent_ = Pipe::Make();
  Pipe to_child_ = Pipe::Make();
  std::optional<ChildProcess> child_;
};

void ExpectPattern(const std::vector<uint8_t>& bytes, size_t offset) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(bytes[i], PatternByte(offset + i)) << "at offset " << i;
  }
}

// Reads in the child with `memory`; checks contents, unmapped addresses and
// a process that exited.
void CheckLiveReads(RemoteMemory& memory, PatternChild& child) {
  std::vector<uint8_t> bytes(3 * kPage);
  ASSERT_THAT(memory.Read(child.address(100), bytes.data(), bytes.size()),
              IsOk());
  ExpectPattern(bytes, 100);
  // The parent's own copy was never written: we did read the child.
  EXPECT_EQ(child.local()[100], 0);
}

TEST(ProcessVmMemoryTest, ReadsChildMemory) {
  PatternChild child;
  ProcessVmMemory memory(child.pid());
  CheckLiveReads(memory, child);
  EXPECT_EQ(memory.read_count(), 1u);
  uint8_t zero_size;
  EXPECT_THAT(memory.Read(child.address(), &zero_size, 0), IsOk());
}

TEST(ProcMemFileTest, ReadsChildMemory) {
  PatternChild child;
  absl::StatusOr<std::unique_ptr<ProcMemFile>> memory =
      ProcMemFile::Open(child.pid());
  ASSERT_THAT(memory, IsOk());
  CheckLiveReads(**memory, child);
  EXPECT_GE((*memory)->read_count(), 1u);
}

TEST(ProcessVmMemoryTest, UnmappedAddressIsMemoryGone) {
  PatternChild child(/*hole=*/2);
  ProcessVmMemory memory(child.pid());
  uint64_t value = 0;
  absl::Status status = memory.Read(child.address(2 * kPage), &value, 8);
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  // Straddling from a mapped page into the hole: the error names the hole.
  std::vector<uint8_t> bytes(64);
  status = memory.Read(child.address(2 * kPage - 32), bytes.data(), 64);
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(Hex(child.address(2 * kPage))));
  EXPECT_TRUE(IsMemoryGone(memory.Read(8, &value, 8)));
}

TEST(ProcMemFileTest, UnmappedAddressIsMemoryGone) {
  PatternChild child(/*hole=*/2);
  absl::StatusOr<std::unique_ptr<ProcMemFile>> memory =
      ProcMemFile::Open(child.pid());
  ASSERT_THAT(memory, IsOk());
  uint64_t value = 0;
  absl::Status status = (*memory)->Read(child.address(2 * kPage), &value, 8);
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  std::vector<uint8_t> bytes(64);
  status = (*memory)->Read(child.address(2 * kPage - 32), bytes.data(), 64);
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(Hex(child.address(2 * kPage))));
}

TEST(ProcessVmMemoryTest, ExitedProcessIsProcessGone) {
  PatternChild child;
  ProcessVmMemory memory(child.pid());
  const uint64_t address = child.address();
  child.Kill();
  uint64_t value = 0;
  const absl::Status status = memory.Read(address, &value, 8);
  EXPECT_TRUE(IsProcessGone(status)) << status;
  EXPECT_TRUE(IsProcessGone(
      memory.ReadBatch({ReadRequest{address, &value, sizeof(value)}})));
}

TEST(ProcMemFileTest, ExitedProcessIsProcessGone) {
  PatternChild child;
  const pid_t pid = child.pid();
  absl::StatusOr<std::unique_ptr<ProcMemFile>> memory = ProcMemFile::Open(pid);
  ASSERT_THAT(memory, IsOk());
  const uint64_t address = child.address();
  child.Kill();
  uint64_t value = 0;
  const absl::Status status = (*memory)->Read(address, &value, 8);
  EXPECT_TRUE(IsProcessGone(status)) << status;
  EXPECT_TRUE(IsProcessGone(ProcMemFile::Open(pid).status()));
}

TEST(ProcessVmMemoryTest, BatchUsesOneSyscallPerIovMax) {
  PatternChild child;
  ProcessVmMemory memory(child.pid());
  // 1500 ranges of 8 bytes, every 10 bytes: more than IOV_MAX (1024).
  constexpr size_t kCount = 1500;
  std::vector<uint64_t> values(kCount);
  std::vector<ReadRequest> requests;
  for (size_t i = 0; i < kCount; ++i) {
    requests.push_back(ReadRequest{child.address(i * 10), &values[i], 8});
  }
  ASSERT_THAT(memory.ReadBatch(requests), IsOk());
  EXPECT_EQ(memory.read_count(), 2u);
  for (size_t i = 0; i < kCount; ++i) {
    uint8_t expected[8];
    for (size_t j = 0; j < 8; ++j) {
      expected[j] = PatternByte(i * 10 + j);
    }
    ASSERT_EQ(std::memcmp(&values[i], expected, 8), 0) << "range " << i;
  }
}

TEST(ProcessVmMemoryTest, BatchFailureNamesTheUnmappedRange) {
  PatternChild child(/*hole=*/1);
  ProcessVmMemory memory(child.pid());
  uint64_t a = 0;
  uint64_t b = 0;
  uint64_t c = 0;
  const absl::Status status = memory.ReadBatch({
      ReadRequest{child.address(0), &a, 8},
      ReadRequest{child.address(kPage + 16), &b, 8},
      ReadRequest{child.address(2 * kPage), &c, 8},
  });
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(Hex(child.address(kPage + 16))));
}

TEST(OpenRemoteMemoryTest, ReadsLiveChild) {
  PatternChild child;
  absl::StatusOr<std::unique_ptr<RemoteMemory>> memory =
      OpenRemoteMemory(child.pid());
  ASSERT_THAT(memory, IsOk());
  // process_vm_readv works on this machine (the tests above), so it wins.
  EXPECT_NE(dynamic_cast<ProcessVmMemory*>(memory->get()), nullptr);
  CheckLiveReads(**memory, child);
}

TEST(OpenRemoteMemoryTest, MissingProcess) {
  PatternChild child;
  const pid_t pid = child.pid();
  child.Kill();
  const absl::Status status = OpenRemoteMemory(pid).status();
  EXPECT_TRUE(IsProcessGone(status)) << status;
  EXPECT_EQ(status.message(), "no process with PID " + std::to_string(pid));
}

// A seccomp filter that makes process_vm_readv fail with `error`, as some
// container runtimes do.
bool DenyProcessVmReadv(int error) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO |
                   (static_cast<uint32_t>(error) & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// In a helper process where process_vm_readv is filtered, OpenRemoteMemory
// falls back to /proc/PID/mem and still reads the pattern. The helper
// reports: 'f' = fell back and read correctly, anything else = failure.
void CheckFallback(int error) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter is written for x86-64";
#endif
  PatternChild child;
  Pipe result = Pipe::Make();
  ChildProcess helper = ChildProcess::Spawn([&] {
    if (!DenyProcessVmReadv(error)) {
      result.WriteValue('s');
      return;
    }
    absl::StatusOr<std::unique_ptr<RemoteMemory>> memory =
        OpenRemoteMemory(child.pid());
    if (!memory.ok()) {
      result.WriteValue('o');
      return;
    }
    if (dynamic_cast<ProcMemFile*>(memory->get()) == nullptr) {
      result.WriteValue('t');
      return;
    }
    std::vector<uint8_t> bytes(kPage);
    if (!(*memory)->Read(child.address(5), bytes.data(), bytes.size()).ok()) {
      result.WriteValue('r');
      return;
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != PatternByte(5 + i)) {
        result.WriteValue('d');
        return;
      }
    }
    result.WriteValue('f');
  });
  char outcome = 0;
  ASSERT_TRUE(result.ReadValue(&outcome));
  EXPECT_EQ(outcome, 'f');
  helper.Reap();
}

TEST(OpenRemoteMemoryTest, FallsBackToProcMemWithoutProcessVmReadv) {
  CheckFallback(ENOSYS);
}

TEST(OpenRemoteMemoryTest, FallsBackToProcMemWhenProcessVmReadvIsDenied) {
  CheckFallback(EPERM);
}

TEST(FakeMemoryTest, Basics) {
  FakeMemory memory;
  memory.Add(0x1000, std::string("abcdefgh", 8));
  memory.Add(0x1008, std::string("ijkl", 4));  // adjacent
  memory.Add(0x2000, std::string("xyz", 3));
  memory.Add(0x1004, std::string("overlap", 7));  // ignored
  char out[16] = {};
  ASSERT_THAT(memory.Read(0x1002, out, 4), IsOk());
  EXPECT_EQ(std::string(out, 4), "cdef");
  ASSERT_THAT(memory.Read(0x1008, out, 4), IsOk());
  EXPECT_EQ(std::string(out, 4), "ijkl");
  ASSERT_THAT(memory.Read(0x2000, out, 3), IsOk());
  EXPECT_EQ(std::string(out, 3), "xyz");
  EXPECT_TRUE(IsMemoryGone(memory.Read(0x0fff, out, 2)));
  EXPECT_TRUE(IsMemoryGone(memory.Read(0x2001, out, 3)));  // past the end
  EXPECT_TRUE(IsMemoryGone(memory.Read(0x1006, out, 4)));  // adjacent: fails
  EXPECT_TRUE(IsMemoryGone(memory.Read(0x3000, out, 1)));
  EXPECT_TRUE(IsMemoryGone(memory.Read(UINT64_MAX - 1, out, 4)));
  EXPECT_EQ(memory.read_count(), 8u);
  // The default ReadBatch reads each range.
  char a[2];
  char b[2];
  EXPECT_THAT(
      memory.ReadBatch({ReadRequest{0x1000, a, 2}, ReadRequest{0x2001, b, 2}}),
      IsOk());
  EXPECT_EQ(std::string(a, 2), "ab");
  EXPECT_EQ(std::string(b, 2), "yz");
  EXPECT_TRUE(IsMemoryGone(memory.ReadBatch(
      {ReadRequest{0x1000, a, 2}, ReadRequest{0x2002, b, 2}})));
}

struct Record {
  uint64_t id;
  uint32_t a;
  uint32_t b;
};

// 200 records spread over two pages of a child cost at most two reads of
// the process; a record straddling the page boundary comes out right.
TEST(PageCacheTest, ServesNearbyReadsFromOneFetchPerPage) {
  void* mem = mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  constexpr size_t kRecords = 200;  // 3200 bytes from offset 1000
  const uint64_t first = reinterpret_cast<uint64_t>(mem) + 1000;
  Pipe ready = Pipe::Make();
  ChildProcess child = ChildProcess::Spawn([&] {
    auto* base = reinterpret_cast<uint8_t*>(mem) + 1000;
    for (size_t i = 0; i < kRecords; ++i) {
      Record r{i * 1000003, static_cast<uint32_t>(i),
               ~static_cast<uint32_t>(i)};
      std::memcpy(base + i * sizeof(Record), &r, sizeof(r));
    }
    ready.WriteValue('r');
    pause();
  });
  char c = 0;
  ASSERT_TRUE(ready.ReadValue(&c));

  ProcessVmMemory source(child.pid());
  PageCache cache(&source);
  // Read in a scattered order.
  for (size_t k = 0; k < kRecords; ++k) {
    const size_t i = (k * 37) % kRecords;
    Record r{};
    ASSERT_THAT(cache.Read(first + i * sizeof(Record), &r, sizeof(r)), IsOk());
    ASSERT_EQ(r.id, i * 1000003);
    ASSERT_EQ(r.a, static_cast<uint32_t>(i));
    ASSERT_EQ(r.b, ~static_cast<uint32_t>(i));
  }
  EXPECT_LE(source.read_count(), 2u);
  EXPECT_EQ(cache.cached_pages(), 2u);

  // 16 bytes across the page boundary: the end of one record and the start
  // of the next ((4096 - 1000) / 16 = 193.5 records fit in the first page).
  // Expected bytes: the same records laid out locally.
  std::vector<uint8_t> image(kRecords * sizeof(Record));
  for (size_t i = 0; i < kRecords; ++i) {
    Record r{i * 1000003, static_cast<uint32_t>(i), ~static_cast<uint32_t>(i)};
    std::memcpy(image.data() + i * sizeof(Record), &r, sizeof(r));
  }
  const uint64_t boundary = reinterpret_cast<uint64_t>(mem) + kPage;
  uint8_t straddle[16];
  ASSERT_THAT(cache.Read(boundary - 8, straddle, sizeof(straddle)), IsOk());
  EXPECT_EQ(std::memcmp(straddle, image.data() + (kPage - 1000 - 8), 16), 0);
  EXPECT_LE(source.read_count(), 2u);
  child.Kill();
  munmap(mem, 2 * kPage);
}

TEST(PageCacheTest, UnmappedPageDoesNotPoisonOthers) {
  PatternChild child(/*hole=*/1);
  ProcessVmMemory source(child.pid());
  PageCache cache(&source);
  // Pages 0..2, page 1 unmapped: the read fails...
  std::vector<uint8_t> bytes(2 * kPage);  // ends in page 2
  const absl::Status status =
      cache.Read(child.address(kPage - 8), bytes.data(), bytes.size());
  EXPECT_TRUE(IsMemoryGone(status)) << status;
  // ...but pages 0 and 2 were cached on the way: no more process reads.
  const uint64_t reads = source.read_count();
  std::vector<uint8_t> page0(kPage);
  std::vector<uint8_t> page2(kPage);
  ASSERT_THAT(cache.Read(child.address(0), page0.data(), kPage), IsOk());
  ASSERT_THAT(cache.Read(child.address(2 * kPage), page2.data(), kPage),
              IsOk());
  EXPECT_EQ(source.read_count(), reads);
  ExpectPattern(page0, 0);
  ExpectPattern(page2, 2 * kPage);
  EXPECT_EQ(cache.cached_pages(), 2u);
  uint64_t value = 0;
  EXPECT_TRUE(IsMemoryGone(cache.Read(child.address(kPage), &value, 8)));
}

TEST(PageCacheTest, ClearDropsStalePages) {
  PatternChild child;
  ProcessVmMemory source(child.pid());
  PageCache cache(&source);
  uint8_t first = 0;
  ASSERT_THAT(cache.Read(child.address(), &first, 1), IsOk());
  EXPECT_EQ(first, PatternByte(0));
  child.Poke();  // the child adds 1 to that byte
  ASSERT_THAT(cache.Read(child.address(), &first, 1), IsOk());
  EXPECT_EQ(first, PatternByte(0));  // same sample: cached
  cache.Clear();
  EXPECT_EQ(cache.cached_pages(), 0u);
  ASSERT_THAT(cache.Read(child.address(), &first, 1), IsOk());
  EXPECT_EQ(first, static_cast<uint8_t>(PatternByte(0) + 1));
  EXPECT_EQ(source.read_count(), 2u);
}

// Reads one byte of each of the first `pages` pages of the child's pattern.
void ReadOneBytePerPage(PageCache& cache, const PatternChild& child,
                        int pages) {
  uint8_t byte = 0;
  for (int page = 0; page < pages; ++page) {
    ASSERT_THAT(
        cache.Read(child.address() + page * PageCache::kPageSize, &byte, 1),
        IsOk());
  }
}

// A new sample re-reads the previous sample's pages in one batched read:
// fresh data (the child's write is seen), one syscall for three pages, and
// no read at all for later reads of those pages.
TEST(PageCacheTest, StartSampleRefetchesThePreviousPagesInOneRead) {
  PatternChild child;
  ProcessVmMemory source(child.pid());
  PageCache cache(&source);
  ReadOneBytePerPage(cache, child, 3);
  ASSERT_EQ(source.read_count(), 3u);
  uint8_t byte = 0;
  child.Poke();  // the child adds 1 to the first byte
  cache.StartSample();
  EXPECT_EQ(source.read_count(), 4u);
  EXPECT_EQ(cache.cached_pages(), 3u);
  for (uint64_t page = 0; page < 3; ++page) {
    ASSERT_THAT(
        cache.Read(child.address() + page * PageCache::kPageSize, &byte, 1),
        IsOk());
  }
  EXPECT_EQ(byte, PatternByte(2 * PageCache::kPageSize));
  ASSERT_THAT(cache.Read(child.address(), &byte, 1), IsOk());
  EXPECT_EQ(byte, static_cast<uint8_t>(PatternByte(0) + 1));
  EXPECT_EQ(source.read_count(), 4u);
}

// The prefetch follows the target: a page the last sample did not use is
// not fetched again (otherwise every page ever read would be re-read on
// every sample, up to max_pages).
TEST(PageCacheTest, StartSampleDropsPagesTheLastSampleDidNotUse) {
  PatternChild child;
  ProcessVmMemory source(child.pid());
  PageCache cache(&source);
  ReadOneBytePerPage(cache, child, 3);
  EXPECT_EQ(cache.touched_pages(), 3u);
  uint8_t byte = 0;
  cache.StartSample();  // prefetches pages 0-2; this sample uses only page 1
  EXPECT_EQ(cache.cached_pages(), 3u);
  EXPECT_EQ(cache.touched_pages(), 0u);
  ASSERT_THAT(cache.Read(child.address() + PageCache::kPageSize, &byte, 1),
              IsOk());
  EXPECT_EQ(cache.touched_pages(), 1u);
  cache.StartSample();
  EXPECT_EQ(cache.cached_pages(), 1u);
  const uint64_t reads = source.read_count();
  ASSERT_THAT(cache.Read(child.address() + PageCache::kPageSize + 9, &byte, 1),
              IsOk());
  EXPECT_EQ(byte, PatternByte(PageCache::kPageSize + 9));
  EXPECT_EQ(source.read_count(), reads);  // served by the prefetch
}

// Counts the bytes a source is asked for, to see what a prefetch copies.
class ByteCountingMemory final : public RemoteMemory {
 public:
  explicit ByteCountingMemory(RemoteMemory* source) : source_(source) {}
  absl::Status Read(uint64_t address, void* out, size_t size) override {
    ++read_count_;
    bytes_ += size;
    return source_->Read(address, out, size);
  }
  absl::Status ReadBatch(const std::vector<ReadRequest>& requests) override {
    ++read_count_;
    for (const ReadRequest& r : requests) bytes_ += r.size;
    return source_->ReadBatch(requests);
  }
  size_t bytes() const { return bytes_; }

 private:
  RemoteMemory* source_;
  size_t bytes_ = 0;
};

// The prefetch copies the part of each page that was used (with slack), not
// the page; a read beyond that part fetches the page whole, once, and a
// view taken before keeps its bytes.
TEST(PageCacheTest, StartSampleFetchesOnlyTheUsedPartOfEachPage) {
  PatternChild child;
  ProcessVmMemory vm(child.pid());
  ByteCountingMemory source(&vm);
  PageCache cache(&source);
  const uint64_t page = child.address() + PageCache::kPageSize;
  uint8_t bytes[16] = {};
  ASSERT_THAT(cache.Read(page + 1000, bytes, 16), IsOk());
  ASSERT_THAT(cache.Read(page + 1100, bytes, 16), IsOk());
  const size_t before = source.bytes();
  cache.StartSample();
  const size_t prefetched = source.bytes() - before;
  EXPECT_GT(prefetched, 116u);                      // [1000, 1116) at least
  EXPECT_LT(prefetched, PageCache::kPageSize / 2);  // not the page
  const uint64_t reads = source.read_count();

  uint8_t scratch[16] = {};
  absl::StatusOr<const uint8_t*> view = cache.View(page + 1100, 16, scratch);
  ASSERT_THAT(view.status(), IsOk());
  EXPECT_EQ((*view)[0], PatternByte(PageCache::kPageSize + 1100));
  ASSERT_THAT(cache.Read(page + 1000, bytes, 16), IsOk());
  EXPECT_EQ(source.read_count(), reads);  // both inside the prefetched part
  EXPECT_EQ(bytes[5], PatternByte(PageCache::kPageSize + 1005));

  // Far outside it: the whole page, in one read.
  ASSERT_THAT(cache.Read(page + 4000, bytes, 16), IsOk());
  EXPECT_EQ(bytes[3], PatternByte(PageCache::kPageSize + 4003));
  EXPECT_EQ(source.read_count(), reads + 1);
  ASSERT_THAT(cache.Read(page + 10, bytes, 16), IsOk());
  EXPECT_EQ(bytes[0], PatternByte(PageCache::kPageSize + 10));
  EXPECT_EQ(source.read_count(), reads + 1);
  EXPECT_EQ((*view)[0], PatternByte(PageCache::kPageSize + 1100));
  EXPECT_EQ(cache.touched_pages(), 1u);

  // The next prefetch covers everything the page was used for: one read.
  cache.StartSample();
  const uint64_t after = source.read_count();
  ASSERT_THAT(cache.Read(page + 4000, bytes, 16), IsOk());
  ASSERT_THAT(cache.Read(page + 10, bytes, 16), IsOk());
  EXPECT_EQ(source.read_count(), after);
}

// Prefetch() fetches what a walker announces in one read of the source, of
// each page only the cache lines the ranges cover (joined per page), and
// leaves what is cached alone; the announced reads then cost nothing.
TEST(PageCacheTest, PrefetchFetchesTheMissingRangesInOneRead) {
  PatternChild child;
  ProcessVmMemory vm(child.pid());
  ByteCountingMemory source(&vm);
  PageCache cache(&source);
  const uint64_t base = child.address();
  uint8_t bytes[200] = {};
  ASSERT_THAT(cache.Read(base + 100, bytes, 16), IsOk());  // page 0 whole
  const uint64_t reads = source.read_count();
  const size_t before = source.bytes();
  cache.Prefetch({{base + 200, nullptr, 16},
                  {base + kPage + 1000, nullptr, 200},
                  {base + kPage + 1300, nullptr, 100},
                  {base + 3 * kPage + 64, nullptr, 8}});
  EXPECT_EQ(source.read_count(), reads + 1);
  const size_t fetched = source.bytes() - before;
  EXPECT_GE(fetched, 400u + 8u);   // [1000, 1400) of page 1, 8 B of page 3
  EXPECT_LE(fetched, 512u + 64u);  // their cache lines, not the pages

  ASSERT_THAT(cache.Read(base + kPage + 1000, bytes, 200), IsOk());
  EXPECT_EQ(bytes[7], PatternByte(kPage + 1007));
  ASSERT_THAT(cache.Read(base + kPage + 1300, bytes, 100), IsOk());
  EXPECT_EQ(bytes[99], PatternByte(kPage + 1399));
  ASSERT_THAT(cache.Read(base + 3 * kPage + 64, bytes, 8), IsOk());
  EXPECT_EQ(bytes[0], PatternByte(3 * kPage + 64));
  EXPECT_EQ(source.read_count(), reads + 1);

  // Everything announced is cached already: nothing to fetch.
  cache.Prefetch({{base + kPage + 1100, nullptr, 50}});
  EXPECT_EQ(source.read_count(), reads + 1);
}

// A page used only through announced reads (code objects: their neighbours
// are other code objects) comes back at the next sample without slack; one
// whose part missed comes back whole for a while, then shrinks again.
TEST(PageCacheTest,
     StartSampleFetchesAnnouncedPartsExactlyAndMissedPagesWhole) {
  PatternChild child;
  ProcessVmMemory vm(child.pid());
  ByteCountingMemory source(&vm);
  PageCache cache(&source);
  const uint64_t page = child.address() + kPage;
  uint8_t bytes[64] = {};
  auto prefetched_by_next_sample = [&] {
    const size_t before = source.bytes();
    cache.StartSample();
    return source.bytes() - before;
  };

  cache.Prefetch({{page + 1024, nullptr, 64}});
  ASSERT_THAT(cache.Read(page + 1024, bytes, 64), IsOk());
  EXPECT_EQ(prefetched_by_next_sample(), 64u);  // no slack
  ASSERT_THAT(cache.Read(page + 1024, bytes, 64), IsOk());
  EXPECT_EQ(prefetched_by_next_sample(), 64u);  // and it stays exact

  // A read outside the fetched part: the page, whole, from now on.
  ASSERT_THAT(cache.Read(page + 3000, bytes, 8), IsOk());
  EXPECT_EQ(bytes[0], PatternByte(kPage + 3000));
  EXPECT_EQ(prefetched_by_next_sample(), kPage);
  const uint64_t reads = source.read_count();
  ASSERT_THAT(cache.Read(page + 2000, bytes, 8), IsOk());  // never used
  EXPECT_EQ(source.read_count(), reads);
  EXPECT_EQ(bytes[0], PatternByte(kPage + 2000));

  // Used in one place only for long enough: back to that part and slack.
  size_t last = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(cache.Read(page + 1024, bytes, 64), IsOk());
    last = prefetched_by_next_sample();
  }
  EXPECT_LT(last, kPage / 2);
  EXPECT_GE(last, 64u);
}

// View() hands out the cached page's own bytes for a range inside one page,
// and copies into the scratch buffer only when the range straddles pages.
TEST(PageCacheTest, ViewBorrowsFromThePageAndCopiesOnlyAcrossPages) {
  FakeMemory fake;
  std::string bytes(2 * kPage, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(i % 253);
  }
  fake.Add(0x200000, bytes);
  PageCache cache(&fake);
  uint8_t scratch[64] = {};

  absl::StatusOr<const uint8_t*> inside = cache.View(0x200010, 32, scratch);
  ASSERT_THAT(inside.status(), IsOk());
  EXPECT_NE(*inside, scratch);
  EXPECT_EQ(std::memcmp(*inside, bytes.data() + 0x10, 32), 0);
  absl::StatusOr<const uint8_t*> again = cache.View(0x200030, 8, scratch);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(*again, *inside + 0x20);  // same page buffer
  EXPECT_EQ(fake.read_count(), 1u);

  absl::StatusOr<const uint8_t*> across =
      cache.View(0x200000 + kPage - 16, 32, scratch);
  ASSERT_THAT(across.status(), IsOk());
  EXPECT_EQ(*across, scratch);
  EXPECT_EQ(std::memcmp(scratch, bytes.data() + kPage - 16, 32), 0);

  EXPECT_TRUE(IsMemoryGone(cache.View(0x900000, 8, scratch).status()));
}

// A source whose ranges are smaller than a page still serves exact views.
TEST(PageCacheTest, ViewOfASubPageRangeFallsBackToAnExactRead) {
  FakeMemory fake;
  fake.Add(0x300010, std::string("abcdefgh", 8));
  PageCache cache(&fake);
  uint8_t scratch[8] = {};
  absl::StatusOr<const uint8_t*> view = cache.View(0x300012, 4, scratch);
  ASSERT_THAT(view.status(), IsOk());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(*view), 4), "cdef");
}

TEST(PageCacheTest, LargeReadsAndFullCacheGoStraightToTheSource) {
  constexpr size_t kBig = (PageCache::kMaxCachedReadPages + 1) * kPage;
  FakeMemory fake;
  std::string big(kBig + kPage, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i % 251);
  }
  fake.Add(0x100000, big);
  PageCache cache(&fake, /*max_pages=*/2);
  std::vector<char> out(kBig);
  ASSERT_THAT(cache.Read(0x100000, out.data(), kBig), IsOk());
  EXPECT_EQ(std::string(out.data(), kBig), big.substr(0, kBig));
  EXPECT_EQ(fake.read_count(), 1u);
  EXPECT_EQ(cache.cached_pages(), 0u);

  char c = 0;
  ASSERT_THAT(cache.Read(0x100000 + 5, &c, 1), IsOk());
  ASSERT_THAT(cache.Read(0x100000 + kPage + 5, &c, 1), IsOk());
  EXPECT_EQ(cache.cached_pages(), 2u);
  ASSERT_THAT(cache.Read(0x100000 + 2 * kPage + 7, &c, 1), IsOk());
  EXPECT_EQ(c, static_cast<char>((2 * kPage + 7) % 251));
  EXPECT_EQ(cache.cached_pages(), 2u);  // full: read through
  EXPECT_EQ(fake.read_count(), 4u);
}

TEST(PageCacheTest, WorksOverFakeRangesThatAreNotWholePages) {
  FakeMemory fake;
  fake.Add(0x5010, std::string("hello, world", 12));
  PageCache cache(&fake);
  char out[5] = {};
  ASSERT_THAT(cache.Read(0x5017, out, 5), IsOk());
  EXPECT_EQ(std::string(out, 5), "world");
  EXPECT_TRUE(IsMemoryGone(cache.Read(0x501a, out, 4)));
  EXPECT_TRUE(IsMemoryGone(cache.Read(0x9000, out, 4)));
}

}  // namespace
}  // namespace pystrobe
