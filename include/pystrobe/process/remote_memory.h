// Reading another process's memory.
//
// Everything above the `process` module reads the target through
// RemoteMemory, so the Python walker runs unchanged against a live process
// (ProcessVmMemory, ProcMemFile), a per-sample page cache (PageCache) or a
// fake built from address ranges (FakeMemory) in tests and fuzzers:
//
//   ASSIGN_OR_RETURN(auto memory, OpenRemoteMemory(pid));
//   PageCache cache(memory.get());
//   uint64_t head;
//   RETURN_IF_ERROR(cache.Read(runtime + 0x18, &head, sizeof(head)));
//   cache.StartSample();  // before the next sample
//
// Failures use the codes of pystrobe/base/errors.h: MemoryGoneError for an
// address that is not (or no longer) mapped, ProcessGoneError when the target
// exited, NoPermissionError when the caller may not read it.
#ifndef PYSTROBE_PROCESS_REMOTE_MEMORY_H_
#define PYSTROBE_PROCESS_REMOTE_MEMORY_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/base/scoped_fd.h"

namespace pystrobe {

// One range to read in a batch: `size` bytes at `address` into `out`.
struct ReadRequest {
  uint64_t address;
  void* out;
  size_t size;
};

class RemoteMemory {
 public:
  virtual ~RemoteMemory() = default;

  // Reads exactly `size` bytes at `address`. A partial read is an error
  // (MemoryGoneError); `out` is then unspecified.
  virtual absl::Status Read(uint64_t address, void* out, size_t size) = 0;

  // Reads several ranges, with one syscall where the implementation can.
  // Fails if any range fails. The default calls Read for each.
  virtual absl::Status ReadBatch(const std::vector<ReadRequest>& requests);

  // Reads `size` bytes at `address` and returns where they are: either in
  // the implementation's own storage, without a copy (PageCache, for a range
  // inside one cached page; valid until its next Clear() or StartSample()),
  // or in `scratch` (at least `size` bytes), like Read. Walking thousands of
  // small structs out of cached pages costs no copy this way. The default
  // reads into `scratch`.
  virtual absl::StatusOr<const uint8_t*> View(uint64_t address, size_t size,
                                              uint8_t* scratch);

  // A hint: these ranges (`out` unused) are about to be read. A cache may
  // fetch the ones it lacks now, together, so that the reads that follow
  // cost no syscall each; a walker that learns several addresses before it
  // reads any (the code objects of a whole frame chain) says so here. Never
  // fails: what could not be fetched is read on demand as usual. The
  // default does nothing.
  virtual void Prefetch(const std::vector<ReadRequest>& ranges);

  // How many reads reached the underlying source (syscalls for a live
  // process). Tests and benchmarks bound this per sample.
  uint64_t read_count() const { return read_count_; }

 protected:
  uint64_t read_count_ = 0;
};

// process_vm_readv(2): one syscall per read, and one per IOV_MAX ranges of a
// batch. Needs the same privilege as ptrace attach (PTRACE_MODE_ATTACH), but
// never stops the target. A read that is only partly mapped is a
// MemoryGoneError naming the first address that could not be read.
class ProcessVmMemory final : public RemoteMemory {
 public:
  explicit ProcessVmMemory(pid_t pid) : pid_(pid) {}
  absl::Status Read(uint64_t address, void* out, size_t size) override;
  absl::Status ReadBatch(const std::vector<ReadRequest>& requests) override;

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  // Reused between batches so that a steady-state batch does not allocate.
  std::vector<iovec> local_;
  std::vector<iovec> remote_;
};

// pread(2) on /proc/PID/mem, for kernels or sandboxes without
// process_vm_readv (seccomp filters in some containers). One syscall per
// read; the file stays open, so once opened it keeps working after the
// caller drops privileges. An unmapped address reads as EIO, which is
// reported as MemoryGoneError; once the target has exited its memory reads
// as end-of-file, reported as ProcessGoneError.
class ProcMemFile final : public RemoteMemory {
 public:
  // ProcessGoneError if the process does not exist, NoPermissionError (with
  // PermissionAdvice) if the caller may not open its memory.
  static absl::StatusOr<std::unique_ptr<ProcMemFile>> Open(
      pid_t pid, const std::string& proc_root = "/proc");
  absl::Status Read(uint64_t address, void* out, size_t size) override;

  pid_t pid() const { return pid_; }

 private:
  ProcMemFile(pid_t pid, ScopedFd fd) : pid_(pid), fd_(std::move(fd)) {}
  pid_t pid_;
  ScopedFd fd_;
};

// The best reader for a live process: process_vm_readv when it works on this
// system (probed with a small read at the start of the target's stack, or of
// another readable mapping), else /proc/PID/mem. Errors: ProcessGoneError
// ("no process with PID N"), NoPermissionError whose message is
// PermissionAdvice(pid) when neither way is allowed.
absl::StatusOr<std::unique_ptr<RemoteMemory>> OpenRemoteMemory(pid_t pid);

// A fake address space made of byte ranges, for tests and fuzzers. Reads
// outside every range (or straddling a gap) fail with MemoryGoneError. A read
// must lie within a single Add()ed range: one spanning two adjacent ranges
// fails too (the real address space never needs that distinction to matter
// to a test; add one larger range instead). Each Read counts as one source
// read.
//
//   FakeMemory memory;
//   memory.Add(0x1000, std::string("\x2a\0\0\0\0\0\0\0", 8));
//   uint64_t value;
//   memory.Read(0x1000, &value, sizeof(value));  // OK, value == 42
class FakeMemory final : public RemoteMemory {
 public:
  // Maps `bytes` at `address`. Ranges must not overlap; a range that would
  // overlap an existing one (or wrap past the end of the address space) is
  // ignored.
  void Add(uint64_t address, std::string bytes);
  absl::Status Read(uint64_t address, void* out, size_t size) override;

 private:
  std::map<uint64_t, std::string> ranges_;
};

// A cache of whole pages in front of another RemoteMemory, for one sample.
// A read fetches every page it touches (one batched read for all missing
// pages), so later reads of nearby structures cost no syscall. Call Clear()
// or StartSample() before each new sample: the target keeps running, so a
// cached page is only trusted within one sample.
//
// If the batch fails because some page is unmapped, the pages are fetched
// one by one so that the mapped ones are still cached, and the read fails
// only if it needs a page that cannot be read (after one last exact read of
// the requested bytes, so sources whose ranges are not page-aligned, such as
// a FakeMemory, still work). Reads spanning more than kMaxCachedReadPages
// pages, and reads that would need more than `max_pages` cached pages, go
// straight to the source. read_count() counts the calls made to the source.
//
// Not thread-safe. Once warm, a read served from the cache does no heap
// allocation and no syscall; page buffers are kept across Clear(), and a
// buffer never moves, so a View() stays valid until the next Clear().
class PageCache final : public RemoteMemory {
 public:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kMaxCachedReadPages = 64;

  // `source` must outlive the cache. At most `max_pages` are kept; beyond
  // that reads bypass the cache.
  explicit PageCache(RemoteMemory* source, size_t max_pages = 1024);

  absl::Status Read(uint64_t address, void* out, size_t size) override;
  // No copy when the range lies inside one page.
  absl::StatusOr<const uint8_t*> View(uint64_t address, size_t size,
                                      uint8_t* scratch) override;
  // Fetches, with one batched read of the source, the parts of the ranges
  // that are not cached yet: of each page only the bytes the ranges cover
  // (whole cache lines), joined with what was cached of it before. Ranges
  // that span pages are left to Read().
  void Prefetch(const std::vector<ReadRequest>& ranges) override;
  void Clear();

  RemoteMemory* source() const { return source_; }
  // Pages cached since the last Clear().
  size_t cached_pages() const { return cached_; }
  // Pages that a Read() or View() used since the last Clear() (a page
  // StartSample() fetched but nobody read since is cached, not touched).
  size_t touched_pages() const;

  // Starts a new sample: drops every page like Clear(), then fetches again
  // the parts of pages the previous sample *used* (each page's used byte
  // range, with some slack), with one batched read of the source. A sample
  // uses mostly what the previous one used (an unchanged stack uses exactly
  // that), so this turns a dozen syscalls into one, and copies a few
  // hundred bytes of a page where a struct or two were read rather than the
  // page. A page that stops being used drops out after one sample; a read
  // outside the part fetched reads the whole page. If the batch fails,
  // nothing is cached and pages are read on demand as usual; that is not an
  // error. Allocates nothing once warm.
  void StartSample();

 private:
  // One slot of an open-addressing table from page address to page buffer.
  // A slot is in use only if its generation is the current one, so Clear()
  // empties the table by bumping the generation, in O(1).
  struct Slot {
    uint64_t page = 0;
    uint32_t buffer = 0;  // index into buffers_
    uint32_t generation = 0;
  };
  // How StartSample fetches a page again (see there).
  struct Refetch {
    // Only the cache lines used: its reads were announced by Prefetch()
    // (code objects, whose neighbours are other code objects).
    bool exact = false;
    // For this many more samples the whole page: a read found a part of it
    // missing (a stack's frames move), which costs a syscall of its own.
    uint8_t whole_for = 0;
  };
  // What buffers_[i] holds: bytes [valid_begin, valid_end) of `page`, of
  // which [used_begin, used_end) were read in generation `touched`; how
  // StartSample fetches it again.
  struct BufferState {
    uint64_t page = 0;
    uint32_t touched = 0;
    uint16_t valid_begin = 0, valid_end = 0;
    uint16_t used_begin = 0, used_end = 0;
    Refetch refetch;
  };
  // A part of a page, for StartSample and Prefetch.
  struct Range {
    uint64_t page;
    uint16_t begin, end;
    Refetch refetch;
  };
  // Bytes [begin, end) of `page` widened to whole cache lines, within it.
  static Range LinesOf(uint64_t page, size_t begin, size_t end,
                       Refetch refetch);
  // Samples a page whose part missed is fetched whole.
  static constexpr uint8_t kWholeForSamples = 64;
  static constexpr uint32_t kNoBuffer = UINT32_MAX;
  // Slack around the used part of a page that StartSample fetches too.
  static constexpr size_t kSlackBelow = 256;
  static constexpr size_t kSlackAbove = 512;

  // Index into buffers_ of the cached `page`, or kNoBuffer.
  uint32_t Find(uint64_t page);
  bool Covers(uint32_t buffer, size_t begin, size_t end) const {
    return state_[buffer].valid_begin <= begin &&
           end <= state_[buffer].valid_end;
  }
  // Records that bytes [begin, end) of buffers_[buffer] were read.
  void Touch(uint32_t buffer, size_t begin, size_t end);
  // Caches the bytes just read into buffers_[cached_] as `page`'s; returns
  // their buffer index.
  uint32_t Insert(uint64_t page, size_t valid_begin, size_t valid_end,
                  Refetch refetch);
  uint8_t* NextBuffer(size_t ahead);
  // Fetches the parts in previous_ (sorted by page, one per page) with one
  // batched read, as many as the cache has room for; on failure caches
  // nothing (reads then go to the source on demand).
  void FetchParts();
  // Makes every page of [first_page, first_page + page_count pages) cached
  // whole; `buffers[i]` is the buffer of page i, kNoBuffer for those to
  // fetch.
  absl::Status Fetch(uint64_t first_page, size_t page_count, uint32_t* buffers);

  RemoteMemory* source_;
  size_t max_pages_;
  size_t cached_ = 0;
  uint32_t generation_ = 1;
  // The page Find() returned last: consecutive small reads (a stack of
  // frames) mostly stay in one page, so they skip the table.
  uint64_t last_page_ = 1;  // never a page address
  uint32_t last_buffer_ = kNoBuffer;
  std::vector<Slot> slots_;  // size is a power of two, >= 2 * max_pages_
  std::vector<std::unique_ptr<uint8_t[]>> buffers_;
  std::vector<BufferState> state_;  // of buffers_[i]
  std::vector<Range> previous_;     // StartSample's and Prefetch's scratch
  std::vector<ReadRequest> batch_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_REMOTE_MEMORY_H_
