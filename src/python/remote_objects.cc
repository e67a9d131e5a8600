#include "remote_objects.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "py_string.h"
#include "pystrobe/base/errors.h"
#include "pystrobe/base/status_macros.h"

namespace pystrobe {
namespace {

// dk_kind (Include/internal/pycore_dict.h, 3.11-3.13); DICT_KEYS_UNICODE
// (1) has the same entries as split keys.
constexpr uint8_t kKeysGeneral = 0;
constexpr uint8_t kKeysSplit = 2;

// Deepest tp_base chain followed (real hierarchies are a handful deep).
constexpr int kMaxBases = 32;

// Longest tp_members table read (functools.partial declares 6).
constexpr int kMaxMembers = 64;

// A set's deleted slots hold the dummy key with hash -1, a hash no live
// key has (Objects/setobject.c: -1 is never a hash).
constexpr int64_t kDummyHash = -1;

}  // namespace

bool RemoteObjects::Supports(const Layout& layout) {
  for (Field f : {Field::kObType,
                  Field::kVarObSize,
                  Field::kTypeName,
                  Field::kTypeFlags,
                  Field::kTypeBase,
                  Field::kTypeDictoffset,
                  Field::kHeapTypeCachedKeys,
                  Field::kTpflagsManagedDict,
                  Field::kManagedDictBefore,
                  Field::kDictKeys,
                  Field::kDictValues,
                  Field::kDictKeysLog2Size,
                  Field::kDictKeysLog2IndexBytes,
                  Field::kDictKeysKind,
                  Field::kDictKeysNentries,
                  Field::kDictKeysIndices,
                  Field::kDictEntryKey,
                  Field::kDictEntryValue,
                  Field::kSizeofDictEntry,
                  Field::kDictUnicodeEntryKey,
                  Field::kDictUnicodeEntryValue,
                  Field::kSizeofDictUnicodeEntry,
                  Field::kDictValuesValues,
                  Field::kSetMask,
                  Field::kSetTable,
                  Field::kWeakrefObject,
                  Field::kTupleItem,
                  Field::kListItem,
                  Field::kModuleDict,
                  Field::kUnicodeLength}) {
    if (!layout.Has(f)) return false;
  }
  return true;
}

absl::StatusOr<int32_t> RemoteObjects::Offset(Field field) const {
  std::optional<int32_t> offset = layout_->Offset(field);
  if (!offset) {
    return absl::InternalError(
        absl::StrCat("layout has no ", std::string(FieldName(field))));
  }
  return *offset;
}

absl::StatusOr<uint64_t> RemoteObjects::Word(uint64_t address) {
  uint64_t value = 0;
  PYSTROBE_RETURN_IF_ERROR(memory_->Read(address, &value, sizeof(value)));
  return value;
}

absl::StatusOr<uint64_t> RemoteObjects::FieldWord(uint64_t object,
                                                  Field field) {
  PYSTROBE_ASSIGN_OR_RETURN(int32_t offset, Offset(field));
  return Word(object + static_cast<uint64_t>(offset));
}

absl::StatusOr<uint64_t> RemoteObjects::TypeOf(uint64_t object) {
  if (object == 0) return InconsistentError("null object");
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t type, FieldWord(object, Field::kObType));
  if (type == 0) return InconsistentError("object without a type");
  return type;
}

absl::StatusOr<std::string> RemoteObjects::CString(uint64_t address) {
  if (address == 0) return InconsistentError("null C string");
  char buffer[128];
  // Up to 127 bytes, fewer at a page end (the next page may be unmapped).
  size_t length = sizeof(buffer) - 1;
  const uint64_t page_left = 4096 - (address & 4095);
  if (page_left < length) length = page_left;
  PYSTROBE_RETURN_IF_ERROR(memory_->Read(address, buffer, length));
  buffer[length] = '\0';
  return std::string(buffer, strnlen(buffer, length));
}

absl::StatusOr<std::string> RemoteObjects::NameOfType(uint64_t type) {
  if (auto it = type_names_.find(type); it != type_names_.end()) {
    return it->second;
  }
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t name, FieldWord(type, Field::kTypeName));
  PYSTROBE_ASSIGN_OR_RETURN(std::string text, CString(name));
  if (type_names_.size() < 4096) type_names_.emplace(type, text);
  return text;
}

absl::StatusOr<std::string> RemoteObjects::TypeName(uint64_t object) {
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t type, TypeOf(object));
  return NameOfType(type);
}

absl::StatusOr<bool> RemoteObjects::IsInstance(uint64_t object,
                                               std::string_view name) {
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t type, TypeOf(object));
  for (int depth = 0; type != 0; ++depth) {
    if (depth >= kMaxBases) return InconsistentError("tp_base chain loops");
    PYSTROBE_ASSIGN_OR_RETURN(std::string type_name, NameOfType(type));
    if (type_name == name) return true;
    PYSTROBE_ASSIGN_OR_RETURN(type, FieldWord(type, Field::kTypeBase));
  }
  return false;
}

absl::StatusOr<bool> RemoteObjects::IsInstanceOfType(uint64_t object,
                                                     uint64_t type) {
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t t, TypeOf(object));
  for (int depth = 0; t != 0; ++depth) {
    if (depth >= kMaxBases) return InconsistentError("tp_base chain loops");
    if (t == type) return true;
    PYSTROBE_ASSIGN_OR_RETURN(t, FieldWord(t, Field::kTypeBase));
  }
  return false;
}

absl::StatusOr<std::string> RemoteObjects::Str(uint64_t object) {
  PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(object));
  if (type != "str")
    return InconsistentError(absl::StrCat("not a str: ", type));
  return ReadPyString(*memory_, *layout_, *version_, object);
}

absl::Status RemoteObjects::KeysItems(
    uint64_t keys, uint64_t values, int64_t max, std::string_view want,
    std::vector<std::pair<uint64_t, uint64_t>>* out) {
  if (keys == 0) return InconsistentError("dict without keys");
  PYSTROBE_ASSIGN_OR_RETURN(int32_t log2_size_at,
                            Offset(Field::kDictKeysLog2Size));
  PYSTROBE_ASSIGN_OR_RETURN(int32_t log2_index_at,
                            Offset(Field::kDictKeysLog2IndexBytes));
  PYSTROBE_ASSIGN_OR_RETURN(int32_t kind_at, Offset(Field::kDictKeysKind));
  PYSTROBE_ASSIGN_OR_RETURN(int32_t nentries_at,
                            Offset(Field::kDictKeysNentries));
  PYSTROBE_ASSIGN_OR_RETURN(int32_t indices_at,
                            Offset(Field::kDictKeysIndices));
  uint8_t header[64];
  if (indices_at <= 0 || static_cast<size_t>(indices_at) > sizeof(header)) {
    return absl::InternalError("dict keys header of unexpected size");
  }
  PYSTROBE_RETURN_IF_ERROR(memory_->Read(keys, header, indices_at));
  const uint8_t log2_size = header[log2_size_at];
  const uint8_t log2_index_bytes = header[log2_index_at];
  const uint8_t kind = header[kind_at];
  int64_t nentries = 0;
  std::memcpy(&nentries, header + nentries_at, sizeof(nentries));
  // An empty dict that never held an item, or was cleared, shares the
  // interpreter's one static empty keys object (Py_EMPTY_KEYS): log2 size
  // 0, no entries, and log2 0 index bytes on 3.11, 3.12 and 3.13.0, or 3
  // (8 bytes of indices) on 3.13t, forky's 3.13.15, 3.14 and 3.15 (as
  // read in each). It holds nothing, and is no garbage: an idle process's
  // asyncio._current_tasks is one (a gunicorn master, a worker just forked
  // from it, any process once its interpreter clears its modules at
  // exit).
  if (log2_size == 0 && log2_index_bytes <= 3 && nentries == 0 &&
      kind <= kKeysSplit && values == 0) {
    return absl::OkStatus();
  }
  // The index width follows from the size (Objects/dictobject.c,
  // new_keys_object): 1 byte up to 2^7 slots... checked exactly, which
  // rejects most garbage.
  const int width_log2 = log2_size < 8    ? 0
                         : log2_size < 16 ? 1
                         : log2_size < 32 ? 2
                                          : 3;
  if (log2_size < 3 || log2_size > 30 ||
      log2_index_bytes != log2_size + width_log2 || kind > kKeysSplit) {
    return InconsistentError("dict keys header does not validate");
  }
  const int64_t usable = ((int64_t{1} << log2_size) << 1) / 3;
  if (nentries < 0 || nentries > usable) {
    return InconsistentError("dict keys hold more entries than they fit");
  }
  if (nentries > max) {
    return InconsistentError(
        absl::StrCat("dict of ", nentries, " entries (more than ", max, ")"));
  }
  if ((kind == kKeysSplit) != (values != 0)) {
    return InconsistentError("dict values do not match its keys' kind");
  }
  const bool general = kind == kKeysGeneral;
  PYSTROBE_ASSIGN_OR_RETURN(int32_t entry_size,
                            Offset(general ? Field::kSizeofDictEntry
                                           : Field::kSizeofDictUnicodeEntry));
  PYSTROBE_ASSIGN_OR_RETURN(
      int32_t key_at,
      Offset(general ? Field::kDictEntryKey : Field::kDictUnicodeEntryKey));
  PYSTROBE_ASSIGN_OR_RETURN(
      int32_t value_at,
      Offset(general ? Field::kDictEntryValue : Field::kDictUnicodeEntryValue));
  if (entry_size <= 0 || key_at + 8 > entry_size || value_at + 8 > entry_size) {
    return absl::InternalError("dict entry layout");
  }
  const uint64_t entries = keys + static_cast<uint64_t>(indices_at) +
                           (uint64_t{1} << log2_index_bytes);
  scratch_.resize(static_cast<size_t>(nentries) * entry_size);
  if (nentries > 0) {
    PYSTROBE_RETURN_IF_ERROR(
        memory_->Read(entries, scratch_.data(), scratch_.size()));
  }
  std::vector<uint64_t> split_values;
  if (values != 0 && nentries > 0) {
    PYSTROBE_ASSIGN_OR_RETURN(int32_t values_at,
                              Offset(Field::kDictValuesValues));
    split_values.resize(static_cast<size_t>(nentries));
    PYSTROBE_RETURN_IF_ERROR(memory_->Read(
        values + values_at, split_values.data(), 8 * split_values.size()));
  }
  // Copied out: Str() below may reuse scratch_ (it does not, but a key's
  // read must not depend on that).
  std::vector<std::pair<uint64_t, uint64_t>> items;
  items.reserve(static_cast<size_t>(nentries));
  for (int64_t i = 0; i < nentries; ++i) {
    uint64_t key = 0;
    uint64_t value = 0;
    std::memcpy(&key, scratch_.data() + i * entry_size + key_at, 8);
    if (values != 0) {
      value = split_values[static_cast<size_t>(i)];
    } else {
      std::memcpy(&value, scratch_.data() + i * entry_size + value_at, 8);
    }
    if (key == 0 || value == 0) continue;  // deleted
    items.emplace_back(key, value);
  }
  if (want.empty()) {
    out->insert(out->end(), items.begin(), items.end());
    return absl::OkStatus();
  }
  PYSTROBE_ASSIGN_OR_RETURN(int32_t length_at, Offset(Field::kUnicodeLength));
  for (const auto& [key, value] : items) {
    // Cheap rejections first: the wanted keys are ASCII, so their length in
    // code points is their size; most keys differ in it.
    PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(key));
    if (type != "str") continue;
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t length, Word(key + length_at));
    if (length != want.size()) continue;
    PYSTROBE_ASSIGN_OR_RETURN(std::string text,
                              ReadPyString(*memory_, *layout_, *version_, key));
    if (text == want) {
      out->emplace_back(key, value);
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::Status RemoteObjects::DictItems(
    uint64_t dict, int64_t max,
    std::vector<std::pair<uint64_t, uint64_t>>* out) {
  out->clear();
  PYSTROBE_ASSIGN_OR_RETURN(bool is_dict, IsInstance(dict, "dict"));
  if (!is_dict) return InconsistentError("not a dict");
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t keys, FieldWord(dict, Field::kDictKeys));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t values,
                            FieldWord(dict, Field::kDictValues));
  return KeysItems(keys, values, max, "", out);
}

absl::StatusOr<uint64_t> RemoteObjects::DictGet(uint64_t dict,
                                                std::string_view key,
                                                int64_t max) {
  PYSTROBE_ASSIGN_OR_RETURN(bool is_dict, IsInstance(dict, "dict"));
  if (!is_dict) return InconsistentError("not a dict");
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t keys, FieldWord(dict, Field::kDictKeys));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t values,
                            FieldWord(dict, Field::kDictValues));
  std::vector<std::pair<uint64_t, uint64_t>> found;
  PYSTROBE_RETURN_IF_ERROR(KeysItems(keys, values, max, key, &found));
  return found.empty() ? 0 : found[0].second;
}

absl::StatusOr<uint64_t> RemoteObjects::ValuesGet(uint64_t keys,
                                                  uint64_t values,
                                                  std::string_view key) {
  std::vector<std::pair<uint64_t, uint64_t>> found;
  PYSTROBE_RETURN_IF_ERROR(KeysItems(keys, values, kMaxItems, key, &found));
  return found.empty() ? 0 : found[0].second;
}

absl::StatusOr<uint64_t> RemoteObjects::Attribute(uint64_t object,
                                                  std::string_view name) {
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t type, TypeOf(object));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t flags, FieldWord(type, Field::kTypeFlags));
  PYSTROBE_ASSIGN_OR_RETURN(int32_t managed_flag,
                            Offset(Field::kTpflagsManagedDict));
  if ((flags & static_cast<uint64_t>(managed_flag)) == 0) {
    // A dict at tp_dictoffset (extension types, classes with __slots__
    // that name __dict__); negative offsets (variable-size objects) are not
    // read.
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t offset,
                              FieldWord(type, Field::kTypeDictoffset));
    const auto signed_offset = static_cast<int64_t>(offset);
    if (signed_offset <= 0 || signed_offset > 4096) return 0;
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t dict, Word(object + offset));
    if (dict == 0) return 0;
    return DictGet(dict, name);
  }
  PYSTROBE_ASSIGN_OR_RETURN(int32_t before, Offset(Field::kManagedDictBefore));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t word, Word(object - before));
  uint64_t values = 0;
  if (version_->minor == 12) {
    // 3.12's PyDictOrValues: the values pointer minus one (odd), or the
    // dict (Include/internal/pycore_object.h, _PyDictOrValues_GetValues).
    if ((word & 1) == 0) {
      if (word == 0) return 0;
      return DictGet(word, name);
    }
    values = word + 1;
  } else {
    if (word != 0) return DictGet(word, name);
    if (layout_->Has(Field::kManagedValuesBefore)) {
      // 3.11: the values pointer sits before the dict pointer.
      PYSTROBE_ASSIGN_OR_RETURN(int32_t values_before,
                                Offset(Field::kManagedValuesBefore));
      PYSTROBE_ASSIGN_OR_RETURN(values, Word(object - values_before));
    } else if (layout_->Has(Field::kTpflagsInlineValues)) {
      // 3.13: values inline after the object, valid while no dict took
      // them over.
      PYSTROBE_ASSIGN_OR_RETURN(int32_t inline_flag,
                                Offset(Field::kTpflagsInlineValues));
      if ((flags & static_cast<uint64_t>(inline_flag)) == 0) return 0;
      PYSTROBE_ASSIGN_OR_RETURN(int32_t after,
                                Offset(Field::kInlineValuesAfter));
      PYSTROBE_ASSIGN_OR_RETURN(int32_t valid_at,
                                Offset(Field::kDictValuesValid));
      values = object + static_cast<uint64_t>(after);
      uint8_t valid = 0;
      PYSTROBE_RETURN_IF_ERROR(memory_->Read(values + valid_at, &valid, 1));
      if (valid == 0) {
        return InconsistentError("inline values invalid but no dict (torn)");
      }
    }
  }
  if (values == 0) return 0;
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t keys,
                            FieldWord(type, Field::kHeapTypeCachedKeys));
  if (keys == 0) return InconsistentError("values without the type's keys");
  return ValuesGet(keys, values, name);
}

absl::Status RemoteObjects::SetItems(uint64_t set, int64_t max,
                                     std::vector<uint64_t>* out) {
  out->clear();
  PYSTROBE_ASSIGN_OR_RETURN(bool is_set, IsInstance(set, "set"));
  if (!is_set) {
    PYSTROBE_ASSIGN_OR_RETURN(is_set, IsInstance(set, "frozenset"));
  }
  if (!is_set) return InconsistentError("not a set");
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t mask, FieldWord(set, Field::kSetMask));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t table, FieldWord(set, Field::kSetTable));
  const auto slots = static_cast<int64_t>(mask + 1);
  // A set is at most 3/5 full: a table over 2 * max slots holds too many.
  if (mask + 1 == 0 || (mask & (mask + 1)) != 0 || slots > 2 * max + 8 ||
      table == 0) {
    return InconsistentError("set table of implausible size");
  }
  // setentry {PyObject *key; Py_hash_t hash;} (Include/cpython/setobject.h).
  std::vector<uint64_t> entries(2 * static_cast<size_t>(slots));
  PYSTROBE_RETURN_IF_ERROR(
      memory_->Read(table, entries.data(), 8 * entries.size()));
  for (size_t i = 0; i < entries.size(); i += 2) {
    if (entries[i] == 0 || static_cast<int64_t>(entries[i + 1]) == kDummyHash) {
      continue;
    }
    if (static_cast<int64_t>(out->size()) >= max) {
      return InconsistentError("set holds more than the bound");
    }
    out->push_back(entries[i]);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RemoteObjects::WeakrefTarget(uint64_t ref) {
  PYSTROBE_ASSIGN_OR_RETURN(bool is_ref, IsInstance(ref, "weakref"));
  if (!is_ref) {
    PYSTROBE_ASSIGN_OR_RETURN(is_ref, IsInstance(ref, "weakref.ReferenceType"));
  }
  if (!is_ref) return InconsistentError("not a weak reference");
  // A dead reference points to None (Objects/weakrefobject.c,
  // clear_weakref): the caller's type check drops it.
  return FieldWord(ref, Field::kWeakrefObject);
}

absl::Status RemoteObjects::SequenceItems(uint64_t sequence, int64_t max,
                                          std::vector<uint64_t>* out) {
  out->clear();
  PYSTROBE_ASSIGN_OR_RETURN(std::string type, TypeName(sequence));
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t size,
                            FieldWord(sequence, Field::kVarObSize));
  if (static_cast<int64_t>(size) < 0 || static_cast<int64_t>(size) > max) {
    return InconsistentError("sequence longer than the bound");
  }
  uint64_t items = 0;
  if (type == "tuple") {
    PYSTROBE_ASSIGN_OR_RETURN(int32_t at, Offset(Field::kTupleItem));
    items = sequence + static_cast<uint64_t>(at);
  } else if (type == "list") {
    PYSTROBE_ASSIGN_OR_RETURN(items, FieldWord(sequence, Field::kListItem));
  } else {
    return InconsistentError(absl::StrCat("not a tuple or list: ", type));
  }
  out->resize(size);
  if (size == 0) return absl::OkStatus();
  if (items == 0) return InconsistentError("list without items");
  return memory_->Read(items, out->data(), 8 * size);
}

absl::StatusOr<uint64_t> RemoteObjects::Member(uint64_t object,
                                               std::string_view name) {
  PYSTROBE_ASSIGN_OR_RETURN(uint64_t type, TypeOf(object));
  auto key = std::make_pair(type, std::string(name));
  int64_t offset = -1;
  if (auto it = member_offsets_.find(key); it != member_offsets_.end()) {
    offset = it->second;
  } else {
    PYSTROBE_ASSIGN_OR_RETURN(int32_t name_at, Offset(Field::kMemberDefName));
    PYSTROBE_ASSIGN_OR_RETURN(int32_t offset_at,
                              Offset(Field::kMemberDefOffset));
    PYSTROBE_ASSIGN_OR_RETURN(int32_t size, Offset(Field::kSizeofMemberDef));
    uint8_t def[64];
    if (size <= 0 || static_cast<size_t>(size) > sizeof(def) ||
        name_at + 8 > size || offset_at + 8 > size) {
      return absl::InternalError("PyMemberDef of unexpected size");
    }
    PYSTROBE_ASSIGN_OR_RETURN(uint64_t members,
                              FieldWord(type, Field::kTypeMembers));
    // PyMemberDef[], ended by an entry whose name is NULL.
    for (int i = 0; members != 0; ++i) {
      if (i >= kMaxMembers) return InconsistentError("tp_members unended");
      PYSTROBE_RETURN_IF_ERROR(
          memory_->Read(members + static_cast<uint64_t>(i) * size, def, size));
      uint64_t name_address = 0;
      std::memcpy(&name_address, def + name_at, 8);
      if (name_address == 0) break;
      PYSTROBE_ASSIGN_OR_RETURN(std::string member, CString(name_address));
      if (member != name) continue;
      std::memcpy(&offset, def + offset_at, 8);
      // An object pointer inside the object's fixed part.
      if (offset < 8 || offset > 4096 || offset % 8 != 0) {
        return InconsistentError("member offset is wild");
      }
      break;
    }
    if (member_offsets_.size() < 4096) member_offsets_.emplace(key, offset);
  }
  if (offset < 0) {
    return InconsistentError(
        absl::StrCat("type declares no member ", std::string(name)));
  }
  return Word(object + static_cast<uint64_t>(offset));
}

absl::StatusOr<uint64_t> RemoteObjects::ModuleDict(uint64_t module) {
  PYSTROBE_ASSIGN_OR_RETURN(bool is_module, IsInstance(module, "module"));
  if (!is_module) return InconsistentError("not a module");
  return FieldWord(module, Field::kModuleDict);
}

}  // namespace pystrobe
