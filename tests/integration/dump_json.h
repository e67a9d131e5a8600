// The JSON that `pystrobe dump --json` prints and the truth files the
// workloads write, parsed into plain structs (through protobuf's JSON parser
// into google.protobuf.Struct, so the tests do not carry a JSON parser).
#ifndef PYSTROBE_TESTS_INTEGRATION_DUMP_JSON_H_
#define PYSTROBE_TESTS_INTEGRATION_DUMP_JSON_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pystrobe::integration {

struct Frame {
  std::string function;
  std::optional<std::string> qualname;
  std::string file;
  int64_t line = 0;
};

struct ThreadDump {
  uint64_t thread_id = 0;
  int64_t native_id = 0;
  std::string name;
  bool active = false;
  bool gil = false;
  // "gil": null, which a free-threaded build running without its GIL says
  // instead of false.
  bool gil_null = false;
  std::vector<Frame> frames;  // innermost first
};

struct ProcessDump {
  int64_t pid = 0;
  std::string python_version;
  bool free_threaded = false;
  bool gil_enabled = true;
  std::vector<ThreadDump> threads;
};

// Parses `pystrobe dump --json` output; any missing or mistyped key of the
// contract is an error (extra keys are allowed).
absl::StatusOr<ProcessDump> ParseDump(const std::string& json);

// What one workload thread reported about itself (tests/workloads/stacks.py).
struct ThreadTruth {
  std::string kind;  // "deep", "named", "spinner", "main", ...
  uint64_t thread_id = 0;
  int64_t native_id = 0;
  std::string name;
  int64_t fd = -1;            // the pipe it blocks reading
  std::vector<Frame> frames;  // outermost first, as extract_stack() lists
};

struct StacksTruth {
  int64_t pid = 0;
  std::string python_version;
  bool free_threaded = false;  // Py_GIL_DISABLED
  bool gil_enabled = true;     // sys._is_gil_enabled() (3.13+)
  bool has_qualname = false;
  Frame spin;  // the spinner's innermost function (line = first line)
  int64_t spin_last_line = 0;
  std::vector<ThreadTruth> threads;
};

absl::StatusOr<StacksTruth> ParseStacksTruth(const std::string& json);

// One asyncio task: in `dump --async --json` ("async" -> "tasks") and in
// the truth tests/workloads/async_tree.py writes ("tasks").
struct TaskDump {
  uint64_t id = 0;  // id(task) in the target
  std::string name;
  std::string state;          // "pending", "running", ...
  std::vector<Frame> frames;  // innermost first
  // Ids of the tasks awaiting it, sorted. nullopt in a truth that does not
  // claim to know (before 3.14).
  std::optional<std::vector<uint64_t>> awaited_by;
  std::string error;  // dump only: why the task could not be read
  // threading.get_ident() of the thread running its event loop (0: not
  // known, or not given).
  uint64_t thread_id = 0;
};

struct AsyncDump {
  // Set when the tasks could not be read at all ("async": {"error": ...}).
  std::string error;
  std::vector<TaskDump> tasks;
  std::vector<std::vector<uint64_t>> cycles;
  int64_t errors = 0;
  // "loops": the thread running each event loop, by loop id.
  std::map<uint64_t, uint64_t> loop_threads;
};

// The "async" object of `pystrobe dump --async --json`.
absl::StatusOr<AsyncDump> ParseAsyncDump(const std::string& json);

struct AsyncTruth {
  int64_t pid = 0;
  std::string python_version;
  std::vector<TaskDump> tasks;
  // Given by some workloads ("loops"): the thread running each event loop
  // by loop id, and those threads' native ids.
  std::map<uint64_t, uint64_t> loop_threads;
  std::vector<int64_t> loop_native_ids;
};

absl::StatusOr<AsyncTruth> ParseAsyncTruth(const std::string& json);

// One frame per line, "function [qualname] (file:line)".
std::string FormatFrames(const std::vector<Frame>& frames);

// Empty when equal; else where and how `actual` differs from `expected`
// (lengths, first differing index, and both stacks around it).
std::string DiffFrames(const std::vector<Frame>& expected,
                       const std::vector<Frame>& actual, bool check_qualname);

}  // namespace pystrobe::integration

#endif  // PYSTROBE_TESTS_INTEGRATION_DUMP_JSON_H_
