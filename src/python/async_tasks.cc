#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "async_task_reader.h"
#include "py_string.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"
#include "pystrobe/elf/elf_file.h"
#include "pystrobe/python/async_tasks.h"
#include "remote_struct.h"

namespace pystrobe {
namespace {

// fut_state (Modules/_asynciomodule.c, every version with a C Task).
constexpr int32_t kStatePending = 0;
constexpr int32_t kStateCancelled = 1;
constexpr int32_t kStateFinished = 2;

// _Py_AsyncioModuleDebugOffsets (Modules/_asynciomodule.c, 3.14+): three
// groups of uint64 words, each starting with its struct's size.
enum AsyncioWord : int {
  kTaskSize,
  kTaskNameWord,
  kTaskAwaitedByWord,
  kTaskIsTaskWord,
  kTaskAwaitedByIsSetWord,
  kTaskCoroWord,
  kTaskNodeWord,
  kInterpSize,
  kInterpTasksHead,
  kTstateSize,
  kTstateRunningLoop,
  kTstateRunningTask,
  kTstateTasksHead,
  kAsyncioWordCount,
};

// Largest plausible sizes, to reject a garbage section.
constexpr uint64_t kMaxTaskSize = 1024;
constexpr uint64_t kMaxTstateSize = 1 << 16;
constexpr uint64_t kMaxInterpSize = 1 << 22;

// gi_frame_state values meaning "suspended inside `await`/`yield from`"
// (enum _framestate, Include/internal/pycore_frame.h). The numbering
// changed between 3.14 (CREATED -3, SUSPENDED -2, SUSPENDED_YIELD_FROM -1,
// EXECUTING 0, COMPLETED 1, CLEARED 4) and 3.15 (CREATED 0, SUSPENDED 1,
// SUSPENDED_YIELD_FROM 2, SUSPENDED_YIELD_FROM_LOCKED 3, EXECUTING 4,
// CLEARED 5): a coroutine's awaited object sits on its frame's stack top
// only in those states.
bool SuspendedInAwait(const PythonVersion& v, int8_t state) {
  if (v.AtLeast(3, 15)) return state == 2 || state == 3;
  return state == -1;
}
// The frame has finished: no frame to read.
bool Finished(const PythonVersion& v, int8_t state) {
  if (v.AtLeast(3, 15)) return state == 5;
  return state >= 1;
}

absl::Status Unsupported(std::string_view why) {
  return absl::UnimplementedError(
      absl::StrCat("asyncio tasks: ", std::string(why)));
}

}  // namespace

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kPending:
      return "pending";
    case TaskState::kRunning:
      return "running";
    case TaskState::kDone:
      return "done";
    case TaskState::kCancelled:
      return "cancelled";
  }
  return "pending";
}

std::vector<std::vector<uint64_t>> FindAwaitCycles(
    const AsyncSnapshot& snapshot) {
  // Edges task -> its awaiters. Iterative DFS with colours; a back edge
  // closes a cycle, read off the path.
  absl::flat_hash_map<uint64_t, const AsyncTask*> by_address;
  for (const AsyncTask& t : snapshot.tasks) by_address[t.address] = &t;
  absl::flat_hash_map<uint64_t, int> colour;  // 1 on the path, 2 done
  absl::flat_hash_set<std::string> found;
  std::vector<std::vector<uint64_t>> cycles;
  for (const AsyncTask& start : snapshot.tasks) {
    if (colour[start.address] != 0) continue;
    std::vector<std::pair<uint64_t, size_t>> path = {{start.address, 0}};
    colour[start.address] = 1;
    while (!path.empty()) {
      auto& [node, next] = path.back();
      const AsyncTask* t = by_address[node];
      if (next >= t->awaited_by.size()) {
        colour[node] = 2;
        path.pop_back();
        continue;
      }
      const uint64_t to = t->awaited_by[next++];
      if (!by_address.contains(to)) continue;
      int& c = colour[to];
      if (c == 0) {
        c = 1;
        path.push_back({to, 0});
      } else if (c == 1) {
        std::vector<uint64_t> cycle;
        size_t i = path.size();
        while (i > 0 && path[i - 1].first != to) --i;
        for (size_t j = i - 1; j < path.size(); ++j) {
          cycle.push_back(path[j].first);
        }
        std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()),
                    cycle.end());
        std::string key;
        for (uint64_t a : cycle) absl::StrAppend(&key, a, ",");
        if (found.insert(key).second) cycles.push_back(std::move(cycle));
      }
    }
  }
  return cycles;
}

bool IsUnsupportedAsync(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnimplemented;
}

absl::Status AsyncTaskReader::Prepare(const std::vector<PyThread>& threads) {
  if (prepared_) return absl::OkStatus();
  const absl::Time now = absl::Now();
  if (now < retry_at_) return last_failure_;
  absl::Status status = FindModule(threads);
  if (!status.ok()) {
    last_failure_ = status;
    retry_at_ = now + absl::Seconds(1);
  }
  return status;
}

absl::Status AsyncTaskReader::FindModule(const std::vector<PyThread>& threads) {
  const PythonVersion& v = *c_.version;
  if (!v.AtLeast(3, 14)) {
    // 3.11-3.13 keep tasks only in asyncio.tasks' WeakSets, reachable
    // through sys.modules and dicts (docs/asyncio.md).
    return PrepareWeakSet();
  }
  // Pure-Python tasks (no _asyncio) are in none of the C module's lists,
  // and Debian's 3.15 maps .AsyncioDebug (built into the interpreter) even
  // then: asyncio.tasks.Task says which kind of task the target makes.
  PYSTROBE_ASSIGN_OR_RETURN(bool python_tasks, PreparePythonTasks314(threads));
  if (python_tasks) return absl::OkStatus();
  for (Field f :
       {Field::kGenIframe, Field::kGenFrameState, Field::kIframeStackpointer,
        Field::kIframeLocalsplus, Field::kTypeName, Field::kTstateInterp}) {
    if (!c_.layout->Has(f)) {
      return Unsupported(absl::StrCat("the interpreter's debug offsets lack ",
                                      std::string(FieldName(f))));
    }
  }
  absl::StatusOr<std::vector<MemoryMapping>> maps = c_.proc->ReadMaps(c_.pid);
  if (!maps.ok()) return maps.status();
  // The module's own file (lib-dynload/_asyncio.cpython-314-*.so), or the
  // interpreter when it has _asyncio built in (Debian's 3.15).
  absl::flat_hash_set<std::string> tried;
  std::optional<uint64_t> section_address;
  for (const MemoryMapping& m : *maps) {
    if (m.path.empty() || m.path[0] != '/' || !tried.insert(m.path).second) {
      continue;
    }
    const std::string base = m.path.substr(m.path.rfind('/') + 1);
    if (!absl::StartsWith(base, "_asyncio.") &&
        !absl::StartsWith(base, "python") &&
        !absl::StartsWith(base, "libpython")) {
      continue;
    }
    const MemoryMapping* first = &m;
    for (const MemoryMapping& o : *maps) {
      if (o.path == m.path && o.offset < first->offset) first = &o;
    }
    absl::StatusOr<ElfFile> elf = OpenMappedElf(*c_.proc, c_.pid, *first);
    if (!elf.ok()) continue;
    std::optional<ElfSection> section = elf->FindSection(".AsyncioDebug");
    if (!section) continue;
    absl::StatusOr<uint64_t> bias = elf->LoadBias(*maps, m.path);
    if (!bias.ok()) continue;
    section_address = section->address + *bias;
    break;
  }
  if (!section_address) {
    return Unsupported(absl::StrFormat(
        "process %d has not imported asyncio's C module _asyncio (no "
        ".AsyncioDebug section is mapped)",
        c_.pid));
  }
  uint64_t w[kAsyncioWordCount];
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(*section_address, w, sizeof(w)));
  auto inside = [](uint64_t offset, uint64_t width, uint64_t size) {
    return offset <= size && width <= size - offset;
  };
  if (w[kTaskSize] == 0 || w[kTaskSize] > kMaxTaskSize || w[kTstateSize] == 0 ||
      w[kTstateSize] > kMaxTstateSize || w[kInterpSize] == 0 ||
      w[kInterpSize] > kMaxInterpSize ||
      !inside(w[kTaskNameWord], 8, w[kTaskSize]) ||
      !inside(w[kTaskAwaitedByWord], 8, w[kTaskSize]) ||
      !inside(w[kTaskIsTaskWord], 1, w[kTaskSize]) ||
      !inside(w[kTaskAwaitedByIsSetWord], 1, w[kTaskSize]) ||
      !inside(w[kTaskCoroWord], 8, w[kTaskSize]) ||
      !inside(w[kTaskNodeWord], 16, w[kTaskSize]) ||
      !inside(w[kInterpTasksHead], 16, w[kInterpSize]) ||
      !inside(w[kTstateRunningLoop], 8, w[kTstateSize]) ||
      !inside(w[kTstateRunningTask], 8, w[kTstateSize]) ||
      !inside(w[kTstateTasksHead], 16, w[kTstateSize])) {
    return Unsupported(
        "the target's _Py_AsyncioModuleDebugOffsets do not validate");
  }
  layout_ = *c_.layout;
  // task_state is not in the module's offsets: the generated table has it
  // from the build's debug information, trusted only where the table and
  // the module agree on the members both give.
  const bool table_agrees =
      layout_.Offset(Field::kTaskCoro) ==
          static_cast<int32_t>(w[kTaskCoroWord]) &&
      layout_.Offset(Field::kTaskName) ==
          static_cast<int32_t>(w[kTaskNameWord]) &&
      layout_.Offset(Field::kSizeofTask) == static_cast<int32_t>(w[kTaskSize]);
  if (!table_agrees) layout_.Set(Field::kTaskState, -1);
  layout_.Set(Field::kSizeofTask, static_cast<int32_t>(w[kTaskSize]));
  layout_.Set(Field::kTaskName, static_cast<int32_t>(w[kTaskNameWord]));
  layout_.Set(Field::kTaskAwaitedBy,
              static_cast<int32_t>(w[kTaskAwaitedByWord]));
  layout_.Set(Field::kTaskIsTask, static_cast<int32_t>(w[kTaskIsTaskWord]));
  layout_.Set(Field::kTaskAwaitedByIsSet,
              static_cast<int32_t>(w[kTaskAwaitedByIsSetWord]));
  layout_.Set(Field::kTaskCoro, static_cast<int32_t>(w[kTaskCoroWord]));
  layout_.Set(Field::kTaskNode, static_cast<int32_t>(w[kTaskNodeWord]));
  layout_.Set(Field::kInterpAsyncioTasksHead,
              static_cast<int32_t>(w[kInterpTasksHead]));
  layout_.Set(Field::kTstateAsyncioRunningLoop,
              static_cast<int32_t>(w[kTstateRunningLoop]));
  layout_.Set(Field::kTstateAsyncioRunningTask,
              static_cast<int32_t>(w[kTstateRunningTask]));
  layout_.Set(Field::kTstateAsyncioTasksHead,
              static_cast<int32_t>(w[kTstateTasksHead]));
  prepared_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> AsyncTaskReader::ListTasks(
    uint64_t head) {
  // struct llist_node {next, prev} (Include/internal/pycore_llist.h): a
  // circular list through each task's task_node, whose head is embedded in
  // the thread (or interpreter) state.
  const uint64_t node_offset = *layout_.Offset(Field::kTaskNode);
  std::vector<uint64_t> tasks;
  absl::flat_hash_set<uint64_t> seen;
  uint64_t node = 0;
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(head, &node, sizeof(node)));
  while (node != head) {
    if (node == 0 || node < node_offset) {
      return InconsistentError("asyncio task list holds a null node (torn)");
    }
    if (tasks.size() >= static_cast<size_t>(kMaxTasks)) {
      return InconsistentError("asyncio task list longer than the bound");
    }
    if (!seen.insert(node).second) {
      return InconsistentError("asyncio task list loops (torn)");
    }
    tasks.push_back(node - node_offset);
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(node, &node, sizeof(node)));
  }
  return tasks;
}

absl::StatusOr<std::string> AsyncTaskReader::TypeName(uint64_t object) {
  if (object == 0) return InconsistentError("null object");
  uint64_t type = 0;
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
      object + *layout_.Offset(Field::kObType), &type, sizeof(type)));
  if (type == 0) return InconsistentError("object without a type");
  if (auto it = type_names_.find(type); it != type_names_.end()) {
    return it->second;
  }
  uint64_t name_address = 0;
  PYSTROBE_RETURN_IF_ERROR(
      c_.memory->Read(type + *layout_.Offset(Field::kTypeName), &name_address,
                      sizeof(name_address)));
  char buffer[128];
  // tp_name is a C string; read up to 127 bytes, or fewer at a page end.
  size_t length = sizeof(buffer) - 1;
  const uint64_t page_left = 4096 - (name_address & 4095);
  if (page_left < length) length = page_left;
  PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(name_address, buffer, length));
  buffer[length] = '\0';
  std::string name(buffer, strnlen(buffer, length));
  if (type_names_.size() < 4096) type_names_.emplace(type, name);
  return name;
}

absl::StatusOr<std::string> AsyncTaskReader::ReadName(uint64_t object) {
  PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(object));
  if (type == "str") {
    return ReadPyString(*c_.memory, layout_, *c_.version, object);
  }
  if (type == "int" && layout_.Has(Field::kLongLvTag)) {
    // 3.14 names an unnamed task lazily: task_name holds the counter N of
    // "Task-N" (PyLongObject: lv_tag = ndigits << 3 | sign, 30-bit digits).
    PYSTROBE_ASSIGN_OR_RETURN(
        uint64_t tag,
        ReadField<uint64_t>(*c_.memory, layout_, object, Field::kLongLvTag));
    const uint64_t digits = tag >> 3;
    if ((tag & 3) != 0 || digits > 2) {
      return InconsistentError("task name counter out of range");
    }
    uint32_t d[2] = {0, 0};
    PYSTROBE_RETURN_IF_ERROR(c_.memory->Read(
        object + *layout_.Offset(Field::kLongDigit), d, 4 * digits));
    const uint64_t value = d[0] | (static_cast<uint64_t>(d[1]) << 30);
    return absl::StrCat("Task-", value);
  }
  return InconsistentError(absl::StrCat("task name is a ", type));
}

absl::Status AsyncTaskReader::ReadAwaitedBy(uint64_t object, bool is_set,
                                            std::vector<uint64_t>* out) {
  out->clear();
  if (object == 0) return absl::OkStatus();
  if (!is_set) {
    out->push_back(object);
    return absl::OkStatus();
  }
  PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(object));
  if (type != "set") {
    return InconsistentError(absl::StrCat("task_awaited_by is a ", type));
  }
  if (!layout_.Has(Field::kSetMask) || !layout_.Has(Field::kSetTable)) {
    return absl::FailedPreconditionError("no set layout");
  }
  PYSTROBE_ASSIGN_OR_RETURN(
      int64_t mask,
      ReadField<int64_t>(*c_.memory, layout_, object, Field::kSetMask));
  PYSTROBE_ASSIGN_OR_RETURN(
      uint64_t table,
      ReadField<uint64_t>(*c_.memory, layout_, object, Field::kSetTable));
  if (mask < 0 || mask >= kMaxAwaitedBy || ((mask + 1) & mask) != 0) {
    return InconsistentError("task_awaited_by set of implausible size");
  }
  // setentry {PyObject *key; Py_hash_t hash;} (Include/cpython/setobject.h);
  // empty slots hold NULL, deleted ones the dummy key, which is no task and
  // so is dropped by the caller with anything else that is not a task.
  std::vector<uint64_t> entries(2 * static_cast<size_t>(mask + 1));
  PYSTROBE_RETURN_IF_ERROR(
      c_.memory->Read(table, entries.data(), 8 * entries.size()));
  for (size_t i = 0; i < entries.size(); i += 2) {
    if (entries[i] != 0) out->push_back(entries[i]);
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::ReadChain(uint64_t coro,
                                        std::vector<Frame>* frames) {
  // Outermost first while walking (the task's coroutine, then what it
  // awaits), reversed at the end.
  frames->clear();
  const int32_t gi_iframe = *layout_.Offset(Field::kGenIframe);
  const int32_t gi_state = *layout_.Offset(Field::kGenFrameState);
  const int32_t stackpointer =
      layout_.Offset(Field::kIframeStackpointer).value_or(-1);
  const int32_t localsplus = *layout_.Offset(Field::kIframeLocalsplus);
  absl::flat_hash_set<uint64_t> seen;
  for (int depth = 0; coro != 0; ++depth) {
    if (depth >= kMaxChain || !seen.insert(coro).second) {
      return InconsistentError("coroutine chain loops or is too deep");
    }
    PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(coro));
    // Coroutines (async def) and generator-based ones (@types.coroutine,
    // asyncio.sleep(0)'s __sleep0) share PyGenObject's layout. Anything
    // else (a Future's iterator, a C awaitable) ends the chain.
    if (type != "coroutine" && type != "generator") break;
    int8_t state = 0;
    PYSTROBE_RETURN_IF_ERROR(
        c_.memory->Read(coro + gi_state, &state, sizeof(state)));
    if (Finished(*c_.version, state)) break;
    const uint64_t frame = coro + static_cast<uint64_t>(gi_iframe);
    PYSTROBE_RETURN_IF_ERROR(
        c_.walker->ReadOneFrame(*c_.memory, frame, frames));
    if (!c_.version->AtLeast(3, 14)) {
      PYSTROBE_ASSIGN_OR_RETURN(coro, AwaitedBefore314(frame, state));
      continue;
    }
    if (!SuspendedInAwait(*c_.version, state)) break;
    uint64_t sp = 0;
    PYSTROBE_RETURN_IF_ERROR(
        c_.memory->Read(frame + stackpointer, &sp, sizeof(sp)));
    // The value stack lies in the frame's localsplus, after the locals,
    // inside the coroutine object. The awaited object (_PyGen_yf) is its
    // top on 3.14, and the slot below the top on 3.15, whose SEND leaves a
    // NULL-tagged value above it.
    const uint64_t top = c_.version->AtLeast(3, 15) ? 16 : 8;
    if (sp < frame + static_cast<uint64_t>(localsplus) + top ||
        sp - frame > (uint64_t{1} << 20)) {
      return InconsistentError("suspended coroutine's stack pointer is wild");
    }
    uint64_t awaited = 0;
    PYSTROBE_RETURN_IF_ERROR(
        c_.memory->Read(sp - top, &awaited, sizeof(awaited)));
    coro = awaited & ~kStackRefTagBits;
  }
  std::reverse(frames->begin(), frames->end());
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::ReadTask(uint64_t address, AsyncTask* task,
                                       bool with_chain) {
  task->address = address;
  if (weak_set_ && containers_.pure_python) {
    return ReadPythonTask(address, task, with_chain);
  }
  RemoteStruct s;
  PYSTROBE_RETURN_IF_ERROR(
      s.Load(*c_.memory, layout_, address, Field::kSizeofTask));
  if (weak_set_) {
    PYSTROBE_ASSIGN_OR_RETURN(bool is_task, IsTask(address));
    if (!is_task) return InconsistentError("listed task is not a Task");
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(uint8_t is_task,
                              s.Get<uint8_t>(layout_, Field::kTaskIsTask));
    if (is_task != 1) return InconsistentError("listed task is not a Task");
  }
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t name,
                            s.Get<uint64_t>(layout_, Field::kTaskName));
  PYSTROBE_ASSIGN_OR_RETURN(task->name, ReadName(name));
  if (layout_.Has(Field::kTaskState)) {
    PYSTROBE_ASSIGN_OR_RETURN(int32_t state,
                              s.Get<int32_t>(layout_, Field::kTaskState));
    switch (state) {
      case kStatePending:
        task->state = TaskState::kPending;
        break;
      case kStateCancelled:
        task->state = TaskState::kCancelled;
        break;
      case kStateFinished:
        task->state = TaskState::kDone;
        break;
      default:
        return InconsistentError(absl::StrCat("task state ", state));
    }
  }
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t coro,
                            s.Get<uint64_t>(layout_, Field::kTaskCoro));
  if (weak_set_) {
    // No task_awaited_by before 3.14: the awaiters registered callbacks.
    task->awaited_by.clear();
    PYSTROBE_RETURN_IF_ERROR(CallbackAwaiters(address, 0, &task->awaited_by));
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t awaited_by,
                              s.Get<uint64_t>(layout_, Field::kTaskAwaitedBy));
    PYSTROBE_ASSIGN_OR_RETURN(
        uint8_t is_set, s.Get<uint8_t>(layout_, Field::kTaskAwaitedByIsSet));
    PYSTROBE_RETURN_IF_ERROR(
        ReadAwaitedBy(awaited_by, is_set != 0, &task->awaited_by));
  }
  task->frames.clear();
  if (with_chain && task->state == TaskState::kPending) {
    PYSTROBE_RETURN_IF_ERROR(ReadChain(coro, &task->frames));
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::Read(const std::vector<PyThread>& threads,
                                   AsyncSnapshot* out) {
  out->tasks.clear();
  out->loops.clear();
  out->errors = 0;
  PYSTROBE_RETURN_IF_ERROR(Prepare(threads));
  if (weak_set_) return ReadWeakSetTasks(threads, out);
  struct Source {
    uint64_t head;
    uint64_t thread_id;
  };
  std::vector<Source> sources;
  absl::flat_hash_map<uint64_t, const PyThread*> running;  // task -> thread
  absl::flat_hash_set<uint64_t> interps;
  for (const PyThread& t : threads) {
    sources.push_back(
        {t.tstate + *layout_.Offset(Field::kTstateAsyncioTasksHead),
         t.thread_id});
    AsyncSnapshot::Loop loop;
    loop.thread_id = t.thread_id;
    PYSTROBE_ASSIGN_OR_RETURN(
        loop.loop, ReadField<uint64_t>(*c_.memory, layout_, t.tstate,
                                       Field::kTstateAsyncioRunningLoop));
    PYSTROBE_ASSIGN_OR_RETURN(
        loop.running_task,
        ReadField<uint64_t>(*c_.memory, layout_, t.tstate,
                            Field::kTstateAsyncioRunningTask));
    if (loop.loop != 0) out->loops.push_back(loop);
    if (loop.running_task != 0) running[loop.running_task] = &t;
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t interp,
                              ReadField<uint64_t>(*c_.memory, layout_, t.tstate,
                                                  Field::kTstateInterp));
    interps.insert(interp);
  }
  // Tasks whose thread exited move to their interpreter's list.
  for (uint64_t interp : interps) {
    sources.push_back(
        {interp + *layout_.Offset(Field::kInterpAsyncioTasksHead), 0});
  }
  absl::flat_hash_set<uint64_t> seen;
  for (const Source& source : sources) {
    absl::StatusOr<std::vector<uint64_t>> list = ListTasks(source.head);
    if (!list.ok()) {
      ++out->errors;
      continue;
    }
    for (uint64_t address : *list) {
      if (!seen.insert(address).second) continue;
      AsyncTask& task = out->tasks.emplace_back();
      task.thread_id = source.thread_id;
      task.status = ReadTask(address, &task);
      if (task.status.ok()) {
        if (auto it = running.find(address); it != running.end()) {
          // The running task's coroutines are on its thread's stack, from
          // the innermost frame down to the coroutine's own frame.
          task.state = TaskState::kRunning;
          uint64_t coro = 0;
          task.status = c_.memory->Read(
              address + *layout_.Offset(Field::kTaskCoro), &coro, 8);
          const uint64_t frame =
              coro + static_cast<uint64_t>(*layout_.Offset(Field::kGenIframe));
          const std::vector<Frame>& stack = it->second->frames;
          task.frames.clear();
          size_t i = 0;
          while (i < stack.size() && stack[i].address != frame) ++i;
          if (i == stack.size()) {
            task.status = InconsistentError(
                "running task's coroutine is not on its thread's stack");
          } else {
            task.frames.assign(stack.begin(), stack.begin() + i + 1);
          }
        }
      }
      if (!task.status.ok()) {
        task.frames.clear();
        ++out->errors;
      }
    }
  }
  KeepAwaitersRead(seen, out);
  return absl::OkStatus();
}

void AsyncTaskReader::KeepAwaitersRead(
    const absl::flat_hash_set<uint64_t>& read, AsyncSnapshot* out) {
  for (AsyncTask& task : out->tasks) {
    task.awaited_by.erase(
        std::remove_if(task.awaited_by.begin(), task.awaited_by.end(),
                       [&](uint64_t a) { return !read.contains(a); }),
        task.awaited_by.end());
  }
}

absl::Status AsyncTaskReader::RunningTasks(const std::vector<PyThread>& threads,
                                           std::vector<Running>* running) {
  running->assign(threads.size(), Running());
  const uint64_t gi_iframe =
      static_cast<uint64_t>(*layout_.Offset(Field::kGenIframe));
  const int32_t coro_offset = *layout_.Offset(Field::kTaskCoro);
  // The running task's coroutine frame is on its thread's stack, from the
  // innermost frame down.
  auto find = [&](const PyThread& t, uint64_t task) -> long {
    uint64_t coro = 0;
    if (weak_set_) {
      absl::StatusOr<uint64_t> c = TaskCoro(task);
      if (!c.ok()) return -1;
      coro = *c;
    } else if (!c_.memory->Read(task + coro_offset, &coro, 8).ok()) {
      return -1;
    }
    const uint64_t frame = coro + gi_iframe;
    for (size_t k = 0; k < t.frames.size(); ++k) {
      if (t.frames[k].address == frame) return static_cast<long>(k);
    }
    return -1;  // between steps, or torn
  };
  if (!weak_set_) {
    const int32_t running_offset =
        *layout_.Offset(Field::kTstateAsyncioRunningTask);
    for (size_t i = 0; i < threads.size(); ++i) {
      const PyThread& t = threads[i];
      if (!t.status.ok() || t.frames.empty()) continue;
      uint64_t task = 0;
      if (!c_.memory->Read(t.tstate + running_offset, &task, 8).ok() ||
          task == 0) {
        continue;
      }
      const long k = find(t, task);
      if (k >= 0) (*running)[i] = {task, 0, k};
    }
    return absl::OkStatus();
  }
  // 3.11-3.13: asyncio's _current_tasks maps each loop running a step to
  // its task; the thread is the one whose stack holds that task's
  // coroutine frame.
  PYSTROBE_RETURN_IF_ERROR(
      objects_->DictItems(containers_.current, kMaxTasks, &current_items_));
  for (const auto& [loop, task] : current_items_) {
    absl::StatusOr<bool> is_task = IsTask(task);
    if (!is_task.ok() || !*is_task) continue;
    for (size_t i = 0; i < threads.size(); ++i) {
      const PyThread& t = threads[i];
      if (!t.status.ok() || t.frames.empty()) continue;
      const long k = find(t, task);
      if (k >= 0) {
        (*running)[i] = {task, loop, k};
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AsyncTaskReader::ApplyTaskStacks(
    std::vector<PyThread>* threads, std::vector<std::string>* task_names) {
  task_names->assign(threads->size(), std::string());
  PYSTROBE_RETURN_IF_ERROR(Prepare(*threads));
  // Containers not found (asyncio not imported yet, or not readable):
  // the threads keep their stacks, and one line says why.
  if (weak_set_) PYSTROBE_RETURN_IF_ERROR(FindTaskContainers(*threads));
  absl::Status found = RunningTasks(*threads, &running_);
  if (!found.ok()) {
    if (!IsInconsistent(found) && !IsMemoryGone(found)) return found;
    // asyncio's record of the running tasks (_current_tasks) tore while
    // read: no thread's task is known at this look, so none is written
    // without it (the sampler reads again).
    for (PyThread& t : *threads) {
      if (t.status.ok() && !t.frames.empty()) MarkTaskTorn(t, found);
    }
    return absl::OkStatus();
  }
  for (size_t i = 0; i < threads->size(); ++i) {
    PyThread& t = (*threads)[i];
    const uint64_t running = running_[i].task;
    if (running == 0) {
      if (StillRunsLastTask(t)) {
        MarkTaskTorn(
            t, InconsistentError("its task's coroutine is on its stack, but no "
                                 "running task was read"));
      }
      continue;
    }
    const size_t k = static_cast<size_t>(running_[i].frame_index);
    RememberRunning(t, k);
    absl::Status read = ReadTask(running, &scratch_, false);
    if (!read.ok()) {
      MarkTaskTorn(t, read);
      continue;
    }
    (*task_names)[i] = scratch_.name;
    // The running task's frames, then its awaiters' chains, then the
    // event loop below it. The first awaiter is followed where there are
    // several (a task awaited by more than one other).
    logical_.assign(t.frames.begin(), t.frames.begin() + k + 1);
    chain_seen_.assign(1, running);
    for (int hop = 0; read.ok() && !scratch_.awaited_by.empty(); ++hop) {
      const uint64_t awaiter = scratch_.awaited_by.front();
      if (hop >= kMaxChain || absl::c_linear_search(chain_seen_, awaiter)) {
        break;  // a ring
      }
      chain_seen_.push_back(awaiter);
      read = ReadTask(awaiter, &scratch_, true);
      logical_.insert(logical_.end(), scratch_.frames.begin(),
                      scratch_.frames.end());
    }
    if (!read.ok()) {
      // The chain could not be read whole: an error, never a partial path
      // or the thread's stack without its task.
      (*task_names)[i].clear();
      MarkTaskTorn(t, read);
      continue;
    }
    logical_.insert(logical_.end(), t.frames.begin() + k + 1, t.frames.end());
    t.frames.swap(logical_);
  }
  return absl::OkStatus();
}

void AsyncTaskReader::MarkTaskTorn(PyThread& t, const absl::Status& why) {
  t.status = TaskTornError(
      absl::StrCat("thread ", t.thread_id,
                   ": its asyncio task was not read whole: ", why.message()));
  t.frames.clear();
}

void AsyncTaskReader::RememberRunning(const PyThread& t, size_t frame_index) {
  const Frame& f = t.frames[frame_index];
  for (LastRunning& last : last_running_) {
    if (last.tstate == t.tstate) {
      last = {t.tstate, f.address, f.code.get()};
      return;
    }
  }
  // Bounded by the threads that ever ran a task; a thread state freed and
  // reused keeps its slot.
  if (last_running_.size() < 4096) {
    last_running_.push_back({t.tstate, f.address, f.code.get()});
  }
}

bool AsyncTaskReader::StillRunsLastTask(const PyThread& t) const {
  if (!t.status.ok() || t.frames.empty()) return false;
  for (const LastRunning& last : last_running_) {
    if (last.tstate != t.tstate) continue;
    // The coroutine frame of the task it ran at the last look, running the
    // same code: that task is still in its step. (A task's coroutine frame
    // is on its thread's stack only between entering and leaving the task,
    // so asyncio's record must name it.)
    for (const Frame& f : t.frames) {
      if (f.address == last.frame && f.code.get() == last.code) return true;
    }
    return false;
  }
  return false;
}

}  // namespace pystrobe
