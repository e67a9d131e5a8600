#include "dump_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe::integration {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Missing(absl::string_view what, absl::string_view key) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": key \"", key, "\" missing or of the wrong type"));
}

const Value* Find(const Struct& s, const std::string& key,
                  Value::KindCase kind) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || it->second.kind_case() != kind) return nullptr;
  return &it->second;
}

// JSON numbers arrive as doubles: exact for integers below 2^53, which thread
// ids (pthread_t addresses) and pids are.
absl::StatusOr<int64_t> GetInt(const Struct& s, const std::string& key,
                               absl::string_view what) {
  const Value* v = Find(s, key, Value::kNumberValue);
  if (v == nullptr) return Missing(what, key);
  double d = v->number_value();
  if (d != std::floor(d) || std::fabs(d) > 9007199254740992.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", key, "\" is not an exact integer: ", d));
  }
  return static_cast<int64_t>(d);
}

absl::StatusOr<std::string> GetString(const Struct& s, const std::string& key,
                                      absl::string_view what) {
  const Value* v = Find(s, key, Value::kStringValue);
  if (v == nullptr) return Missing(what, key);
  return v->string_value();
}

absl::StatusOr<bool> GetBool(const Struct& s, const std::string& key,
                             absl::string_view what) {
  const Value* v = Find(s, key, Value::kBoolValue);
  if (v == nullptr) return Missing(what, key);
  return v->bool_value();
}

absl::StatusOr<const ListValue*> GetList(const Struct& s,
                                         const std::string& key,
                                         absl::string_view what) {
  const Value* v = Find(s, key, Value::kListValue);
  if (v == nullptr) return Missing(what, key);
  return &v->list_value();
}

absl::StatusOr<const Struct*> GetStruct(const Value& v,
                                        absl::string_view what) {
  if (v.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not an object"));
  }
  return &v.struct_value();
}

absl::StatusOr<Struct> ParseObject(const std::string& json) {
  Struct root;
  auto status = google::protobuf::util::JsonStringToMessage(json, &root);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object: ", status.ToString()));
  }
  return root;
}

absl::StatusOr<std::vector<Frame>> ParseFrames(const ListValue& list,
                                               absl::string_view what) {
  std::vector<Frame> frames;
  for (int i = 0; i < list.values_size(); ++i) {
    std::string where = absl::StrCat(what, " frame ", i);
    PYSTROBE_ASSIGN_OR_RETURN(const Struct* f,
                              GetStruct(list.values(i), where));
    Frame frame;
    PYSTROBE_ASSIGN_OR_RETURN(frame.function, GetString(*f, "function", where));
    PYSTROBE_ASSIGN_OR_RETURN(frame.file, GetString(*f, "file", where));
    PYSTROBE_ASSIGN_OR_RETURN(frame.line, GetInt(*f, "line", where));
    if (f->fields().count("qualname")) {
      PYSTROBE_ASSIGN_OR_RETURN(frame.qualname,
                                GetString(*f, "qualname", where));
    }
    frames.push_back(std::move(frame));
  }
  return frames;
}

std::string FormatFrame(const Frame& f) {
  return absl::StrCat(f.function, f.qualname ? " [" + *f.qualname + "]" : "",
                      " (", f.file, ":", f.line, ")");
}

bool SameFrame(const Frame& a, const Frame& b, bool check_qualname) {
  return a.function == b.function && a.file == b.file && a.line == b.line &&
         (!check_qualname || a.qualname == b.qualname);
}

absl::StatusOr<std::vector<uint64_t>> ParseIds(const ListValue& list,
                                               absl::string_view what) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < list.values_size(); ++i) {
    const Value& v = list.values(i);
    if (v.kind_case() != Value::kNumberValue ||
        v.number_value() != std::floor(v.number_value()) ||
        v.number_value() < 0 || v.number_value() > 9007199254740992.0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": an id is not an exact integer"));
    }
    ids.push_back(static_cast<uint64_t>(v.number_value()));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

absl::StatusOr<std::vector<TaskDump>> ParseTasks(const ListValue& list,
                                                 bool awaited_by_required) {
  std::vector<TaskDump> tasks;
  for (int i = 0; i < list.values_size(); ++i) {
    std::string what = absl::StrCat("task ", i);
    PYSTROBE_ASSIGN_OR_RETURN(const Struct* t, GetStruct(list.values(i), what));
    TaskDump task;
    PYSTROBE_ASSIGN_OR_RETURN(int64_t id, GetInt(*t, "id", what));
    task.id = static_cast<uint64_t>(id);
    PYSTROBE_ASSIGN_OR_RETURN(task.name, GetString(*t, "name", what));
    PYSTROBE_ASSIGN_OR_RETURN(task.state, GetString(*t, "state", what));
    PYSTROBE_ASSIGN_OR_RETURN(const ListValue* frames,
                              GetList(*t, "frames", what));
    PYSTROBE_ASSIGN_OR_RETURN(task.frames, ParseFrames(*frames, what));
    if (const Value* by = Find(*t, "awaited_by", Value::kListValue)) {
      PYSTROBE_ASSIGN_OR_RETURN(task.awaited_by,
                                ParseIds(by->list_value(), what));
    } else if (awaited_by_required) {
      return Missing(what, "awaited_by");
    }
    if (const Value* e = Find(*t, "error", Value::kStringValue)) {
      task.error = e->string_value();
    }
    if (Find(*t, "thread_id", Value::kNumberValue) != nullptr) {
      PYSTROBE_ASSIGN_OR_RETURN(int64_t thread, GetInt(*t, "thread_id", what));
      task.thread_id = static_cast<uint64_t>(thread);
    }
    tasks.push_back(std::move(task));
  }
  return tasks;
}

// "loops": [{"loop", "thread_id"[, "native_id"]}] -> thread by loop id,
// and the native ids (when `native_ids` is given, each must be there).
absl::Status ParseLoops(const ListValue& loops,
                        std::map<uint64_t, uint64_t>* threads,
                        std::vector<int64_t>* native_ids) {
  for (int i = 0; i < loops.values_size(); ++i) {
    const std::string what = absl::StrCat("loop ", i);
    PYSTROBE_ASSIGN_OR_RETURN(const Struct* l,
                              GetStruct(loops.values(i), what));
    PYSTROBE_ASSIGN_OR_RETURN(int64_t loop, GetInt(*l, "loop", what));
    PYSTROBE_ASSIGN_OR_RETURN(int64_t thread, GetInt(*l, "thread_id", what));
    (*threads)[static_cast<uint64_t>(loop)] = static_cast<uint64_t>(thread);
    if (native_ids != nullptr) {
      PYSTROBE_ASSIGN_OR_RETURN(int64_t tid, GetInt(*l, "native_id", what));
      native_ids->push_back(tid);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AsyncDump> ParseAsyncDump(const std::string& json) {
  PYSTROBE_ASSIGN_OR_RETURN(Struct root, ParseObject(json));
  const Value* a = Find(root, "async", Value::kStructValue);
  if (a == nullptr) return Missing("dump", "async");
  const Struct& s = a->struct_value();
  AsyncDump dump;
  if (const Value* e = Find(s, "error", Value::kStringValue)) {
    dump.error = e->string_value();
    return dump;
  }
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* tasks,
                            GetList(s, "tasks", "async"));
  PYSTROBE_ASSIGN_OR_RETURN(dump.tasks, ParseTasks(*tasks, true));
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* cycles,
                            GetList(s, "cycles", "async"));
  for (int i = 0; i < cycles->values_size(); ++i) {
    if (cycles->values(i).kind_case() != Value::kListValue) {
      return absl::InvalidArgumentError("async: a cycle is not a list");
    }
    PYSTROBE_ASSIGN_OR_RETURN(
        std::vector<uint64_t> cycle,
        ParseIds(cycles->values(i).list_value(), "async cycle"));
    dump.cycles.push_back(std::move(cycle));
  }
  PYSTROBE_ASSIGN_OR_RETURN(dump.errors, GetInt(s, "errors", "async"));
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* loops,
                            GetList(s, "loops", "async"));
  PYSTROBE_RETURN_IF_ERROR(ParseLoops(*loops, &dump.loop_threads, nullptr));
  return dump;
}

absl::StatusOr<AsyncTruth> ParseAsyncTruth(const std::string& json) {
  PYSTROBE_ASSIGN_OR_RETURN(Struct root, ParseObject(json));
  AsyncTruth truth;
  PYSTROBE_ASSIGN_OR_RETURN(truth.pid, GetInt(root, "pid", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.python_version,
                            GetString(root, "python_version", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* tasks,
                            GetList(root, "tasks", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.tasks, ParseTasks(*tasks, false));
  if (const Value* loops = Find(root, "loops", Value::kListValue)) {
    PYSTROBE_RETURN_IF_ERROR(ParseLoops(
        loops->list_value(), &truth.loop_threads, &truth.loop_native_ids));
  }
  return truth;
}

absl::StatusOr<ProcessDump> ParseDump(const std::string& json) {
  PYSTROBE_ASSIGN_OR_RETURN(Struct root, ParseObject(json));
  ProcessDump dump;
  PYSTROBE_ASSIGN_OR_RETURN(dump.pid, GetInt(root, "pid", "dump"));
  PYSTROBE_ASSIGN_OR_RETURN(dump.python_version,
                            GetString(root, "python_version", "dump"));
  PYSTROBE_ASSIGN_OR_RETURN(dump.free_threaded,
                            GetBool(root, "free_threaded", "dump"));
  PYSTROBE_ASSIGN_OR_RETURN(dump.gil_enabled,
                            GetBool(root, "gil_enabled", "dump"));
  if (!dump.gil_enabled && !dump.free_threaded) {
    return absl::InvalidArgumentError(
        "dump: only a free-threaded build can run without its GIL");
  }
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* threads,
                            GetList(root, "threads", "dump"));
  for (int i = 0; i < threads->values_size(); ++i) {
    std::string what = absl::StrCat("thread ", i);
    PYSTROBE_ASSIGN_OR_RETURN(const Struct* t,
                              GetStruct(threads->values(i), what));
    ThreadDump thread;
    PYSTROBE_ASSIGN_OR_RETURN(int64_t thread_id, GetInt(*t, "thread_id", what));
    thread.thread_id = static_cast<uint64_t>(thread_id);
    PYSTROBE_ASSIGN_OR_RETURN(thread.native_id, GetInt(*t, "native_id", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.name, GetString(*t, "name", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.active, GetBool(*t, "active", what));
    // "gil" is a bool, or null exactly when the process runs without a GIL.
    if (dump.gil_enabled) {
      PYSTROBE_ASSIGN_OR_RETURN(thread.gil, GetBool(*t, "gil", what));
    } else if (Find(*t, "gil", Value::kNullValue) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": \"gil\" must be null without a GIL"));
    } else {
      thread.gil_null = true;
    }
    PYSTROBE_ASSIGN_OR_RETURN(const ListValue* frames,
                              GetList(*t, "frames", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.frames, ParseFrames(*frames, what));
    dump.threads.push_back(std::move(thread));
  }
  return dump;
}

absl::StatusOr<StacksTruth> ParseStacksTruth(const std::string& json) {
  PYSTROBE_ASSIGN_OR_RETURN(Struct root, ParseObject(json));
  StacksTruth truth;
  PYSTROBE_ASSIGN_OR_RETURN(truth.pid, GetInt(root, "pid", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.python_version,
                            GetString(root, "python_version", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.has_qualname,
                            GetBool(root, "has_qualname", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.free_threaded,
                            GetBool(root, "free_threaded", "truth"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.gil_enabled,
                            GetBool(root, "gil_enabled", "truth"));
  const Value* spin = Find(root, "spin", Value::kStructValue);
  if (spin == nullptr) return Missing("truth", "spin");
  const Struct& s = spin->struct_value();
  PYSTROBE_ASSIGN_OR_RETURN(truth.spin.function,
                            GetString(s, "function", "spin"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.spin.file, GetString(s, "file", "spin"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.spin.line, GetInt(s, "first_line", "spin"));
  PYSTROBE_ASSIGN_OR_RETURN(truth.spin_last_line,
                            GetInt(s, "last_line", "spin"));
  PYSTROBE_ASSIGN_OR_RETURN(const ListValue* threads,
                            GetList(root, "threads", "truth"));
  for (int i = 0; i < threads->values_size(); ++i) {
    std::string what = absl::StrCat("truth thread ", i);
    PYSTROBE_ASSIGN_OR_RETURN(const Struct* t,
                              GetStruct(threads->values(i), what));
    ThreadTruth thread;
    PYSTROBE_ASSIGN_OR_RETURN(thread.kind, GetString(*t, "kind", what));
    PYSTROBE_ASSIGN_OR_RETURN(int64_t thread_id, GetInt(*t, "thread_id", what));
    thread.thread_id = static_cast<uint64_t>(thread_id);
    PYSTROBE_ASSIGN_OR_RETURN(thread.native_id, GetInt(*t, "native_id", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.name, GetString(*t, "name", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.fd, GetInt(*t, "fd", what));
    PYSTROBE_ASSIGN_OR_RETURN(const ListValue* frames,
                              GetList(*t, "frames", what));
    PYSTROBE_ASSIGN_OR_RETURN(thread.frames, ParseFrames(*frames, what));
    truth.threads.push_back(std::move(thread));
  }
  return truth;
}

std::string FormatFrames(const std::vector<Frame>& frames) {
  std::string out;
  for (size_t i = 0; i < frames.size(); ++i) {
    absl::StrAppend(&out, "  #", i, " ", FormatFrame(frames[i]), "\n");
  }
  return out;
}

std::string DiffFrames(const std::vector<Frame>& expected,
                       const std::vector<Frame>& actual, bool check_qualname) {
  size_t common = std::min(expected.size(), actual.size());
  size_t first = 0;
  while (first < common &&
         SameFrame(expected[first], actual[first], check_qualname)) {
    ++first;
  }
  if (first == common && expected.size() == actual.size()) return "";
  std::string out = absl::StrCat(
      "stacks differ (innermost first): expected ", expected.size(),
      " frames, got ", actual.size(), "; first difference at #", first, "\n");
  // A window around the first difference; 250-frame stacks in full would
  // bury it.
  size_t from = first >= 3 ? first - 3 : 0;
  size_t to = std::min(std::max(expected.size(), actual.size()), first + 4);
  for (size_t i = from; i < to; ++i) {
    absl::StrAppend(
        &out, "  #", i, " expected: ",
        i < expected.size() ? FormatFrame(expected[i]) : "<none>", "\n  #", i,
        "   actual: ", i < actual.size() ? FormatFrame(actual[i]) : "<none>",
        "\n");
  }
  return out;
}

}  // namespace pystrobe::integration
