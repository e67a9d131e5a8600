// Reading a few kinds of Python objects of the target: dicts (and instance
// attributes, whatever form the version keeps them in), sets, weak
// references, tuples, lists, cells, modules, and the names of types.
//
// asyncio's tasks before 3.14 are only reachable this way (sys.modules ->
// asyncio.tasks' dict -> a WeakSet's `data` set -> weak references -> tasks;
// a task's awaiters through its done-callbacks). Everything read is the
// target's data and may be torn by the running target: every object is
// type-checked by name before it is read as that type, every length is
// capped (a bigger container is an error, never a big allocation), and a
// failed check is an InconsistentError, never a guess.
//
//   RemoteObjects objects(&memory, &layout, &version);
//   ASSIGN_OR_RETURN(uint64_t data, objects.Attribute(weak_set, "data"));
//   std::vector<uint64_t> refs;
//   RETURN_IF_ERROR(objects.SetItems(data, 1 << 20, &refs));
//
// CPython 3.11 to 3.13 (the table's fields for these objects come from
// their headers, tools/layouts/probe.c).
#ifndef PYSTROBE_SRC_PYTHON_REMOTE_OBJECTS_H_
#define PYSTROBE_SRC_PYTHON_REMOTE_OBJECTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pystrobe/process/remote_memory.h"
#include "pystrobe/python/layout.h"
#include "pystrobe/python/version.h"

namespace pystrobe {

class RemoteObjects {
 public:
  // Containers bigger than this are refused (sys.modules of a large
  // service holds a few thousand entries).
  static constexpr int64_t kMaxItems = 1 << 20;

  // The fields this reader needs; false when the layout lacks one.
  static bool Supports(const Layout& layout);

  RemoteObjects(RemoteMemory* memory, const Layout* layout,
                const PythonVersion* version)
      : memory_(memory), layout_(layout), version_(version) {}

  // The type object of `object` (non-zero).
  absl::StatusOr<uint64_t> TypeOf(uint64_t object);
  // tp_name of the type of `object` ("dict", "_asyncio.Task", ...).
  absl::StatusOr<std::string> TypeName(uint64_t object);
  // tp_name of the type object `type` (cached by address: types live as
  // long as the process, or are not looked up again once gone).
  absl::StatusOr<std::string> NameOfType(uint64_t type);
  // True when the type of `object` is `name` or derives from it (tp_base
  // chain, bounded).
  absl::StatusOr<bool> IsInstance(uint64_t object, std::string_view name);
  // True when the type of `object` is the type object `type` or derives
  // from it.
  absl::StatusOr<bool> IsInstanceOfType(uint64_t object, uint64_t type);

  // A str object, as UTF-8 (type-checked).
  absl::StatusOr<std::string> Str(uint64_t object);
  // A C string in the target (a method's name), at most 127 bytes.
  absl::StatusOr<std::string> CString(uint64_t address);

  // The (key, value) pairs of the dict `dict`, in insertion order. At most
  // `max` of them; a bigger dict is an error.
  absl::Status DictItems(uint64_t dict, int64_t max,
                         std::vector<std::pair<uint64_t, uint64_t>>* out);
  // The value of the dict's str key `key`; 0 when absent.
  absl::StatusOr<uint64_t> DictGet(uint64_t dict, std::string_view key,
                                   int64_t max = kMaxItems);
  // The instance attribute `name` of `object` (its __dict__, in the form the
  // version keeps it: a managed dict, values beside the object, inline
  // values); 0 when absent.
  absl::StatusOr<uint64_t> Attribute(uint64_t object, std::string_view name);
  // The keys of the set (or frozenset) `set`, at most `max`.
  absl::Status SetItems(uint64_t set, int64_t max, std::vector<uint64_t>* out);
  // The object a weak reference refers to; 0 when it is dead.
  absl::StatusOr<uint64_t> WeakrefTarget(uint64_t ref);
  // The items of a tuple or a list, at most `max`.
  absl::Status SequenceItems(uint64_t sequence, int64_t max,
                             std::vector<uint64_t>* out);
  // A module's dict.
  absl::StatusOr<uint64_t> ModuleDict(uint64_t module);
  // The object-pointer slot `name` that the C type of `object` declares in
  // its tp_members (functools.partial's "func", "args"), whose struct no
  // header has: the offset comes from the target's own member table
  // (cached by type). An error when the type declares no such member, or
  // when the layout lacks PyMemberDef.
  absl::StatusOr<uint64_t> Member(uint64_t object, std::string_view name);

 private:
  // Items of keys object `keys`; values from `values` (a split dict's
  // PyDictValues) when non-zero. With `want` set, stops at that str key and
  // returns only it.
  absl::Status KeysItems(uint64_t keys, uint64_t values, int64_t max,
                         std::string_view want,
                         std::vector<std::pair<uint64_t, uint64_t>>* out);
  absl::StatusOr<uint64_t> ValuesGet(uint64_t keys, uint64_t values,
                                     std::string_view key);
  absl::StatusOr<uint64_t> Word(uint64_t address);
  absl::StatusOr<uint64_t> FieldWord(uint64_t object, Field field);
  absl::StatusOr<int32_t> Offset(Field field) const;

  RemoteMemory* memory_;
  const Layout* layout_;
  const PythonVersion* version_;
  absl::flat_hash_map<uint64_t, std::string> type_names_;
  // Offset of a declared member by (type, name); -1: the type has none.
  absl::flat_hash_map<std::pair<uint64_t, std::string>, int64_t>
      member_offsets_;
  std::vector<uint8_t> scratch_;
};

}  // namespace pystrobe

#endif  // PYSTROBE_SRC_PYTHON_REMOTE_OBJECTS_H_
