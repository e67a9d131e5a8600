// Reads asyncio tasks (pystrobe/python/async_tasks.h) for PythonProcess.
//
// CPython 3.14+: the _asyncio module (an extension module, or built into the
// interpreter as in Debian's 3.15) carries _Py_AsyncioModuleDebugOffsets in
// a section of its own, .AsyncioDebug: TaskObj's size and the offsets of
// task_name, task_awaited_by(_is_set), task_is_task, task_coro, task_node,
// and where each thread state keeps its running loop, running task and the
// head of its circular list of tasks (struct llist_node {next, prev}), plus
// the interpreter's list of tasks whose thread exited. task_state is not
// among them: it comes from the generated table (debug information).
//
// CPython 3.11-3.13 (async_tasks_weakset.cc) have neither: their tasks are
// in asyncio.tasks' WeakSet (3.11 _all_tasks; 3.12+ _scheduled_tasks, plus
// the set _eager_tasks), reached through sys.modules; the running task of
// a loop is in _current_tasks, confirmed by its coroutine's frame on a
// thread's stack; a task's awaiters are found from its done-callbacks (a
// task awaiting it directly, gather's outer future, a TaskGroup's parent
// task, the future that shield(), wait() or wait_for() waits on). The
// layouts of TaskObj and of the objects on the way come from the generated
// table (headers and debug information).
//
// Pure-Python tasks (asyncio.tasks._PyTask, when _asyncio is not imported)
// are Python objects on every version: read through their instance
// attributes from the same containers. On 3.14+ they are in none of the C
// module's lists; Prepare() tells the two kinds apart by the class
// asyncio.tasks.Task is, and a pure-Python task's awaiters are its set
// Future.__asyncio_awaited_by (3.14's own record, as task_awaited_by is a
// C task's).
//
// Everything read is the target's data: list walks are bounded and detect
// cycles, objects are type-checked, a task whose chain tears is counted as
// an error and shows no frames.
#ifndef PYSTROBE_SRC_PYTHON_ASYNC_TASK_READER_H_
#define PYSTROBE_SRC_PYTHON_ASYNC_TASK_READER_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "frame_walker.h"
#include "pystrobe/process/proc_fs.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/async_tasks.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/python/version.h"
#include "remote_objects.h"

namespace pystrobe {

class AsyncTaskReader {
 public:
  // Bounds on the target's data: no service has more tasks per list, or
  // coroutines awaiting each other deeper, than this.
  static constexpr int kMaxTasks = 1 << 20;
  static constexpr int kMaxChain = 1024;
  static constexpr int kMaxAwaitedBy = 1 << 16;

  struct Context {
    const ProcFs* proc = nullptr;
    pid_t pid = 0;
    const PythonVersion* version = nullptr;
    const Layout* layout = nullptr;  // the interpreter's
    RemoteMemory* memory = nullptr;  // the page cache of the snapshot
    FrameWalker* walker = nullptr;
    uint64_t coro_type = 0;  // PyCoro_Type (0: unknown)
    uint64_t gen_type = 0;   // PyGen_Type
  };
  explicit AsyncTaskReader(Context context) : c_(context) {}

  // Tasks of every thread in `threads` (one ReadThreads() snapshot).
  // UnimplementedError (IsUnsupportedAsync) when this interpreter's tasks
  // cannot be read, saying why in one line.
  absl::Status Read(const std::vector<PyThread>& threads, AsyncSnapshot* out);

  // PythonProcess::ApplyTaskStacks.
  absl::Status ApplyTaskStacks(std::vector<PyThread>* threads,
                               std::vector<std::string>* task_names);

 private:
  // Finds the .AsyncioDebug section among the target's mappings and reads
  // the offsets into layout_ (3.14+ with C tasks), or prepares the reader
  // of asyncio.tasks' containers (3.11-3.13, and pure-Python tasks on
  // 3.14+); a failure is retried at most once a second (the module may
  // simply not be imported yet).
  absl::Status Prepare(const std::vector<PyThread>& threads);
  absl::Status FindModule(const std::vector<PyThread>& threads);
  // 3.14+: whether the target's asyncio.tasks.Task is the pure-Python
  // _PyTask (then the containers are found and the reader prepared);
  // false when it is _asyncio.Task, or when this build cannot read Python
  // objects of this version (no table row), which leaves the C tasks'
  // path as before.
  absl::StatusOr<bool> PreparePythonTasks314(
      const std::vector<PyThread>& threads);
  absl::StatusOr<std::vector<uint64_t>> ListTasks(uint64_t head);
  // Reads the task at `address`; its coroutine chain only when
  // `with_chain` (a pending task's).
  absl::Status ReadTask(uint64_t address, AsyncTask* task,
                        bool with_chain = true);
  absl::Status ReadChain(uint64_t coro, std::vector<Frame>* frames);
  absl::StatusOr<std::string> ReadName(uint64_t object);
  absl::StatusOr<std::string> TypeName(uint64_t object);
  // Awaiters are kept only where they are tasks of this snapshot (`read`);
  // futures and tasks that tore are dropped.
  static void KeepAwaitersRead(const absl::flat_hash_set<uint64_t>& read,
                               AsyncSnapshot* out);
  absl::Status ReadAwaitedBy(uint64_t object, bool is_set,
                             std::vector<uint64_t>* out);

  // 3.11-3.13 (async_tasks_weakset.cc).
  absl::Status PrepareWeakSet();
  // Finds (or re-validates) the task containers through sys.modules.
  absl::Status FindTaskContainers(const std::vector<PyThread>& threads);
  absl::Status ListWeakSetTasks(std::vector<uint64_t>* tasks);
  absl::Status ReadWeakSetTasks(const std::vector<PyThread>& threads,
                                AsyncSnapshot* out);
  // 3.11-3.12: the event loop a thread runs, the `self` of its
  // BaseEventLoop.run_forever frame (0: none, or not read).
  uint64_t RunForeverLoop(const PyThread& t);
  // Tasks awaiting the future or task `future`, from its done-callbacks.
  absl::Status CallbackAwaiters(uint64_t future, int depth,
                                std::vector<uint64_t>* out);
  absl::StatusOr<bool> IsTask(uint64_t object);
  // An asyncio future of the target's kind (a task too).
  absl::StatusOr<bool> IsFuture(uint64_t object);
  // A pure-Python task's name, state, coroutine and awaiters.
  absl::Status ReadPythonTask(uint64_t address, AsyncTask* task,
                              bool with_chain);
  // 3.14+: the tasks in a pure-Python future's (or task's) set of
  // awaiters, its instance attribute _Future__asyncio_awaited_by.
  absl::Status PythonAwaitedBy(uint64_t future, std::vector<uint64_t>* out);
  // The coroutine of a task of either kind.
  absl::StatusOr<uint64_t> TaskCoro(uint64_t task);
  // What the suspended coroutine frame at `frame` awaits (0: nothing).
  absl::StatusOr<uint64_t> AwaitedBefore314(uint64_t frame, int8_t state);
  // Per thread of `threads`, the task it is running and the index of the
  // task's coroutine frame on its stack (0 and -1 for none).
  struct Running {
    uint64_t task = 0;
    uint64_t loop = 0;
    long frame_index = -1;
  };
  absl::Status RunningTasks(const std::vector<PyThread>& threads,
                            std::vector<Running>* running);

  Context c_;
  bool prepared_ = false;
  // Tasks live in asyncio.tasks' containers: 3.11-3.13, and 3.14+ when
  // they are pure-Python tasks.
  bool weak_set_ = false;
  struct TaskContainers {
    uint64_t scheduled = 0;   // WeakSet (3.11 _all_tasks)
    uint64_t eager = 0;       // set (3.12+), else 0
    uint64_t current = 0;     // dict: loop -> running task
    uint64_t task_class = 0;  // asyncio.tasks.Task
    // Its base, asyncio's Future (_asyncio.Future, or futures._PyFuture
    // for pure-Python tasks): the class of the futures that shield(),
    // wait() and wait_for() make the awaiting task wait on.
    uint64_t future_class = 0;
    // The types of `scheduled` (WeakSet) and `current` (dict) when found:
    // each tick checks them by address (types live as long as the
    // process), not by name.
    uint64_t scheduled_type = 0, current_type = 0;
    // Task is asyncio.tasks._PyTask (no _asyncio): tasks and futures are
    // Python objects, read through their instance attributes.
    bool pure_python = false;
  };
  TaskContainers containers_;
  absl::Status containers_failure_;
  absl::Time containers_retry_at_ = absl::InfinitePast();
  std::optional<RemoteObjects> objects_;
  std::vector<Running> running_;  // scratch
  // _current_tasks' items, read every tick (scratch, capacity kept).
  std::vector<std::pair<uint64_t, uint64_t>> current_items_;
  // Why Prepare() failed last, and when to look at the mappings again (a
  // sampler calls it every tick: the module may be imported later).
  absl::Status last_failure_;
  absl::Time retry_at_ = absl::InfinitePast();
  Layout layout_;  // the interpreter's, plus the module's offsets
  // Type name by type address (types live as long as the process).
  absl::flat_hash_map<uint64_t, std::string> type_names_;
  // ApplyTaskStacks' scratch, reused across samples.
  AsyncTask scratch_;
  std::vector<Frame> logical_;
  std::vector<uint64_t> chain_seen_;
  // The thread's status becomes TaskTornError (its frames are dropped):
  // the sampler reads it again, or counts an error.
  static void MarkTaskTorn(PyThread& t, const absl::Status& why);
  // Per thread state, the coroutine frame of the task it ran at the last
  // look: a thread that still holds it, but reads no running task, read a
  // torn _current_tasks (3.11-3.13) rather than ran no task.
  struct LastRunning {
    uint64_t tstate = 0;
    uint64_t frame = 0;
    const CodeInfo* code = nullptr;
  };
  std::vector<LastRunning> last_running_;
  void RememberRunning(const PyThread& t, size_t frame_index);
  bool StillRunsLastTask(const PyThread& t) const;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_ASYNC_TASK_READER_H_
