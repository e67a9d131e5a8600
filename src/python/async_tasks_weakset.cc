// asyncio tasks of CPython 3.11 to 3.13 (async_task_reader.h): no debug
// offsets and no task lists in the thread states, so the tasks are reached
// the way asyncio.all_tasks() reaches them, and their awaiters the way a
// finished task would wake them.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "async_task_reader.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "remote_objects.h"
#include "remote_struct.h"

namespace pystrobe {
namespace {

absl::Status WeakSetUnsupported(std::string_view why) {
  return absl::UnimplementedError(
      absl::StrCat("asyncio tasks: ", std::string(why)));
}

// How deep a chain of futures' callbacks is followed to reach an awaiting
// task (gather's outer future inside another gather, ...).
constexpr int kMaxCallbackDepth = 8;
constexpr int64_t kMaxCallbacks = 1 << 16;
// sys.modules of a large service holds a few thousand modules.
constexpr int64_t kMaxModules = 1 << 16;

// FRAME_SUSPENDED (3.11, 3.12) and FRAME_SUSPENDED_YIELD_FROM (3.13):
// enum _framestate in Include/internal/pycore_frame.h.
constexpr int8_t kWeakSetSuspended = -1;

}  // namespace

absl::Status AsyncTaskReader::PrepareWeakSet() {
  const PythonVersion& v = *c_.version;
  if (!v.AtLeast(3, 11)) {
    return WeakSetUnsupported(absl::StrFormat(
        "CPython %s: pystrobe reads asyncio tasks from 3.11 on; showing "
        "thread stacks only",
        v.ToString()));
  }
  layout_ = *c_.layout;
  for (Field f : {Field::kTaskState,        Field::kTaskCoro,
                  Field::kTaskName,         Field::kTaskCallback0,
                  Field::kTaskCallbacks,    Field::kTaskLoop,
                  Field::kSizeofTask,       Field::kGenIframe,
                  Field::kGenFrameState,    Field::kIframeStacktop,
                  Field::kIframeLocalsplus, Field::kInterpModules,
                  Field::kTstateInterp,     Field::kCFunctionMl,
                  Field::kCFunctionSelf,    Field::kMethodFunc,
                  Field::kMethodSelf,       Field::kFunctionClosure,
                  Field::kFunctionQualname, Field::kCellRef,
                  Field::kTypeBasicsize}) {
    if (!layout_.Has(f)) {
      return WeakSetUnsupported(absl::StrFormat(
          "CPython %s: this pystrobe build has no %s for it (the layout "
          "table lacks it); showing thread stacks only",
          v.ToString(), FieldName(f)));
    }
  }
  if (!RemoteObjects::Supports(layout_)) {
    return WeakSetUnsupported(absl::StrFormat(
        "CPython %s: this pystrobe build lacks the dict and set layouts of "
        "it; showing thread stacks only",
        v.ToString()));
  }
  if (!v.AtLeast(3, 13) && !layout_.Has(Field::kOpcodeResume)) {
    return WeakSetUnsupported("no RESUME opcode in the layout table");
  }
  objects_.emplace(c_.memory, &layout_, c_.version);
  weak_set_ = true;
  prepared_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> AsyncTaskReader::PreparePythonTasks314(
    const std::vector<PyThread>& threads) {
  // What the reader of Python objects and of pure-Python tasks' chains
  // needs: the table's rows (headers) and the target's _Py_DebugOffsets.
  // A build without them keeps to the C tasks' path.
  if (!RemoteObjects::Supports(*c_.layout)) return false;
  for (Field f : {Field::kInterpModules, Field::kTstateInterp,
                  Field::kGenIframe, Field::kGenFrameState,
                  Field::kIframeStackpointer, Field::kIframeLocalsplus}) {
    if (!c_.layout->Has(f)) return false;
  }
  layout_ = *c_.layout;
  objects_.emplace(c_.memory, &layout_, c_.version);
  absl::Status found = FindTaskContainers(threads);
  if (IsUnsupportedAsync(found)) {
    // asyncio not imported yet (or tasks of a kind no reader takes):
    // said in one line, looked at again in a second.
    objects_.reset();
    return found;
  }
  if (!found.ok() || !containers_.pure_python) {
    // _asyncio.Task, or containers that could not be read whole (a torn
    // read): the C module's own lists, as before pure-Python tasks were
    // read on 3.14+.
    containers_ = TaskContainers();
    objects_.reset();
    return false;
  }
  weak_set_ = true;
  prepared_ = true;
  return true;
}

absl::StatusOr<bool> AsyncTaskReader::IsTask(uint64_t object) {
  if (containers_.task_class == 0) {
    return objects_->IsInstance(object, "_asyncio.Task");
  }
  return objects_->IsInstanceOfType(object, containers_.task_class);
}

absl::StatusOr<bool> AsyncTaskReader::IsFuture(uint64_t object) {
  if (containers_.future_class == 0) return false;
  return objects_->IsInstanceOfType(object, containers_.future_class);
}

absl::StatusOr<uint64_t> AsyncTaskReader::TaskCoro(uint64_t task) {
  if (containers_.pure_python) return objects_->Attribute(task, "_coro");
  uint64_t coro = 0;
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
      task + *layout_.Offset(Field::kTaskCoro), &coro, sizeof(coro)));
  return coro;
}

absl::Status AsyncTaskReader::ReadPythonTask(uint64_t address, AsyncTask* task,
                                             bool with_chain) {
  // asyncio.tasks._PyTask and futures._PyFuture (Lib/asyncio/tasks.py,
  // futures.py): _name (a str), _state ('PENDING', 'CANCELLED',
  // 'FINISHED'), _coro, _callbacks.
  PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(address));
  if (!is_task) return InconsistentError("listed task is not a Task");
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t name,
                            objects_->Attribute(address, "_name"));
  PYSTROBE_ASSIGN_OR_RETURN(task->name, ReadName(name));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t state_object,
                            objects_->Attribute(address, "_state"));
  // _state is a class attribute of Future (`_state = _PENDING`), set on the
  // instance only when the future is done or cancelled.
  std::string state = "PENDING";
  if (state_object != 0) {
    PYSTROBE_ASSIGN_OR_RETURN(state, objects_->Str(state_object));
  }
  if (state == "PENDING") {
    task->state = TaskState::kPending;
  } else if (state == "CANCELLED") {
    task->state = TaskState::kCancelled;
  } else if (state == "FINISHED") {
    task->state = TaskState::kDone;
  } else {
    return InconsistentError(absl::StrCat("task state ", state));
  }
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t coro,
                            objects_->Attribute(address, "_coro"));
  task->awaited_by.clear();
  if (c_.version->AtLeast(3, 14)) {
    // 3.14 records a future's awaiters (futures.future_add_to_awaited_by),
    // which asyncio.capture_call_graph reads.
    PYSTROBE_RETURN_IF_ERROR(PythonAwaitedBy(address, &task->awaited_by));
  } else {
    PYSTROBE_RETURN_IF_ERROR(CallbackAwaiters(address, 0, &task->awaited_by));
  }
  task->frames.clear();
  if (with_chain && task->state == TaskState::kPending && coro != 0) {
    PYSTROBE_RETURN_IF_ERROR(ReadChain(coro, &task->frames));
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::PythonAwaitedBy(uint64_t future,
                                              std::vector<uint64_t>* out) {
  // Lib/asyncio/futures.py (3.14+): Future.__asyncio_awaited_by, None (the
  // class attribute) until a first awaiter is added, then a set of the
  // waiting tasks (and futures), kept until they stop waiting.
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t set, objects_->Attribute(future, "_Future__asyncio_awaited_by"));
  if (set == 0) return absl::OkStatus();
  PYSTROBE_ASSIGN_OR_RETURN(std::string type, objects_->TypeName(set));
  if (type == "NoneType") return absl::OkStatus();
  std::vector<uint64_t> waiters;
  PYSTROBE_RETURN_IF_ERROR(objects_->SetItems(set, kMaxAwaitedBy, &waiters));
  for (uint64_t waiter : waiters) {
    PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(waiter));
    if (is_task && std::find(out->begin(), out->end(), waiter) == out->end()) {
      out->push_back(waiter);
    }
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::FindTaskContainers(
    const std::vector<PyThread>& threads) {
  // Known containers stay valid while their types do (they live as long as
  // asyncio.tasks); a check per use costs a few cached reads.
  if (containers_.scheduled != 0) {
    absl::StatusOr<uint64_t> a = objects_->TypeOf(containers_.scheduled);
    absl::StatusOr<uint64_t> b = objects_->TypeOf(containers_.current);
    if (a.ok() && *a == containers_.scheduled_type && b.ok() &&
        *b == containers_.current_type) {
      return absl::OkStatus();
    }
    containers_ = TaskContainers();
  }
  const absl::Time now = absl::Now();
  if (now < containers_retry_at_) return containers_failure_;
  auto fail = [&](absl::Status status) {
    containers_failure_ = status;
    containers_retry_at_ = now + absl::Seconds(1);
    return status;
  };
  uint64_t tstate = 0;
  for (const PyThread& t : threads) {
    if (t.interpreter == 0) {
      tstate = t.tstate;
      break;
    }
  }
  if (tstate == 0)
    return fail(
        InconsistentError("no thread of the main "
                          "interpreter"));
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t interp,
      ReadField<uint64_t>(*c_.memory, layout_, tstate, Field::kTstateInterp));
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t modules,
      ReadField<uint64_t>(*c_.memory, layout_, interp, Field::kInterpModules));
  absl::StatusOr<uint64_t> module =
      objects_->DictGet(modules, "asyncio.tasks", kMaxModules);
  if (!module.ok()) return fail(module.status());
  if (*module == 0) {
    return fail(WeakSetUnsupported(
        absl::StrFormat("process %d has not imported asyncio", c_.pid)));
  }
  absl::StatusOr<uint64_t> dict = objects_->ModuleDict(*module);
  if (!dict.ok()) return fail(dict.status());
  // The C module's classes and containers, which asyncio.tasks rebinds
  // when _asyncio imports (Lib/asyncio/tasks.py, the end): without it,
  // tasks are asyncio.tasks._PyTask, Python objects this reader does not
  // take apart.
  absl::StatusOr<uint64_t> task_class = objects_->DictGet(*dict, "Task");
  if (!task_class.ok()) return fail(task_class.status());
  absl::StatusOr<std::string> task_class_name =
      *task_class == 0 ? absl::StatusOr<std::string>("")
                       : objects_->NameOfType(*task_class);
  if (!task_class_name.ok()) return fail(task_class_name.status());
  TaskContainers found;
  found.task_class = *task_class;
  if (*task_class_name == "Task") {
    // asyncio.tasks.Task is then the module's own _PyTask.
    absl::StatusOr<uint64_t> py_task = objects_->DictGet(*dict, "_PyTask");
    if (!py_task.ok()) return fail(py_task.status());
    found.pure_python = *py_task == *task_class;
  }
  if (*task_class_name != "_asyncio.Task" && !found.pure_python) {
    return fail(WeakSetUnsupported(absl::StrFormat(
        "process %d runs pure-Python asyncio tasks (asyncio.tasks._PyTask, "
        "no _asyncio module), which pystrobe does not read on CPython %s; "
        "showing thread stacks only",
        c_.pid, c_.version->ToString())));
  }
  // Task derives from asyncio's Future (Lib/asyncio/tasks.py: the C Task
  // from _asyncio.Future, _PyTask from futures._PyFuture, whose tp_name is
  // "Future"): the futures that shield(), wait() and wait_for() wait on are
  // of that class.
  {
    absl::StatusOr<uint64_t> base = ReadField<uint64_t>(
        *c_.memory, layout_, found.task_class, Field::kTypeBase);
    if (!base.ok()) return fail(base.status());
    absl::StatusOr<std::string> base_name =
        *base == 0 ? absl::StatusOr<std::string>("")
                   : objects_->NameOfType(*base);
    if (!base_name.ok()) return fail(base_name.status());
    // A Task class replaced by another (a subclass of a subclass): tasks
    // are still read, only these awaiters are not followed.
    if (*base_name == (found.pure_python ? "Future" : "_asyncio.Future")) {
      found.future_class = *base;
    }
  }
  // The table's TaskObj (debug information of the build pystrobe's table
  // came from) must have the target's size, else its offsets are not
  // trusted. (3.14+ read C tasks through the module's own offsets, which
  // carry its size.)
  if (!found.pure_python && !c_.version->AtLeast(3, 14)) {
    absl::StatusOr<uint64_t> basicsize = ReadField<uint64_t>(
        *c_.memory, layout_, *task_class, Field::kTypeBasicsize);
    if (!basicsize.ok()) return fail(basicsize.status());
    if (*basicsize !=
        static_cast<uint64_t>(*layout_.Offset(Field::kSizeofTask))) {
      return fail(WeakSetUnsupported(absl::StrFormat(
          "CPython %s: its _asyncio.Task is %d bytes, the layout table's "
          "TaskObj %d; showing thread stacks only",
          c_.version->ToString(), *basicsize,
          *layout_.Offset(Field::kSizeofTask))));
    }
  }
  const bool before_312 = !c_.version->AtLeast(3, 12);
  const std::pair<const char*, uint64_t*> wanted[] = {
      {before_312 ? "_all_tasks" : "_scheduled_tasks", &found.scheduled},
      {"_current_tasks", &found.current},
      {before_312 ? "" : "_eager_tasks", &found.eager}};
  for (const auto& [name, slot] : wanted) {
    if (*name == '\0') continue;
    absl::StatusOr<uint64_t> value = objects_->DictGet(*dict, name);
    if (!value.ok()) return fail(value.status());
    if (*value == 0) {
      return fail(
          InconsistentError(absl::StrCat("asyncio.tasks has no ", name)));
    }
    *slot = *value;
  }
  absl::StatusOr<std::string> scheduled_type =
      objects_->TypeName(found.scheduled);
  if (!scheduled_type.ok()) return fail(scheduled_type.status());
  if (*scheduled_type != "WeakSet") {
    return fail(InconsistentError(absl::StrCat(
        "asyncio.tasks' task set is a ", *scheduled_type, ", not a WeakSet")));
  }
  absl::StatusOr<std::string> current_type = objects_->TypeName(found.current);
  if (!current_type.ok()) return fail(current_type.status());
  if (*current_type != "dict") {
    return fail(InconsistentError(absl::StrCat(
        "asyncio.tasks' _current_tasks is a ", *current_type, ", not a dict")));
  }
  absl::StatusOr<uint64_t> st = objects_->TypeOf(found.scheduled);
  absl::StatusOr<uint64_t> ct = objects_->TypeOf(found.current);
  if (!st.ok()) return fail(st.status());
  if (!ct.ok()) return fail(ct.status());
  found.scheduled_type = *st;
  found.current_type = *ct;
  containers_ = found;
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::ListWeakSetTasks(std::vector<uint64_t>* tasks) {
  tasks->clear();
  // WeakSet keeps its weak references in the set `data`
  // (Lib/_weakrefset.py).
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t data,
                            objects_->Attribute(containers_.scheduled, "data"));
  if (data == 0) return InconsistentError("WeakSet without data");
  std::vector<uint64_t> refs;
  PYSTROBE_RETURN_IF_ERROR(objects_->SetItems(data, kMaxTasks, &refs));
  absl::flat_hash_set<uint64_t> seen;
  for (uint64_t ref : refs) {
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t target, objects_->WeakrefTarget(ref));
    // A dead reference points to None: not a task.
    PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(target));
    if (is_task && seen.insert(target).second) tasks->push_back(target);
  }
  if (containers_.eager != 0) {
    // Tasks running their first step eagerly (3.12+) are held here.
    std::vector<uint64_t> eager;
    PYSTROBE_RETURN_IF_ERROR(
        objects_->SetItems(containers_.eager, kMaxTasks, &eager));
    for (uint64_t task : eager) {
      PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(task));
      if (is_task && seen.insert(task).second) tasks->push_back(task);
    }
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::CallbackAwaiters(uint64_t future, int depth,
                                               std::vector<uint64_t>* out) {
  if (depth > kMaxCallbackDepth) {
    return InconsistentError("futures' callbacks nest too deep");
  }
  // FutureObj_HEAD: the first callback in fut_callback0, the others as
  // (callback, context) tuples in the list fut_callbacks
  // (Modules/_asynciomodule.c, future_add_done_callback). Tasks and C
  // futures (gather's _GatheringFuture derives from one) share it.
  std::vector<uint64_t> callbacks;
  uint64_t list = 0;
  if (containers_.pure_python) {
    // A Python future: the list _callbacks of (callback, context).
    PYSTROBE_ASSIGN_OR_RETURN(list, objects_->Attribute(future, "_callbacks"));
  } else {
    uint64_t first = 0;
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
        future + *layout_.Offset(Field::kTaskCallback0), &first, 8));
    if (first != 0) callbacks.push_back(first);
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
        future + *layout_.Offset(Field::kTaskCallbacks), &list, 8));
  }
  if (list != 0) {
    std::vector<uint64_t> pairs;
    PYSTROBE_RETURN_IF_ERROR(
        objects_->SequenceItems(list, kMaxCallbacks, &pairs));
    std::vector<uint64_t> pair;
    for (uint64_t p : pairs) {
      PYSTROBE_RETURN_IF_ERROR(objects_->SequenceItems(p, 2, &pair));
      if (pair.size() != 2) return InconsistentError("callback pair");
      callbacks.push_back(pair[0]);
    }
  }
  auto add = [&](uint64_t task) {
    if (std::find(out->begin(), out->end(), task) == out->end()) {
      out->push_back(task);
    }
  };
  auto word = [&](uint64_t address) -> absl::StatusOr<uint64_t> {
    uint64_t value = 0;
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(address, &value, 8));
    return value;
  };
  auto qualname = [&](uint64_t function) -> absl::StatusOr<std::string> {
    PYSTROBE_ASSIGN_OR_RETURN(std::string type, objects_->TypeName(function));
    if (type != "function") return std::string();
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t name,
        word(function + *layout_.Offset(Field::kFunctionQualname)));
    return objects_->Str(name);
  };
  for (uint64_t callback : callbacks) {
    PYSTROBE_ASSIGN_OR_RETURN(std::string type, objects_->TypeName(callback));
    if (type == "builtin_function_or_method") {
      // A task awaiting this one directly: its step registered
      // PyCFunction_New(&TaskWakeupDef, task), named "task_wakeup".
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t def, word(callback + *layout_.Offset(Field::kCFunctionMl)));
      PYSTROBE_ASSIGN_OR_RETURN(uint64_t name_address, word(def));
      PYSTROBE_ASSIGN_OR_RETURN(std::string name,
                                objects_->CString(name_address));
      if (name != "task_wakeup") continue;
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t self,
          word(callback + *layout_.Offset(Field::kCFunctionSelf)));
      PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(self));
      if (is_task) add(self);
    } else if (type == "method") {
      // A TaskGroup's child: task.add_done_callback(self._on_task_done),
      // awaited by the group's _parent_task (Lib/asyncio/taskgroups.py).
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t function,
          word(callback + *layout_.Offset(Field::kMethodFunc)));
      PYSTROBE_ASSIGN_OR_RETURN(std::string name, qualname(function));
      if (name == "Task.__wakeup" && containers_.pure_python) {
        // A pure-Python task awaiting this one: its bound __wakeup.
        PYSTROBE_ASSIGN_OR_RETURN(
            uint64_t self,
            word(callback + *layout_.Offset(Field::kMethodSelf)));
        PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(self));
        if (is_task) add(self);
        continue;
      }
      if (name != "TaskGroup._on_task_done") continue;
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t group, word(callback + *layout_.Offset(Field::kMethodSelf)));
      PYSTROBE_ASSIGN_OR_RETURN(uint64_t parent,
                                objects_->Attribute(group, "_parent_task"));
      if (parent == 0) continue;
      PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(parent));
      if (is_task) add(parent);
    } else if (type == "function") {
      // Closures of Lib/asyncio/tasks.py registered on the awaited future;
      // one of their cells holds the future the awaiting task waits on,
      // whose own callbacks wake that task:
      // - gather's _done_callback: the outer _GatheringFuture;
      // - shield's _inner_done_callback: `outer`, which the caller awaits;
      // - _wait's _on_completion (asyncio.wait): `waiter`, awaited in
      //   _wait by the caller's task.
      PYSTROBE_ASSIGN_OR_RETURN(std::string name, qualname(callback));
      const bool gather = name == "gather.<locals>._done_callback";
      if (!gather && name != "shield.<locals>._inner_done_callback" &&
          name != "_wait.<locals>._on_completion") {
        continue;
      }
      PYSTROBE_ASSIGN_OR_RETURN(
          uint64_t closure,
          word(callback + *layout_.Offset(Field::kFunctionClosure)));
      if (closure == 0) continue;
      std::vector<uint64_t> cells;
      PYSTROBE_RETURN_IF_ERROR(objects_->SequenceItems(closure, 64, &cells));
      for (uint64_t cell : cells) {
        PYSTROBE_ASSIGN_OR_RETURN(std::string cell_type,
                                  objects_->TypeName(cell));
        if (cell_type != "cell") continue;
        PYSTROBE_ASSIGN_OR_RETURN(
            uint64_t content, word(cell + *layout_.Offset(Field::kCellRef)));
        if (content == 0) continue;
        bool outer = false;
        if (gather) {
          PYSTROBE_ASSIGN_OR_RETURN(
              outer, objects_->IsInstance(content, "_GatheringFuture"));
        } else {
          PYSTROBE_ASSIGN_OR_RETURN(outer, IsFuture(content));
        }
        if (!outer) continue;
        std::vector<uint64_t> up;
        PYSTROBE_RETURN_IF_ERROR(CallbackAwaiters(content, depth + 1, &up));
        for (uint64_t task : up) add(task);
      }
    } else if (type == "functools.partial") {
      // functools.partial(_release_waiter, waiter), registered on the
      // awaited future by wait_for (3.11, which wraps a coroutine in a task
      // of its own) and by _cancel_and_wait: the caller's task awaits
      // `waiter`. partial's struct is private to _functools: its slots
      // "func" and "args" come from the type's own member table.
      if (!layout_.Has(Field::kTypeMembers)) continue;
      PYSTROBE_ASSIGN_OR_RETURN(uint64_t function,
                                objects_->Member(callback, "func"));
      if (function == 0) continue;
      PYSTROBE_ASSIGN_OR_RETURN(std::string name, qualname(function));
      if (name != "_release_waiter") continue;
      PYSTROBE_ASSIGN_OR_RETURN(uint64_t args,
                                objects_->Member(callback, "args"));
      if (args == 0) continue;
      std::vector<uint64_t> items;
      PYSTROBE_RETURN_IF_ERROR(objects_->SequenceItems(args, 8, &items));
      if (items.empty()) continue;
      PYSTROBE_ASSIGN_OR_RETURN(bool is_future, IsFuture(items[0]));
      if (!is_future) continue;
      std::vector<uint64_t> up;
      PYSTROBE_RETURN_IF_ERROR(CallbackAwaiters(items[0], depth + 1, &up));
      for (uint64_t task : up) add(task);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> AsyncTaskReader::AwaitedBefore314(uint64_t frame,
                                                           int8_t state) {
  // _PyGen_yf (Objects/genobject.c): 3.13 knows the state
  // FRAME_SUSPENDED_YIELD_FROM; 3.11 and 3.12 look at the instruction after
  // the one the frame stopped at: RESUME (or its quickened / instrumented
  // form) with an oparg of 2 or more (after `yield from` / `await`). Then
  // the awaited object is the top of the frame's value stack,
  // localsplus[stacktop - 1].
  if (state != kWeakSetSuspended) return 0;
  if (!c_.version->AtLeast(3, 13)) {
    uint64_t prev_instr = 0;
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
        frame + *layout_.Offset(Field::kIframeInstr), &prev_instr, 8));
    uint16_t next = 0;
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(prev_instr + 2, &next, 2));
    const int opcode = next & 0xFF;
    const int oparg = next >> 8;
    if ((opcode != *layout_.Offset(Field::kOpcodeResume) &&
         opcode != layout_.Offset(Field::kOpcodeResumeVariant).value_or(-1)) ||
        oparg < 2) {
      return 0;
    }
  }
  int32_t stacktop = 0;
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
      frame + *layout_.Offset(Field::kIframeStacktop), &stacktop, 4));
  if (stacktop <= 0 || stacktop > (1 << 16)) {
    return InconsistentError("suspended coroutine's stack top is wild");
  }
  uint64_t awaited = 0;
  PYSTROBE_RETURN_IF_ERROR(
      c_.memory->Read(frame + *layout_.Offset(Field::kIframeLocalsplus) +
                          8 * static_cast<uint64_t>(stacktop - 1),
                      &awaited, 8));
  return awaited;
}

uint64_t AsyncTaskReader::RunForeverLoop(const PyThread& t) {
  const std::optional<int32_t> localsplus =
      layout_.Offset(Field::kIframeLocalsplus);
  if (!localsplus || !t.status.ok()) return 0;
  for (const Frame& f : t.frames) {
    if (f.address == 0 || f.code == nullptr ||
        f.code->qualname != "BaseEventLoop.run_forever" ||
        !absl::EndsWith(f.code->filename, "asyncio/base_events.py")) {
      continue;
    }
    uint64_t slot = 0;
    if (!c_.memory->Read(f.address + *localsplus, &slot, 8).ok()) return 0;
    const uint64_t loop = slot & ~kStackRefTagBits;  // 3.14+: a stack ref
    if (loop == 0 || !TypeName(loop).ok()) return 0;
    return loop;
  }
  return 0;
}

absl::Status AsyncTaskReader::ReadWeakSetTasks(
    const std::vector<PyThread>& threads, AsyncSnapshot* out) {
  PYSTROBE_RETURN_IF_ERROR(FindTaskContainers(threads));
  std::vector<uint64_t> addresses;
  PYSTROBE_RETURN_IF_ERROR(ListWeakSetTasks(&addresses));
  PYSTROBE_RETURN_IF_ERROR(RunningTasks(threads, &running_));
  absl::flat_hash_map<uint64_t, size_t> running;        // task -> thread index
  absl::flat_hash_map<uint64_t, uint64_t> loop_thread;  // loop -> thread id
  for (size_t i = 0; i < threads.size(); ++i) {
    const Running& r = running_[i];
    if (r.task == 0) continue;
    running[r.task] = i;
    loop_thread[r.loop] = threads[i].thread_id;
    out->loops.push_back({threads[i].thread_id, r.loop, r.task});
  }
  // 3.13+ keep each thread's running loop in its thread state, where C
  // tasks' asyncio puts it. 3.11 and 3.12 keep it in the thread state's
  // dict, and pure-Python asyncio in a threading.local; but every loop of
  // asyncio's own kinds runs in BaseEventLoop.run_forever, whose first
  // local is the loop: so the loops of threads between steps are known
  // too.
  const bool in_tstate = layout_.Has(Field::kTstateAsyncioRunningLoop);
  for (const PyThread& t : threads) {
    uint64_t loop = 0;
    if (in_tstate) {
      absl::StatusOr<uint64_t> l = ReadField<uint64_t>(
          *c_.memory, layout_, t.tstate, Field::kTstateAsyncioRunningLoop);
      if (l.ok()) loop = *l;
    }
    if (loop == 0) loop = RunForeverLoop(t);
    if (loop == 0 || loop_thread.contains(loop)) continue;
    loop_thread[loop] = t.thread_id;
    out->loops.push_back({t.thread_id, loop, 0});
  }
  absl::flat_hash_set<uint64_t> seen(addresses.begin(), addresses.end());
  // (Only C tasks, 3.11-3.13, read it; PrepareWeakSet checked it is there.)
  const int32_t loop_offset = layout_.Offset(Field::kTaskLoop).value_or(0);
  for (uint64_t address : addresses) {
    AsyncTask& task = out->tasks.emplace_back();
    task.status = ReadTask(address, &task);
    if (task.status.ok()) {
      uint64_t loop = 0;
      absl::Status loop_read = absl::OkStatus();
      if (containers_.pure_python) {
        absl::StatusOr<uint64_t> l = objects_->Attribute(address, "_loop");
        loop_read = l.status();
        if (l.ok()) loop = *l;
      } else {
        loop_read = c_.memory->Read(address + loop_offset, &loop, 8);
      }
      if (loop_read.ok()) {
        if (auto it = loop_thread.find(loop); it != loop_thread.end()) {
          task.thread_id = it->second;
        }
      }
      if (auto it = running.find(address); it != running.end()) {
        task.state = TaskState::kRunning;
        const std::vector<Frame>& stack = threads[it->second].frames;
        const auto k = static_cast<size_t>(running_[it->second].frame_index);
        task.frames.assign(stack.begin(), stack.begin() + k + 1);
      }
    }
    if (!task.status.ok()) {
      task.frames.clear();
      ++out->errors;
    }
  }
  KeepAwaitersRead(seen, out);
  return absl::OkStatus();
}

}  // namespace pystrobe
