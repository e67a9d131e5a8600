#include "pystrobe/process/remote_memory.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proc_files.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/ptrace.h"

namespace pystrobe {
namespace {

std::string Hex(uint64_t value) { return absl::StrCat("0x", absl::Hex(value)); }

std::string ReadMessage(pid_t pid, uint64_t address, size_t size) {
  return absl::StrCat("cannot read ", size, " bytes at ", Hex(address),
                      " of process ", pid);
}

absl::Status ShortRead(pid_t pid, uint64_t address, size_t size,
                       uint64_t bad_address) {
  return MemoryGoneError(absl::StrCat(ReadMessage(pid, address, size),
                                      ": address ", Hex(bad_address),
                                      " is not mapped"));
}

// An address in the target, as the void* that iovec wants.
void* RemotePointer(uint64_t address) {
  return reinterpret_cast<void*>(address);  // NOLINT(performance-no-int-to-ptr)
}

bool Wraps(uint64_t address, size_t size) {
  return size > 0 && address + (size - 1) < address;
}

// One process_vm_readv of `size` bytes; returns the bytes read or -1 with
// errno set, without any status formatting (for probing).
ssize_t VmRead(pid_t pid, uint64_t address, void* out, size_t size) {
  iovec local{out, size};
  iovec remote{RemotePointer(address), size};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

}  // namespace

absl::Status RemoteMemory::ReadBatch(const std::vector<ReadRequest>& requests) {
  for (const ReadRequest& request : requests) {
    PYSTROBE_RETURN_IF_ERROR(Read(request.address, request.out, request.size));
  }
  return absl::OkStatus();
}

void RemoteMemory::Prefetch(const std::vector<ReadRequest>& /*ranges*/) {}

absl::StatusOr<const uint8_t*> RemoteMemory::View(uint64_t address, size_t size,
                                                  uint8_t* scratch) {
  PYSTROBE_RETURN_IF_ERROR(Read(address, scratch, size));
  return scratch;
}

// ---------------------------------------------------------------------------
// ProcessVmMemory

absl::Status ProcessVmMemory::Read(uint64_t address, void* out, size_t size) {
  if (size == 0) {
    return absl::OkStatus();
  }
  if (Wraps(address, size)) {
    return ShortRead(pid_, address, size, address);
  }
  ++read_count_;
  const ssize_t n = VmRead(pid_, address, out, size);
  if (n < 0) {
    return StatusFromErrno(errno, ReadMessage(pid_, address, size));
  }
  if (static_cast<size_t>(n) < size) {
    return ShortRead(pid_, address, size, address + static_cast<uint64_t>(n));
  }
  return absl::OkStatus();
}

absl::Status ProcessVmMemory::ReadBatch(
    const std::vector<ReadRequest>& requests) {
  size_t next = 0;
  while (next < requests.size()) {
    local_.clear();
    remote_.clear();
    const size_t begin = next;
    size_t total = 0;
    for (; next < requests.size() && local_.size() < IOV_MAX; ++next) {
      const ReadRequest& request = requests[next];
      if (request.size == 0) {
        continue;
      }
      if (Wraps(request.address, request.size)) {
        return ShortRead(pid_, request.address, request.size, request.address);
      }
      local_.push_back(iovec{request.out, request.size});
      // Ranges that continue the previous one share its remote iovec: the
      // kernel looks up the target's mapping and pins pages once per remote
      // iovec, and fills the local buffers in order regardless.
      if (!remote_.empty() &&
          reinterpret_cast<uint64_t>(remote_.back().iov_base) +
                  remote_.back().iov_len ==
              request.address) {
        remote_.back().iov_len += request.size;
      } else {
        remote_.push_back(iovec{RemotePointer(request.address), request.size});
      }
      total += request.size;
    }
    if (local_.empty()) {
      continue;
    }
    ++read_count_;
    const ssize_t n = process_vm_readv(pid_, local_.data(), local_.size(),
                                       remote_.data(), remote_.size(), 0);
    if (n < 0 || static_cast<size_t>(n) < total) {
      // Name the request the transfer stopped in: the kernel copies the
      // ranges in order and stops at the first byte it cannot read.
      const size_t done = n < 0 ? 0 : static_cast<size_t>(n);
      size_t offset = 0;
      for (size_t i = begin; i < next; ++i) {
        const ReadRequest& request = requests[i];
        if (done < offset + request.size) {
          if (n < 0 && done == 0 && errno != EFAULT) {
            return StatusFromErrno(
                errno, ReadMessage(pid_, request.address, request.size));
          }
          return ShortRead(pid_, request.address, request.size,
                           request.address + (done - offset));
        }
        offset += request.size;
      }
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// ProcMemFile

absl::StatusOr<std::unique_ptr<ProcMemFile>> ProcMemFile::Open(
    pid_t pid, const std::string& proc_root) {
  const std::string path = absl::StrCat(proc_root, "/", pid, "/mem");
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return ProcFileStatus(errno, pid, path);
  }
  return std::unique_ptr<ProcMemFile>(new ProcMemFile(pid, std::move(fd)));
}

absl::Status ProcMemFile::Read(uint64_t address, void* out, size_t size) {
  if (size == 0) {
    return absl::OkStatus();
  }
  if (Wraps(address, size)) {
    return ShortRead(pid_, address, size, address);
  }
  auto* bytes = static_cast<uint8_t*>(out);
  size_t done = 0;
  while (done < size) {
    ++read_count_;
    // /proc/PID/mem takes unsigned offsets (FMODE_UNSIGNED_OFFSET), so an
    // address above 2^63 is passed through as a negative off_t.
    const ssize_t n = pread(fd_.get(), bytes + done, size - done,
                            static_cast<off_t>(address + done));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (done > 0 && (errno == EIO || errno == EFAULT)) {
        return ShortRead(pid_, address, size, address + done);
      }
      return StatusFromErrno(errno, ReadMessage(pid_, address, size));
    }
    if (n == 0) {
      // The kernel answers end-of-file once the target's mm is gone.
      return ProcessGoneError(absl::StrCat(ReadMessage(pid_, address, size),
                                           ": the process exited"));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// OpenRemoteMemory

absl::StatusOr<std::unique_ptr<RemoteMemory>> OpenRemoteMemory(pid_t pid) {
  ProcFs proc;
  if (pid <= 0 || !proc.CheckExists(pid).ok()) {
    return ProcessGoneError(absl::StrCat("no process with PID ", pid));
  }
  PYSTROBE_ASSIGN_OR_RETURN(std::vector<MemoryMapping> maps,
                            proc.ReadMaps(pid));
  // The stack first: it exists in every user process and is never a device
  // mapping. [vvar] and [vsyscall] cannot be read through either interface.
  std::vector<uint64_t> probes;
  for (const MemoryMapping& m : maps) {
    if (m.readable && m.path == "[stack]") {
      probes.push_back(m.start);
    }
  }
  for (const MemoryMapping& m : maps) {
    if (!m.readable || m.end <= m.start || m.path == "[stack]" ||
        m.path.rfind("[vvar", 0) == 0 || m.path == "[vsyscall]") {
      continue;
    }
    probes.push_back(m.start);
    if (probes.size() >= 4) {
      break;
    }
  }
  if (probes.empty()) {
    // No user memory: a zombie (its mm is gone) or a kernel thread.
    PYSTROBE_ASSIGN_OR_RETURN(ThreadInfo info, proc.ReadThread(pid, pid));
    if (info.state == 'Z' || info.state == 'X') {
      return ProcessGoneError(absl::StrCat("process ", pid, " has exited"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "process ", pid, " has no readable memory (a kernel thread?)"));
  }

  for (uint64_t address : probes) {
    uint64_t word = 0;
    if (VmRead(pid, address, &word, sizeof(word)) ==
        static_cast<ssize_t>(sizeof(word))) {
      return std::unique_ptr<RemoteMemory>(new ProcessVmMemory(pid));
    }
    const int error = errno;
    if (error == EFAULT || error == EIO) {
      continue;  // try another mapping
    }
    if (error == ESRCH) {
      return ProcessGoneError(absl::StrCat("no process with PID ", pid));
    }
    if (error != ENOSYS && error != EPERM && error != EACCES) {
      return StatusFromErrno(error, ReadMessage(pid, address, sizeof(word)));
    }
    // process_vm_readv is missing or filtered (seccomp answers EPERM in some
    // containers): /proc/PID/mem may still be allowed.
    absl::StatusOr<std::unique_ptr<ProcMemFile>> file = ProcMemFile::Open(pid);
    if (!file.ok()) {
      if (IsNoPermission(file.status())) {
        return NoPermissionError(PermissionAdvice(pid));
      }
      return file.status();
    }
    const absl::Status status = (*file)->Read(address, &word, sizeof(word));
    if (IsNoPermission(status)) {
      return NoPermissionError(PermissionAdvice(pid));
    }
    if (!status.ok() && !IsMemoryGone(status)) {
      return status;
    }
    return std::unique_ptr<RemoteMemory>(std::move(*file));
  }
  // Every probed mapping vanished meanwhile: nothing says process_vm_readv is
  // unusable, so use it and let reads report what they find.
  return std::unique_ptr<RemoteMemory>(new ProcessVmMemory(pid));
}

// ---------------------------------------------------------------------------
// FakeMemory

void FakeMemory::Add(uint64_t address, std::string bytes) {
  if (bytes.empty() || Wraps(address, bytes.size())) {
    return;
  }
  const uint64_t last = address + (bytes.size() - 1);
  auto after = ranges_.upper_bound(address);
  if (after != ranges_.end() && after->first <= last) {
    return;
  }
  if (after != ranges_.begin()) {
    auto before = std::prev(after);
    if (before->first + (before->second.size() - 1) >= address) {
      return;
    }
  }
  ranges_.emplace(address, std::move(bytes));
}

absl::Status FakeMemory::Read(uint64_t address, void* out, size_t size) {
  ++read_count_;
  if (size == 0) {
    return absl::OkStatus();
  }
  auto it = ranges_.upper_bound(address);
  if (it != ranges_.begin() && !Wraps(address, size)) {
    --it;
    const uint64_t offset = address - it->first;
    if (offset < it->second.size() && size <= it->second.size() - offset) {
      std::memcpy(out, it->second.data() + offset, size);
      return absl::OkStatus();
    }
  }
  return MemoryGoneError(absl::StrCat("cannot read ", size, " bytes at ",
                                      Hex(address), " of the fake memory"));
}

// ---------------------------------------------------------------------------
// PageCache

namespace {

size_t TableSizeFor(size_t max_pages) {
  size_t size = 16;
  while (size < 2 * max_pages) {
    size *= 2;
  }
  return size;
}

size_t HashPage(uint64_t page, size_t mask) {
  // Fibonacci hashing of the page number: consecutive pages spread out.
  return static_cast<size_t>(
             ((page / PageCache::kPageSize) * 0x9E3779B97F4A7C15ull) >> 32) &
         mask;
}

}  // namespace

PageCache::PageCache(RemoteMemory* source, size_t max_pages)
    : source_(source),
      max_pages_(std::min<size_t>(max_pages, UINT32_MAX / 4)),
      slots_(TableSizeFor(max_pages_)) {}

void PageCache::Clear() {
  cached_ = 0;
  last_page_ = 1;
  last_buffer_ = kNoBuffer;
  if (++generation_ == 0) {
    // After 2^32 samples old generations would look current again.
    for (Slot& slot : slots_) {
      slot.generation = 0;
    }
    for (BufferState& b : state_) b.touched = 0;
    generation_ = 1;
  }
}

size_t PageCache::touched_pages() const {
  size_t n = 0;
  for (size_t i = 0; i < cached_; ++i) n += state_[i].touched == generation_;
  return n;
}

uint32_t PageCache::Find(uint64_t page) {
  if (page == last_page_) return last_buffer_;
  const size_t mask = slots_.size() - 1;
  for (size_t i = HashPage(page, mask);; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.generation != generation_) {
      return kNoBuffer;
    }
    if (slot.page == page) {
      last_page_ = page;
      last_buffer_ = slot.buffer;
      return slot.buffer;
    }
  }
}

void PageCache::Touch(uint32_t buffer, size_t begin, size_t end) {
  BufferState& b = state_[buffer];
  if (b.touched != generation_) {
    b.touched = generation_;
    b.used_begin = static_cast<uint16_t>(begin);
    b.used_end = static_cast<uint16_t>(end);
    return;
  }
  b.used_begin = std::min(b.used_begin, static_cast<uint16_t>(begin));
  b.used_end = std::max(b.used_end, static_cast<uint16_t>(end));
}

uint8_t* PageCache::NextBuffer(size_t ahead) {
  const size_t index = cached_ + ahead;
  while (buffers_.size() <= index) {
    buffers_.push_back(std::make_unique<uint8_t[]>(kPageSize));
    state_.emplace_back();
  }
  return buffers_[index].get();
}

uint32_t PageCache::Insert(uint64_t page, size_t valid_begin, size_t valid_end,
                           Refetch refetch) {
  const auto buffer = static_cast<uint32_t>(cached_++);
  BufferState& b = state_[buffer];
  b.page = page;
  b.valid_begin = static_cast<uint16_t>(valid_begin);
  b.valid_end = static_cast<uint16_t>(valid_end);
  b.refetch = refetch;
  // The table holds at most max_pages_ entries in 2 * max_pages_ slots, so a
  // free slot always exists and probe sequences stay short.
  const size_t mask = slots_.size() - 1;
  for (size_t i = HashPage(page, mask);; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.generation != generation_) {
      slot = Slot{page, buffer, generation_};
      break;
    }
    if (slot.page == page) {
      // A partly fetched page read again whole: the new buffer takes over,
      // and the old one keeps its bytes for views still pointing into it.
      // What the old one served counts as used in the new one.
      BufferState& old = state_[slot.buffer];
      if (valid_begin == 0 && valid_end == kPageSize) {
        // A read needed more of the page than was fetched.
        b.refetch = Refetch{false, kWholeForSamples};
      }
      if (old.touched == generation_) {
        old.touched = 0;
        b.touched = generation_;
        b.used_begin = old.used_begin;
        b.used_end = old.used_end;
      }
      slot.buffer = buffer;
      break;
    }
  }
  if (last_page_ == page) last_buffer_ = buffer;
  return buffer;
}

absl::Status PageCache::Fetch(uint64_t first_page, size_t page_count,
                              uint32_t* buffers) {
  batch_.clear();
  for (size_t i = 0; i < page_count; ++i) {
    if (buffers[i] != kNoBuffer) {
      continue;
    }
    batch_.push_back(ReadRequest{first_page + i * kPageSize,
                                 NextBuffer(batch_.size()), kPageSize});
  }
  ++read_count_;
  absl::Status status =
      batch_.size() == 1
          ? source_->Read(batch_[0].address, batch_[0].out, kPageSize)
          : source_->ReadBatch(batch_);
  if (status.ok()) {
    for (size_t i = 0, k = 0; i < page_count; ++i) {
      if (buffers[i] == kNoBuffer) {
        buffers[i] = Insert(batch_[k++].address, 0, kPageSize, Refetch{});
      }
    }
    return absl::OkStatus();
  }
  if (!IsMemoryGone(status) || batch_.size() == 1) {
    return status;
  }

  // Some page is unmapped; keep the others for later reads of this sample.
  absl::Status first_error;
  for (size_t i = 0; i < page_count; ++i) {
    if (buffers[i] != kNoBuffer) {
      continue;
    }
    const uint64_t page = first_page + i * kPageSize;
    ++read_count_;
    absl::Status page_status = source_->Read(page, NextBuffer(0), kPageSize);
    if (page_status.ok()) {
      buffers[i] = Insert(page, 0, kPageSize, Refetch{});
    } else if (!IsMemoryGone(page_status)) {
      return page_status;
    } else if (first_error.ok()) {
      first_error = std::move(page_status);
    }
  }
  return first_error;
}

PageCache::Range PageCache::LinesOf(uint64_t page, size_t begin, size_t end,
                                    Refetch refetch) {
  return Range{
      page, static_cast<uint16_t>(begin & ~size_t{63}),
      static_cast<uint16_t>(std::min(kPageSize, (end + 63) & ~size_t{63})),
      refetch};
}

void PageCache::StartSample() {
  // The parts of pages the last sample used, each page cached once (a page
  // refetched whole handed its use over), so no duplicates.
  previous_.clear();
  for (size_t i = 0; i < cached_; ++i) {
    const BufferState& b = state_[i];
    if (b.touched != generation_) continue;
    // With some slack, so that a stack that grew or shrank by a frame or
    // two is still served (the data stack grows up, the C stack down);
    // whole cache lines.
    // Code objects (Prefetch's) need no slack: their neighbours are other
    // code objects, fetched when a stack runs them. A page whose part
    // missed lately comes whole for a while.
    Refetch refetch = b.refetch;
    Range part{b.page, 0, static_cast<uint16_t>(kPageSize), refetch};
    if (refetch.whole_for > 0) {
      --part.refetch.whole_for;
    } else if (refetch.exact) {
      part = LinesOf(b.page, b.used_begin, b.used_end, refetch);
    } else {
      part = LinesOf(
          b.page, b.used_begin > kSlackBelow ? b.used_begin - kSlackBelow : 0,
          b.used_end + kSlackAbove, refetch);
    }
    previous_.push_back(part);
  }
  Clear();
  // In address order, so that the source can merge neighbouring parts into
  // one range (a deep stack spans several adjacent pages).
  std::sort(previous_.begin(), previous_.end(),
            [](const Range& a, const Range& b) { return a.page < b.page; });
  FetchParts();
}

void PageCache::FetchParts() {
  // Insert() hands out buffers in order, so batch_[k] lands in the k-th
  // next buffer.
  batch_.clear();
  for (const Range& r : previous_) {
    if (cached_ + batch_.size() >= max_pages_) break;
    batch_.push_back(ReadRequest{r.page + r.begin,
                                 NextBuffer(batch_.size()) + r.begin,
                                 static_cast<size_t>(r.end - r.begin)});
  }
  if (batch_.empty()) return;
  ++read_count_;
  if (!source_->ReadBatch(batch_).ok()) return;
  for (size_t k = 0; k < batch_.size(); ++k) {
    Insert(previous_[k].page, previous_[k].begin, previous_[k].end,
           previous_[k].refetch);
  }
}

void PageCache::Prefetch(const std::vector<ReadRequest>& ranges) {
  // Each page's part to fetch: what the ranges need of it, widened to cache
  // lines and to what is cached of it already (the new buffer replaces the
  // old one, which must not lose bytes a later read expects).
  previous_.clear();
  for (const ReadRequest& r : ranges) {
    if (r.size == 0 || Wraps(r.address, r.size)) continue;
    const uint64_t page = r.address & ~uint64_t{kPageSize - 1};
    const size_t begin = r.address - page;
    if (begin + r.size > kPageSize) continue;
    const size_t end = begin + r.size;
    const uint32_t buffer = Find(page);
    if (buffer != kNoBuffer && Covers(buffer, begin, end)) continue;
    Range part = LinesOf(page, begin, end, Refetch{true, 0});
    if (buffer != kNoBuffer) {
      const BufferState& old = state_[buffer];
      part.begin = std::min(part.begin, old.valid_begin);
      part.end = std::max(part.end, old.valid_end);
      part.refetch = old.refetch;
    }
    previous_.push_back(part);
  }
  if (previous_.empty()) return;
  // One part per page: several ranges in one page (code objects of one
  // module lie together) become their span.
  std::sort(previous_.begin(), previous_.end(),
            [](const Range& a, const Range& b) { return a.page < b.page; });
  size_t parts = 0;
  for (const Range& r : previous_) {
    if (parts > 0 && previous_[parts - 1].page == r.page) {
      Range& last = previous_[parts - 1];
      last.begin = std::min(last.begin, r.begin);
      last.end = std::max(last.end, r.end);
    } else {
      previous_[parts++] = r;
    }
  }
  previous_.resize(parts);
  FetchParts();
}

absl::Status PageCache::Read(uint64_t address, void* out, size_t size) {
  if (size == 0) {
    return absl::OkStatus();
  }
  if (Wraps(address, size)) {
    return MemoryGoneError(absl::StrCat("cannot read ", size, " bytes at ",
                                        Hex(address), ": wraps around"));
  }
  const uint64_t first_page = address & ~uint64_t{kPageSize - 1};
  const uint64_t last_page = (address + (size - 1)) & ~uint64_t{kPageSize - 1};
  const size_t page_count = (last_page - first_page) / kPageSize + 1;
  if (page_count > kMaxCachedReadPages) {
    ++read_count_;
    return source_->Read(address, out, size);
  }

  // The part of each page the read covers.
  const size_t head = address - first_page;
  auto span = [&](size_t i, size_t* begin, size_t* end) {
    *begin = i == 0 ? head : 0;
    *end =
        i + 1 == page_count ? (address + size - 1 - last_page) + 1 : kPageSize;
  };
  uint32_t buffers[kMaxCachedReadPages];
  size_t missing = 0;
  for (size_t i = 0; i < page_count; ++i) {
    buffers[i] = Find(first_page + i * kPageSize);
    size_t begin, end;
    span(i, &begin, &end);
    if (buffers[i] != kNoBuffer && !Covers(buffers[i], begin, end)) {
      buffers[i] = kNoBuffer;  // fetched only in part: fetch it whole
    }
    if (buffers[i] == kNoBuffer) {
      ++missing;
    }
  }
  if (missing > 0) {
    if (cached_ + missing > max_pages_) {
      ++read_count_;
      return source_->Read(address, out, size);
    }
    absl::Status status = Fetch(first_page, page_count, buffers);
    if (!status.ok()) {
      if (!IsMemoryGone(status)) {
        return status;
      }
      // A source whose ranges are not whole pages (a fake, a test double)
      // may still hold exactly the bytes asked for.
      ++read_count_;
      return source_->Read(address, out, size);
    }
  }

  auto* dest = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < page_count; ++i) {
    size_t begin, end;
    span(i, &begin, &end);
    Touch(buffers[i], begin, end);
    std::memcpy(dest, buffers_[buffers[i]].get() + begin, end - begin);
    dest += end - begin;
  }
  return absl::OkStatus();
}

absl::StatusOr<const uint8_t*> PageCache::View(uint64_t address, size_t size,
                                               uint8_t* scratch) {
  const uint64_t page = address & ~uint64_t{kPageSize - 1};
  const size_t begin = address - page;
  if (size == 0 || size > kPageSize - begin) {
    // Empty, or straddling pages: copy (Read checks wrapping too).
    PYSTROBE_RETURN_IF_ERROR(Read(address, scratch, size));
    return scratch;
  }
  const size_t end = begin + size;
  uint32_t buffer = Find(page);
  if (buffer != kNoBuffer && !Covers(buffer, begin, end)) buffer = kNoBuffer;
  if (buffer == kNoBuffer) {
    if (cached_ + 1 > max_pages_ || !Fetch(page, 1, &buffer).ok()) {
      // Full, or the page is not all readable (a FakeMemory range smaller
      // than a page): an exact read decides.
      PYSTROBE_RETURN_IF_ERROR(Read(address, scratch, size));
      return scratch;
    }
  }
  Touch(buffer, begin, end);
  return buffers_[buffer].get() + begin;
}

}  // namespace pystrobe
