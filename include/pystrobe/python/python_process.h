// A live CPython process: its version, its interpreters' threads and their
// Python stacks.
//
// Attach() finds the interpreter in the target (libpython or a statically
// linked executable), detects its version, picks the struct layout and finds
// the runtime's roots. ReadThreads() then takes one snapshot of every thread:
//
//   ASSIGN_OR_RETURN(auto python, PythonProcess::Attach(pid));
//   ASSIGN_OR_RETURN(std::vector<PyThread> threads, python->ReadThreads());
//   for (const PyThread& t : threads)
//     for (const Frame& f : t.frames)  // innermost first
//       printf("%s (%s:%d)\n", f.code->name.c_str(), f.code->filename.c_str(),
//              f.line);
//
// Reads go through a page cache whose snapshot starts with one batched read
// of what the previous snapshot used, and decoded code objects (names, file
// names, line tables) are cached across snapshots, so a repeated read of an
// unchanged stack costs one syscall.
// The target keeps running while it is read unless the caller stops it
// (PtraceSuspension); a stack torn by a running thread is reported as that
// thread's error (InconsistentError / MemoryGoneError), never as frames.
#ifndef PYSTROBE_PYTHON_PYTHON_PROCESS_H_
#define PYSTROBE_PYTHON_PYTHON_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/line_table.h"
#include "pystrobe/python/version.h"

namespace pystrobe {

// What pystrobe knows of a code object. Immutable once decoded; shared by
// every frame (and every snapshot) that runs it.
struct CodeInfo {
  std::string name;      // co_name
  std::string qualname;  // co_qualname (3.11+), else empty
  std::string filename;  // co_filename
  int first_line = 0;    // co_firstlineno
  LineTable lines;
  // 3.11+: code units of co_code_adaptive (ob_size) and the index of the
  // first traceable instruction; the walker checks frames against them.
  int64_t code_units = -1;
  int32_t first_traceable = 0;
  // Set only for native frames (pystrobe/native, --native), which the
  // sampler aggregates like Python frames: the mapped file the function is
  // in (the path in /proc/PID/maps) and its GNU build-id. name is then the
  // C symbol, filename its source file or else the module.
  std::string native_module;
  std::string native_build_id;
  // The module's address range and the file offset of its start (pprof's
  // Mapping).
  uint64_t native_start = 0;
  uint64_t native_limit = 0;
  uint64_t native_offset = 0;
  bool is_native() const { return !native_module.empty(); }
};

struct Frame {
  std::shared_ptr<const CodeInfo> code;
  int line = -1;  // -1: the instruction has no line
  // The outermost Python frame of one C-level call of the interpreter's
  // eval function: every frame on <= 3.10; on 3.11+, where one eval call
  // runs several Python frames, the frame below which the chain holds an
  // entry frame (3.12+) or that is itself is_entry (3.11). Native
  // unwinding (src/native/merge.cc) puts each such group of frames in
  // place of its eval function's native frame.
  bool entry = false;
  // 3.12+, on an entry frame: the address of the interpreter frame that the
  // eval call keeps on its own C stack below this group (0: not known). It
  // finds that call's native frame by stack address where no symbol names
  // the eval function (merge.cc).
  uint64_t entry_frame = 0;
  // The address of the frame struct this was read from (_PyInterpreterFrame
  // on 3.11+, PyFrameObject before): ties a coroutine to its frame on a
  // thread's stack (async_tasks.h). 0 when not known.
  uint64_t address = 0;
};

// One Python thread state.
struct PyThread {
  uint64_t tstate = 0;        // address of the PyThreadState
  uint64_t thread_id = 0;     // PyThreadState.thread_id (threading.get_ident())
  pid_t native_id = 0;        // kernel TID; 0 when it could not be found
  int64_t interpreter = 0;    // index of its interpreter (0: main)
  bool holds_gil = false;     // see PythonProcess::gil_enabled()
  std::vector<Frame> frames;  // innermost first
  // Non-OK when the stack could not be read consistently; `frames` is then
  // empty.
  absl::Status status;
  // ReadThreads' `skip` said not to read its stack: `frames` is empty and
  // `status` OK.
  bool skipped = false;
};

struct AsyncSnapshot;  // pystrobe/python/async_tasks.h

struct AttachOptions {
  std::string proc_root = "/proc";
};

class PythonProcess {
 public:
  // Errors: ProcessGoneError (no such PID), NoPermissionError (with advice),
  // NotPythonError (saying what was found), UnsupportedVersionError (naming
  // the version).
  static absl::StatusOr<std::unique_ptr<PythonProcess>> Attach(
      pid_t pid, const AttachOptions& options = {});

  ~PythonProcess();
  PythonProcess(const PythonProcess&) = delete;
  PythonProcess& operator=(const PythonProcess&) = delete;

  pid_t pid() const;
  const PythonVersion& version() const;
  // The binary that holds the interpreter (libpython or the executable).
  const std::string& binary() const;
  // False when the last snapshot found a free-threaded build running
  // without its GIL: then no thread holds it, and PyThread::holds_gil says
  // nothing (a free-threaded build may also enable its GIL at run time).
  bool gil_enabled() const;

  // One snapshot of every thread of every interpreter. Fails as a whole only
  // when the interpreter list itself cannot be read (ProcessGoneError when
  // the target exited); per-thread failures are in PyThread::status.
  absl::StatusOr<std::vector<PyThread>> ReadThreads();
  // The same into `threads`, whose elements (and their frame vectors) are
  // reused: a sampler passing the previous snapshot back in allocates
  // nothing for an unchanged set of threads and stacks. On error `threads`
  // holds the threads read before the failure.
  absl::Status ReadThreads(std::vector<PyThread>* threads);
  // The same, asking `skip` about each thread before its stack is walked
  // (tstate, native_id and holds_gil are set): true leaves the stack
  // unread (PyThread::skipped), e.g. for a thread known to be asleep.
  using SkipStackFn = std::function<bool(const PyThread&)>;
  absl::Status ReadThreads(std::vector<PyThread>* threads,
                           const SkipStackFn& skip);

  // The asyncio tasks of every thread of `threads`, a snapshot that the
  // last ReadThreads() returned (it gives the running tasks' frames), read
  // from the same page cache. IsUnsupportedAsync(status) when the tasks of
  // this interpreter cannot be read (its message says why, in one line);
  // per-task failures are in AsyncTask::status.
  absl::Status ReadTasks(const std::vector<PyThread>& threads,
                         AsyncSnapshot* snapshot);

  // Rewrites the stack of every thread of `threads` (the last ReadThreads()
  // snapshot) that is running an asyncio task into that task's logical
  // stack, innermost first: the running task's frames down to its
  // coroutine, then each awaiting task's coroutine chain up to the root
  // task, then the thread's frames below the task (the event loop).
  // `task_names` gets, per thread, the running task's name ("" for a thread
  // running none, or whose awaiters could not be read: its stack is then
  // left as it was). Reads only the running tasks and their awaiters, not
  // every task. IsUnsupportedAsync(status) as ReadTasks.
  absl::Status ApplyTaskStacks(std::vector<PyThread>* threads,
                               std::vector<std::string>* task_names);

  // The reader that reaches the target (below the page cache), for counting
  // syscalls.
  const RemoteMemory& memory() const;

  struct Impl;

 private:
  explicit PythonProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_PYTHON_PYTHON_PROCESS_H_
