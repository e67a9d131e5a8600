#include "pystrobe/python/python_process.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "async_task_reader.h"
#include "binary_finder.h"
#include "code_cache.h"
#include "debug_offsets.h"
#include "frame_walker.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/process/ptrace.h"
#include "pystrobe/python/async_tasks.h"
#include "pystrobe/python/layout.h"
#include "remote_struct.h"
#include "runtime_roots.h"

namespace pystrobe {

struct PythonProcess::Impl {
  pid_t pid = 0;
  ProcFs proc;
  PythonVersion version;
  std::string binary_path;
  Layout layout;
  RuntimeRoots roots;
  std::unique_ptr<RemoteMemory> live;
  std::unique_ptr<PageCache> cache;
  std::unique_ptr<CodeCache> codes;
  std::unique_ptr<FrameWalker> walker;
  std::unique_ptr<AsyncTaskReader> task_reader;  // on first ReadTasks
  uint64_t coro_type = 0;                        // PyCoro_Type
  uint64_t gen_type = 0;                         // PyGen_Type
  // Offset of the kernel TID inside glibc's struct pthread, for versions
  // without PyThreadState.native_thread_id; -1 until found.
  int pthread_tid_offset = -1;
  absl::flat_hash_set<uint64_t> seen;  // ReadThreads' scratch
  // False while a free-threaded build runs without its GIL (last snapshot).
  bool gil_enabled = true;

  absl::StatusOr<uint64_t> GilHolder(uint64_t interp);
  // Reads every thread into (*threads)[0, *count), reusing the slots there.
  absl::Status ReadThreadList(std::vector<PyThread>* threads, size_t* count,
                              const PythonProcess::SkipStackFn& skip);
  void ResolveNativeIds(std::vector<PyThread>& threads);
  void MakeTaskReader();
};

namespace {

constexpr int kMaxInterpreters = 256;
constexpr int kMaxThreads = 4096;

bool Supported(const PythonVersion& v) {
  return (v.major == 2 && v.minor == 7) ||
         (v.major == 3 && v.minor >= 6 && v.minor <= 15);
}

// "CPython 3.14.8", "CPython 3.13.5 (free-threaded)", "... (debug build)".
std::string Describe(const PythonVersion& v) {
  return absl::StrCat("CPython ", v.ToString(),
                      v.free_threaded ? " (free-threaded)" : "",
                      v.debug ? " (debug build)" : "");
}

absl::Status WithAdvice(const absl::Status& status, pid_t pid) {
  if (IsNoPermission(status)) return NoPermissionError(PermissionAdvice(pid));
  return status;
}

// Reads and validates the target's _Py_DebugOffsets (3.13+). A build whose
// offsets are missing, of a layout pystrobe does not know, or do not
// validate is refused as an unsupported version, naming it and the reason:
// reading it with guessed offsets could give a wrong stack.
absl::StatusOr<DebugOffsets> ReadDebugOffsets(const PythonBinary& binary,
                                              RemoteMemory& memory, pid_t pid,
                                              const PythonVersion& version) {
  auto refuse = [&](std::string_view why) {
    return UnsupportedVersionError(
        absl::StrFormat("process %d runs %s, %s", pid, Describe(version), why));
  };
  std::optional<uint64_t> runtime = RuntimeAddress(binary);
  if (!runtime) {
    return refuse(absl::StrCat("but ", binary.path,
                               " has neither a _PyRuntime symbol nor a "
                               ".PyRuntime section"));
  }
  std::string raw(kDebugOffsetsReadSize, '\0');
  PYSTROBE_RETURN_IF_ERROR(memory.Read(*runtime, raw.data(), raw.size()));
  absl::StatusOr<uint64_t> hex = DebugOffsetsVersion(raw);
  if (!hex.ok()) {
    return refuse("but its _PyRuntime does not start with _Py_DebugOffsets");
  }
  const int major = static_cast<int>((*hex >> 24) & 0xFF);
  const int minor = static_cast<int>((*hex >> 16) & 0xFF);
  if (major != version.major || minor != version.minor) {
    return refuse(absl::StrFormat(
        "but its _Py_DebugOffsets say %d.%d: pystrobe trusts neither", major,
        minor));
  }
  absl::StatusOr<DebugOffsets> offsets = ParseDebugOffsets(raw);
  if (!offsets.ok()) {
    return refuse(absl::StrCat("whose _Py_DebugOffsets do not validate: ",
                               offsets.status().message()));
  }
  return offsets;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PythonProcess>> PythonProcess::Attach(
    pid_t pid, const AttachOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->pid = pid;
  impl->proc = ProcFs(options.proc_root);
  PYSTROBE_RETURN_IF_ERROR(impl->proc.CheckExists(pid));
  absl::StatusOr<std::vector<MemoryMapping>> maps = impl->proc.ReadMaps(pid);
  if (!maps.ok()) return WithAdvice(maps.status(), pid);
  absl::StatusOr<std::unique_ptr<RemoteMemory>> live = OpenRemoteMemory(pid);
  if (!live.ok()) return WithAdvice(live.status(), pid);
  impl->live = *std::move(live);
  impl->cache = std::make_unique<PageCache>(impl->live.get());

  absl::StatusOr<PythonBinary> binary =
      FindPythonBinary(impl->proc, pid, *maps);
  if (!binary.ok()) return WithAdvice(binary.status(), pid);
  impl->binary_path = binary->path;
  PYSTROBE_ASSIGN_OR_RETURN(impl->version,
                            DetectVersion(*binary, *impl->cache));
  const PythonVersion& version = impl->version;
  if (!Supported(version)) {
    return UnsupportedVersionError(absl::StrFormat(
        "process %d runs CPython %s, which pystrobe does not support "
        "(supported: 2.7 and 3.6 to 3.15)",
        pid, version.ToString()));
  }
  if (version.AtLeast(3, 13)) {
    // The target describes its own structs (_Py_DebugOffsets, at the start
    // of _PyRuntime): they decide the flavour (free-threaded or not) and win
    // over the table, which fills only what they lack.
    PYSTROBE_ASSIGN_OR_RETURN(
        DebugOffsets offsets,
        ReadDebugOffsets(*binary, *impl->cache, pid, impl->version));
    impl->version.free_threaded = offsets.free_threaded;
    impl->layout = LayoutFromDebugOffsets(offsets, FindLayout(version));
  } else if (const LayoutEntry* entry = FindLayout(version)) {
    impl->layout = entry->layout;
  } else {
    return UnsupportedVersionError(absl::StrFormat(
        "no struct layout for %s in this pystrobe build", Describe(version)));
  }
  PYSTROBE_ASSIGN_OR_RETURN(
      impl->roots,
      FindRuntimeRoots(*binary, version, *impl->cache, impl->layout, *maps));
  if (version.AtLeast(3, 13)) {
    impl->roots.interpreters_head =
        impl->roots.runtime +
        *impl->layout.Offset(Field::kRuntimeInterpretersHead);
  }
  impl->coro_type = binary->SymbolAddress("PyCoro_Type").value_or(0);
  impl->gen_type = binary->SymbolAddress("PyGen_Type").value_or(0);
  impl->codes = std::make_unique<CodeCache>(&impl->layout, &impl->version);
  impl->walker = std::make_unique<FrameWalker>(
      &impl->layout, &impl->version, impl->roots.types, impl->codes.get());
  return std::unique_ptr<PythonProcess>(new PythonProcess(std::move(impl)));
}

PythonProcess::PythonProcess(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
PythonProcess::~PythonProcess() = default;

pid_t PythonProcess::pid() const { return impl_->pid; }
const PythonVersion& PythonProcess::version() const { return impl_->version; }
const std::string& PythonProcess::binary() const { return impl_->binary_path; }
const RemoteMemory& PythonProcess::memory() const { return *impl_->live; }
bool PythonProcess::gil_enabled() const { return impl_->gil_enabled; }

absl::StatusOr<uint64_t> PythonProcess::Impl::GilHolder(uint64_t interp) {
  if (roots.tstate_current != 0) {
    uint64_t holder = 0;
    PYSTROBE_RETURN_IF_ERROR(
        cache->Read(roots.tstate_current, &holder, sizeof(holder)));
    return holder;
  }
  if (!layout.Has(Field::kInterpGil)) return 0;
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t gil,
      ReadField<uint64_t>(*cache, layout, interp, Field::kInterpGil));
  if (gil == 0) return 0;
  if (layout.Has(Field::kGilEnabled)) {
    // A free-threaded build has a GIL struct but runs without it unless
    // something enabled it (PYTHON_GIL=1, an extension that needs it):
    // `enabled` counts those requests.
    PYSTROBE_ASSIGN_OR_RETURN(
        int32_t enabled,
        ReadField<int32_t>(*cache, layout, gil, Field::kGilEnabled));
    if (enabled == 0) {
      gil_enabled = false;
      return 0;
    }
  }
  PYSTROBE_ASSIGN_OR_RETURN(
      int32_t locked,
      ReadField<int32_t>(*cache, layout, gil, Field::kGilLocked));
  if (locked == 0) return 0;
  return ReadField<uint64_t>(*cache, layout, gil, Field::kGilLastHolder);
}

void PythonProcess::Impl::ResolveNativeIds(std::vector<PyThread>& threads) {
  // Before 3.11 a thread state knows only its pthread_t, which in glibc is
  // the address of the thread's struct pthread; its kernel TID is a field at
  // a fixed offset that glibc does not export. Find the offset once: the one
  // where every thread's value is a TID of the target. Once found, reading
  // it costs a cached read per thread; the task list (a directory walk) is
  // only consulted again if a value looks wrong.
  if (pthread_tid_offset >= 0) {
    bool plausible = true;
    for (PyThread& t : threads) {
      if (t.thread_id == 0) continue;
      int32_t tid = 0;
      if (!cache->Read(t.thread_id + pthread_tid_offset, &tid, sizeof(tid))
               .ok() ||
          tid <= 0) {
        plausible = false;
        break;
      }
      t.native_id = tid;
    }
    if (plausible) return;
  }
  absl::StatusOr<std::vector<ThreadInfo>> tasks = proc.ListThreads(pid);
  if (!tasks.ok()) return;
  absl::flat_hash_set<int32_t> tids;
  for (const ThreadInfo& t : *tasks) tids.insert(t.tid);
  auto read_tid = [&](uint64_t pthread, int offset) -> int32_t {
    int32_t tid = 0;
    if (!cache->Read(pthread + offset, &tid, sizeof(tid)).ok()) return 0;
    return tid;
  };
  auto offset_fits = [&](int offset) {
    int matched = 0;
    for (const PyThread& t : threads) {
      if (t.thread_id == 0) continue;
      if (!tids.contains(read_tid(t.thread_id, offset))) return false;
      ++matched;
    }
    return matched > 0;
  };
  if (pthread_tid_offset < 0 || !offset_fits(pthread_tid_offset)) {
    pthread_tid_offset = -1;
    // 0x2d0 is struct pthread.tid in glibc 2.26+ on x86-64; try it first.
    constexpr int kGlibcTidOffset = 0x2d0;
    if (offset_fits(kGlibcTidOffset)) {
      pthread_tid_offset = kGlibcTidOffset;
    } else {
      for (int offset = 0; offset < 0x800; offset += 4) {
        if (offset_fits(offset)) {
          pthread_tid_offset = offset;
          break;
        }
      }
    }
  }
  if (pthread_tid_offset < 0) return;
  for (PyThread& t : threads) {
    if (t.thread_id != 0)
      t.native_id = read_tid(t.thread_id, pthread_tid_offset);
  }
}

absl::Status PythonProcess::ApplyTaskStacks(
    std::vector<PyThread>* threads, std::vector<std::string>* task_names) {
  impl_->MakeTaskReader();
  return impl_->task_reader->ApplyTaskStacks(threads, task_names);
}

void PythonProcess::Impl::MakeTaskReader() {
  Impl& m = *this;
  if (m.task_reader) return;
  AsyncTaskReader::Context context;
  context.proc = &m.proc;
  context.pid = m.pid;
  context.version = &m.version;
  context.layout = &m.layout;
  context.memory = m.cache.get();
  context.walker = m.walker.get();
  context.coro_type = m.coro_type;
  context.gen_type = m.gen_type;
  m.task_reader = std::make_unique<AsyncTaskReader>(context);
}

absl::Status PythonProcess::ReadTasks(const std::vector<PyThread>& threads,
                                      AsyncSnapshot* snapshot) {
  Impl& m = *impl_;
  m.MakeTaskReader();
  return m.task_reader->Read(threads, snapshot);
}

absl::StatusOr<std::vector<PyThread>> PythonProcess::ReadThreads() {
  std::vector<PyThread> threads;
  PYSTROBE_RETURN_IF_ERROR(ReadThreads(&threads));
  return threads;
}

absl::Status PythonProcess::ReadThreads(std::vector<PyThread>* threads) {
  return ReadThreads(threads, nullptr);
}

absl::Status PythonProcess::ReadThreads(std::vector<PyThread>* threads,
                                        const SkipStackFn& skip) {
  Impl& m = *impl_;
  m.cache->StartSample();
  m.codes->NewSnapshot();
  m.gil_enabled = true;
  size_t count = 0;
  absl::Status status = m.ReadThreadList(threads, &count, skip);
  threads->resize(count);
  if (!status.ok()) return status;
  if (!m.layout.Has(Field::kTstateNativeThreadId)) m.ResolveNativeIds(*threads);
  return absl::OkStatus();
}

absl::Status PythonProcess::Impl::ReadThreadList(
    std::vector<PyThread>* threads, size_t* count,
    const PythonProcess::SkipStackFn& skip) {
  uint64_t interp = 0;
  absl::Status head =
      cache->Read(roots.interpreters_head, &interp, sizeof(interp));
  if (!head.ok()) {
    // The runtime is in the executable or libpython, mapped for the whole
    // life of the process: failing to read it means the process is gone
    // (or a zombie, whose memory is gone while its PID stays).
    absl::StatusOr<ThreadInfo> main = proc.ReadThread(pid, pid);
    if (main.ok() && main->state != 'Z' && main->state != 'X') return head;
    return ProcessGoneError(absl::StrCat("process ", pid, " exited"));
  }
  // Interpreters and thread states already visited (a cycle in a torn list
  // ends the walk); a member, so a sample allocates nothing here.
  seen.clear();
  RemoteStruct tstate;
  for (int index = 0; interp != 0 && index < kMaxInterpreters; ++index) {
    if (!seen.insert(interp).second) break;
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t holder, GilHolder(interp));
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t address,
        ReadField<uint64_t>(*cache, layout, interp, Field::kInterpTstateHead));
    for (int n = 0; address != 0 && n < kMaxThreads; ++n) {
      if (!seen.insert(address).second) break;
      // Reuse the slot of the previous snapshot (and its frames' storage);
      // it counts once it is complete.
      if (*count == threads->size()) threads->emplace_back();
      PyThread& thread = (*threads)[*count];
      thread.tstate = address;
      thread.interpreter = index;
      thread.holds_gil = holder == address;
      thread.native_id = 0;
      PYSTROBE_RETURN_IF_ERROR(
          tstate.Load(*cache, layout, address, Field::kSizeofThreadState));
      PYSTROBE_ASSIGN_OR_RETURN(
          thread.thread_id,
          tstate.Get<uint64_t>(layout, Field::kTstateThreadId));
      if (layout.Has(Field::kTstateNativeThreadId)) {
        PYSTROBE_ASSIGN_OR_RETURN(
            uint64_t native,
            tstate.Get<uint64_t>(layout, Field::kTstateNativeThreadId));
        thread.native_id = static_cast<pid_t>(native);
      }
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t owner, tstate.Get<uint64_t>(layout, Field::kTstateInterp));
      thread.skipped = false;
      if (owner != interp) {
        thread.status = InconsistentError(
            absl::StrCat("thread state 0x", absl::Hex(address),
                         " does not belong to its interpreter"));
      } else if (skip && thread.native_id != 0 && skip(thread)) {
        thread.skipped = true;
        thread.status = absl::OkStatus();
      } else {
        thread.status = walker->Walk(*cache, tstate, &thread.frames);
      }
      if (!thread.status.ok()) thread.frames.clear();
      PYSTROBE_ASSIGN_OR_RETURN(
          address, tstate.Get<uint64_t>(layout, Field::kTstateNext));
      ++*count;
    }
    PYSTROBE_ASSIGN_OR_RETURN(
        interp,
        ReadField<uint64_t>(*cache, layout, interp, Field::kInterpNext));
  }
  return absl::OkStatus();
}

}  // namespace pystrobe
