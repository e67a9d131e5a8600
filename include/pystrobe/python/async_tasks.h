// asyncio tasks of a live CPython process and their await chains.
//
// For every thread running an event loop: its tasks, each with its name,
// state, coroutine chain (innermost first, with files and lines like a
// thread's frames) and the tasks awaiting it (gather, TaskGroup, a direct
// `await task`). Read from the interpreter's own structures, after a
// ReadThreads() snapshot whose stacks give the running task's frames:
//
//   ASSIGN_OR_RETURN(std::vector<PyThread> threads, python->ReadThreads());
//   AsyncSnapshot snapshot;
//   absl::Status status = python->ReadTasks(threads, &snapshot);
//   if (IsUnsupportedAsync(status)) puts(status.message());  // one line
//   for (const AsyncTask& task : snapshot.tasks) ...
//
// Versions (docs/asyncio.md): CPython 3.11+ with the C-accelerated tasks
// (the default). 3.14+ publish _asyncio's layout in
// _Py_AsyncioModuleDebugOffsets and keep every task in a per-thread list;
// 3.11-3.13 (and 3.13t) are read through asyncio.tasks' WeakSet, with the
// layouts of the generated table, and their awaiters come from the tasks'
// done-callbacks. Elsewhere (pure-Python tasks, a build without a table
// row) ReadTasks says in one line why the tasks cannot be read, and a
// caller falls back to the thread stacks; it never guesses a tree.
#ifndef PYSTROBE_PYTHON_ASYNC_TASKS_H_
#define PYSTROBE_PYTHON_ASYNC_TASKS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "pystrobe/python/python_process.h"

namespace pystrobe {

enum class TaskState {
  kPending,    // waiting (on a future, another task, a lock, a sleep)
  kRunning,    // the task its thread's event loop is running now
  kDone,       // finished, still referenced
  kCancelled,  // cancelled, still referenced
};

// "pending", "running", "done", "cancelled".
const char* TaskStateName(TaskState state);

struct AsyncTask {
  uint64_t address = 0;  // the Task object (id(task) in the target)
  std::string name;      // Task.get_name()
  TaskState state = TaskState::kPending;
  // Innermost first. A pending task: its coroutine, then what that awaits,
  // and so on (cr_await), reversed. The running task: its thread's frames
  // from the innermost down to the task's coroutine.
  std::vector<Frame> frames;
  // Tasks awaiting this one (their addresses), in the target's order.
  std::vector<uint64_t> awaited_by;
  // PyThreadState.thread_id of the thread whose list holds the task (the
  // one that created it; 0 for tasks of threads that exited).
  uint64_t thread_id = 0;
  // Non-OK when this task could not be read consistently (a torn read);
  // `frames` is then empty.
  absl::Status status;
};

struct AsyncSnapshot {
  std::vector<AsyncTask> tasks;
  // Threads with a running event loop.
  struct Loop {
    uint64_t thread_id = 0;
    uint64_t loop = 0;          // the event loop object
    uint64_t running_task = 0;  // 0 when between tasks
  };
  std::vector<Loop> loops;
  // Tasks that could not be read (their status says why).
  int errors = 0;
};

// Groups of tasks that await each other in a ring (a deadlock: none of them
// can finish), each listed once, by address, starting at its lowest address.
std::vector<std::vector<uint64_t>> FindAwaitCycles(
    const AsyncSnapshot& snapshot);

// True for the status ReadTasks returns when this interpreter's tasks
// cannot be read at all (version, build, or _asyncio not imported): its
// message is the one line to show.
bool IsUnsupportedAsync(const absl::Status& status);

}  // namespace pystrobe

#endif  // PYSTROBE_PYTHON_ASYNC_TASKS_H_
