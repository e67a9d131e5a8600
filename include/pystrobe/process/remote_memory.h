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
//   cache.Clear();  // before the next sample
//
// Failures use the codes of pystrobe/base/errors.h: MemoryGoneError for an
// address that is not (or no longer) mapped, ProcessGoneError when the target
// exited, NoPermissionError when the caller may not read it.
#ifndef PYSTROBE_PROCESS_REMOTE_MEMORY_H_
#define PYSTROBE_PROCESS_REMOTE_MEMORY_H_

#include <sys/types.h>

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

  // How many reads reached the underlying source (syscalls for a live
  // process). Tests and benchmarks bound this per sample.
  uint64_t read_count() const { return read_count_; }

 protected:
  uint64_t read_count_ = 0;
};

// process_vm_readv(2): one syscall for a whole batch.
class ProcessVmMemory final : public RemoteMemory {
 public:
  explicit ProcessVmMemory(pid_t pid) : pid_(pid) {}
  absl::Status Read(uint64_t address, void* out, size_t size) override;
  absl::Status ReadBatch(const std::vector<ReadRequest>& requests) override;

 private:
  pid_t pid_;
};

// pread(2) on /proc/PID/mem, for kernels or sandboxes without
// process_vm_readv (seccomp filters in some containers).
class ProcMemFile final : public RemoteMemory {
 public:
  static absl::StatusOr<std::unique_ptr<ProcMemFile>> Open(
      pid_t pid, const std::string& proc_root = "/proc");
  absl::Status Read(uint64_t address, void* out, size_t size) override;

 private:
  ProcMemFile(pid_t pid, ScopedFd fd) : pid_(pid), fd_(std::move(fd)) {}
  pid_t pid_;
  ScopedFd fd_;
};

// The best reader for a live process: process_vm_readv when it works on this
// system (probed with a read of the target's stack), else /proc/PID/mem.
absl::StatusOr<std::unique_ptr<RemoteMemory>> OpenRemoteMemory(pid_t pid);

// A fake address space made of byte ranges, for tests and fuzzers. Reads
// outside every range (or straddling a gap) fail with MemoryGoneError.
class FakeMemory final : public RemoteMemory {
 public:
  // Maps `bytes` at `address`. Ranges must not overlap.
  void Add(uint64_t address, std::string bytes);
  absl::Status Read(uint64_t address, void* out, size_t size) override;

 private:
  std::map<uint64_t, std::string> ranges_;
};

// A cache of whole pages in front of another RemoteMemory, for one sample.
// A read fetches every page it touches (one batched read for all missing
// pages), so later reads of nearby structures cost no syscall. Call Clear()
// before each new sample: the target keeps running, so a cached page is only
// trusted within one sample.
class PageCache final : public RemoteMemory {
 public:
  static constexpr size_t kPageSize = 4096;

  // `source` must outlive the cache. At most `max_pages` are kept; beyond
  // that reads bypass the cache.
  explicit PageCache(RemoteMemory* source, size_t max_pages = 1024);

  absl::Status Read(uint64_t address, void* out, size_t size) override;
  void Clear();

  RemoteMemory* source() const { return source_; }

 private:
  RemoteMemory* source_;
  size_t max_pages_;
  // Page base address -> page bytes. Pages that failed to read are not kept.
  std::map<uint64_t, std::unique_ptr<uint8_t[]>> pages_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PROCESS_REMOTE_MEMORY_H_
