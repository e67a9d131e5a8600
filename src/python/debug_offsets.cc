#include "debug_offsets.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "pystrobe/base/errors.h"

namespace pystrobe {
namespace {

// The uint64 words of _Py_DebugOffsets after cookie, version and
// free_threaded, "group.member" in declaration order, up to the last group
// pystrobe reads (unicode_object; 3.14+: gen_object, for asyncio tasks). Each
// group starts with its struct's size.

// 3.13: Include/internal/pycore_runtime.h.
constexpr std::string_view kWords313[] = {
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
};

// 3.14: Include/internal/pycore_debug_offsets.h. New: threads_main,
// code_object_generation, tlbc_generation; the frame's stackpointer and
// tlbc_index; co_tlbc; a set_object group.
constexpr std::string_view kWords314[] = {
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "gc.size",
    "gc.collecting",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
};

// 3.15: Include/internal/pycore_debug_offsets.h. New: the thread state's
// base_frame, last_profiled_frame(_seq), holds_gil, gil_requested,
// current_exception, exc_state; an err_stackitem group; tp_basicsize and
// tp_dictoffset; a heap_type_object group; compactunicodeobject_size.
constexpr std::string_view kWords315[] = {
    "runtime_state.size",
    "runtime_state.finalizing",
    "runtime_state.interpreters_head",
    "interpreter_state.size",
    "interpreter_state.id",
    "interpreter_state.next",
    "interpreter_state.threads_head",
    "interpreter_state.threads_main",
    "interpreter_state.gc",
    "interpreter_state.imports_modules",
    "interpreter_state.sysdict",
    "interpreter_state.builtins",
    "interpreter_state.ceval_gil",
    "interpreter_state.gil_runtime_state",
    "interpreter_state.gil_runtime_state_enabled",
    "interpreter_state.gil_runtime_state_locked",
    "interpreter_state.gil_runtime_state_holder",
    "interpreter_state.code_object_generation",
    "interpreter_state.tlbc_generation",
    "thread_state.size",
    "thread_state.prev",
    "thread_state.next",
    "thread_state.interp",
    "thread_state.current_frame",
    "thread_state.base_frame",
    "thread_state.last_profiled_frame",
    "thread_state.last_profiled_frame_seq",
    "thread_state.thread_id",
    "thread_state.native_thread_id",
    "thread_state.datastack_chunk",
    "thread_state.status",
    "thread_state.holds_gil",
    "thread_state.gil_requested",
    "thread_state.current_exception",
    "thread_state.exc_state",
    "err_stackitem.exc_value",
    "interpreter_frame.size",
    "interpreter_frame.previous",
    "interpreter_frame.executable",
    "interpreter_frame.instr_ptr",
    "interpreter_frame.localsplus",
    "interpreter_frame.owner",
    "interpreter_frame.stackpointer",
    "interpreter_frame.tlbc_index",
    "code_object.size",
    "code_object.filename",
    "code_object.name",
    "code_object.qualname",
    "code_object.linetable",
    "code_object.firstlineno",
    "code_object.argcount",
    "code_object.localsplusnames",
    "code_object.localspluskinds",
    "code_object.co_code_adaptive",
    "code_object.co_tlbc",
    "pyobject.size",
    "pyobject.ob_type",
    "type_object.size",
    "type_object.tp_name",
    "type_object.tp_repr",
    "type_object.tp_flags",
    "type_object.tp_basicsize",
    "type_object.tp_dictoffset",
    "heap_type_object.size",
    "heap_type_object.ht_cached_keys",
    "tuple_object.size",
    "tuple_object.ob_item",
    "tuple_object.ob_size",
    "list_object.size",
    "list_object.ob_item",
    "list_object.ob_size",
    "set_object.size",
    "set_object.used",
    "set_object.table",
    "set_object.mask",
    "dict_object.size",
    "dict_object.ma_keys",
    "dict_object.ma_values",
    "float_object.size",
    "float_object.ob_fval",
    "long_object.size",
    "long_object.lv_tag",
    "long_object.ob_digit",
    "bytes_object.size",
    "bytes_object.ob_size",
    "bytes_object.ob_sval",
    "unicode_object.size",
    "unicode_object.state",
    "unicode_object.length",
    "unicode_object.asciiobject_size",
    "unicode_object.compactunicodeobject_size",
    "gc.size",
    "gc.collecting",
    "gc.frame",
    "gc.generation_stats_size",
    "gc.generation_stats",
    "gen_object.size",
    "gen_object.gi_name",
    "gen_object.gi_iframe",
    "gen_object.gi_frame_state",
};

constexpr size_t kHeaderSize = 24;  // cookie, version, free_threaded
// No CPython struct pystrobe reads through these offsets is near this large;
// PyInterpreterState is the largest (~220 KiB in 3.14).
constexpr uint64_t kMaxStructSize = 1 << 22;

// The word list of a 3.x minor version, empty when pystrobe does not know it.
absl::Span<const std::string_view> WordsFor(int minor) {
  switch (minor) {
    case 13:
      return kWords313;
    case 14:
      return kWords314;
    case 15:
      return kWords315;
    default:
      return {};
  }
}

// The words of one image, looked up by name.
class Words {
 public:
  Words(absl::Span<const std::string_view> names, const char* data)
      : names_(names), data_(data) {}

  bool Has(std::string_view name) const { return Index(name) >= 0; }
  uint64_t Get(std::string_view name) const {
    const int i = Index(name);
    if (i < 0) return 0;
    uint64_t v = 0;
    std::memcpy(&v, data_ + kHeaderSize + 8 * static_cast<size_t>(i), 8);
    return v;
  }

 private:
  int Index(std::string_view name) const {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
  absl::Span<const std::string_view> names_;
  const char* data_;
};

// The group of "group.member": its size word is "group.size".
std::string SizeWord(std::string_view word) {
  return std::string(word.substr(0, word.find('.'))) + ".size";
}

absl::Status OutOfRange(std::string_view what, uint64_t offset, uint64_t size) {
  return InconsistentError(
      absl::StrCat("_Py_DebugOffsets: ", std::string(what), " at ", offset,
                   " is outside its struct of ", size, " bytes"));
}

}  // namespace

absl::StatusOr<uint64_t> DebugOffsetsVersion(std::string_view raw) {
  if (raw.size() < kHeaderSize || std::memcmp(raw.data(), "xdebugpy", 8) != 0) {
    return absl::InvalidArgumentError(
        "_PyRuntime does not start with the _Py_DebugOffsets cookie");
  }
  uint64_t version = 0;
  std::memcpy(&version, raw.data() + 8, 8);
  return version;
}

absl::StatusOr<DebugOffsets> ParseDebugOffsets(std::string_view raw) {
  absl::StatusOr<uint64_t> version = DebugOffsetsVersion(raw);
  if (!version.ok()) return version.status();
  DebugOffsets out;
  out.version = *version;
  const int major = static_cast<int>((out.version >> 24) & 0xFF);
  const int minor = static_cast<int>((out.version >> 16) & 0xFF);
  absl::Span<const std::string_view> names =
      major == 3 ? WordsFor(minor) : absl::Span<const std::string_view>();
  if (names.empty()) {
    return UnsupportedVersionError(absl::StrFormat(
        "its _Py_DebugOffsets are those of CPython %d.%d, whose layout "
        "pystrobe does not know (it knows 3.13 to 3.15)",
        major, minor));
  }
  if (raw.size() < kHeaderSize + 8 * names.size()) {
    return absl::InvalidArgumentError("_Py_DebugOffsets: too few bytes");
  }
  uint64_t free_threaded = 0;
  std::memcpy(&free_threaded, raw.data() + 16, 8);
  if (free_threaded > 1) {
    return InconsistentError(
        absl::StrCat("_Py_DebugOffsets: free_threaded is ", free_threaded));
  }
  out.free_threaded = free_threaded != 0;
  const Words w(names, raw.data());

  // Each offset must fall inside the struct whose size heads its group.
  auto field = [&](Field f, std::string_view word,
                   size_t width) -> absl::Status {
    const uint64_t size = w.Get(SizeWord(word));
    const uint64_t offset = w.Get(word);
    // Compared without adding to `offset`, which is the target's data and
    // may be large enough to wrap.
    if (size == 0 || size > kMaxStructSize || offset > size ||
        width > size - offset) {
      return OutOfRange(FieldName(f), offset, size);
    }
    out.layout.Set(f, static_cast<int32_t>(offset));
    return absl::OkStatus();
  };
  auto size = [&](Field f, std::string_view word) -> absl::Status {
    const uint64_t v = w.Get(word);
    if (v == 0 || v > kMaxStructSize) {
      return InconsistentError(absl::StrCat("_Py_DebugOffsets: bad size ", v,
                                            " of ", std::string(FieldName(f))));
    }
    out.layout.Set(f, static_cast<int32_t>(v));
    return absl::OkStatus();
  };

  struct Spec {
    Field field;
    std::string_view word;
    size_t width;
  };
  std::vector<Spec> specs = {
      {Field::kRuntimeInterpretersHead, "runtime_state.interpreters_head", 8},
      {Field::kInterpNext, "interpreter_state.next", 8},
      {Field::kInterpTstateHead, "interpreter_state.threads_head", 8},
      {Field::kInterpGil, "interpreter_state.ceval_gil", 8},
      {Field::kTstateNext, "thread_state.next", 8},
      {Field::kTstateInterp, "thread_state.interp", 8},
      {Field::kTstateCurrentFrame, "thread_state.current_frame", 8},
      {Field::kTstateThreadId, "thread_state.thread_id", 8},
      {Field::kTstateNativeThreadId, "thread_state.native_thread_id", 8},
      {Field::kIframePrevious, "interpreter_frame.previous", 8},
      {Field::kIframeCode, "interpreter_frame.executable", 8},
      {Field::kIframeInstr, "interpreter_frame.instr_ptr", 8},
      {Field::kIframeOwner, "interpreter_frame.owner", 1},
      {Field::kCodeFilename, "code_object.filename", 8},
      {Field::kCodeName, "code_object.name", 8},
      {Field::kCodeQualname, "code_object.qualname", 8},
      {Field::kCodeLinetable, "code_object.linetable", 8},
      {Field::kCodeFirstlineno, "code_object.firstlineno", 4},
      {Field::kCodeCodeAdaptive, "code_object.co_code_adaptive", 2},
      {Field::kObType, "pyobject.ob_type", 8},
      {Field::kVarObSize, "bytes_object.ob_size", 8},
      {Field::kBytesSval, "bytes_object.ob_sval", 1},
      {Field::kUnicodeState, "unicode_object.state", 4},
      {Field::kUnicodeLength, "unicode_object.length", 8},
  };
  if (w.Has("gen_object.gi_iframe")) {
    // Coroutines of asyncio tasks (async_tasks.cc): a suspended coroutine's
    // frame lives inside it, and what it awaits is its frame's stack top.
    specs.push_back({Field::kGenIframe, "gen_object.gi_iframe", 8});
    specs.push_back({Field::kGenFrameState, "gen_object.gi_frame_state", 1});
    specs.push_back(
        {Field::kIframeStackpointer, "interpreter_frame.stackpointer", 8});
    specs.push_back(
        {Field::kIframeLocalsplus, "interpreter_frame.localsplus", 8});
    specs.push_back({Field::kTypeName, "type_object.tp_name", 8});
    // A task's awaiters may be a set; an unnamed task's name an int.
    specs.push_back({Field::kSetMask, "set_object.mask", 8});
    specs.push_back({Field::kSetTable, "set_object.table", 8});
    specs.push_back({Field::kLongLvTag, "long_object.lv_tag", 8});
    specs.push_back({Field::kLongDigit, "long_object.ob_digit", 4});
    // Pure-Python tasks (no _asyncio) are reached through sys.modules and
    // Python objects (async_tasks_weakset.cc): what the target describes
    // of them is taken from it; the rest comes from the table (headers).
    specs.push_back(
        {Field::kInterpModules, "interpreter_state.imports_modules", 8});
    specs.push_back({Field::kTypeFlags, "type_object.tp_flags", 8});
    specs.push_back({Field::kDictKeys, "dict_object.ma_keys", 8});
    specs.push_back({Field::kDictValues, "dict_object.ma_values", 8});
    specs.push_back({Field::kTupleItem, "tuple_object.ob_item", 8});
    specs.push_back({Field::kListItem, "list_object.ob_item", 8});
  }
  if (w.Has("heap_type_object.ht_cached_keys")) {
    // 3.15 also describes the type's size, dict offset and shared keys.
    specs.push_back({Field::kTypeBasicsize, "type_object.tp_basicsize", 8});
    specs.push_back({Field::kTypeDictoffset, "type_object.tp_dictoffset", 8});
    specs.push_back(
        {Field::kHeapTypeCachedKeys, "heap_type_object.ht_cached_keys", 8});
  }
  if (w.Has("thread_state.base_frame")) {
    specs.push_back({Field::kTstateBaseFrame, "thread_state.base_frame", 8});
  }
  // Per-thread bytecode (3.14+): the members exist in every build but are
  // only filled in free-threaded ones (0 otherwise).
  if (out.free_threaded && w.Has("code_object.co_tlbc")) {
    specs.push_back(
        {Field::kIframeTlbcIndex, "interpreter_frame.tlbc_index", 4});
    specs.push_back({Field::kCodeTlbc, "code_object.co_tlbc", 8});
  }
  for (const Spec& s : specs) {
    if (absl::Status st = field(s.field, s.word, s.width); !st.ok()) {
      return st;
    }
  }

  const std::pair<Field, std::string_view> sizes[] = {
      {Field::kSizeofInterpreterState, "interpreter_state.size"},
      {Field::kSizeofThreadState, "thread_state.size"},
      {Field::kSizeofInterpreterFrame, "interpreter_frame.size"},
      {Field::kSizeofCode, "code_object.size"},
      {Field::kSizeofAsciiObject, "unicode_object.asciiobject_size"},
  };
  for (const auto& [f, word] : sizes) {
    if (absl::Status st = size(f, word); !st.ok()) return st;
  }
  if (w.Has("unicode_object.compactunicodeobject_size")) {
    if (absl::Status st = size(Field::kSizeofCompactUnicode,
                               "unicode_object.compactunicodeobject_size");
        !st.ok()) {
      return st;
    }
  }

  // The GIL's locked and last_holder are given relative to
  // PyInterpreterState (its embedded _gil); pystrobe reads them relative to
  // the GIL struct that ceval.gil points to, which for an interpreter with
  // its own GIL is that same _gil. `enabled` (free-threaded builds) is
  // already relative to the GIL struct: offsetof(struct _gil_runtime_state,
  // enabled).
  const uint64_t interp_size = w.Get("interpreter_state.size");
  const uint64_t gil = w.Get("interpreter_state.gil_runtime_state");
  const uint64_t locked = w.Get("interpreter_state.gil_runtime_state_locked");
  const uint64_t holder = w.Get("interpreter_state.gil_runtime_state_holder");
  if (gil > locked || gil > holder || holder > interp_size ||
      8 > interp_size - holder || locked > interp_size ||
      4 > interp_size - locked) {
    return InconsistentError("_Py_DebugOffsets: GIL fields out of range");
  }
  out.layout.Set(Field::kGilLocked, static_cast<int32_t>(locked - gil));
  out.layout.Set(Field::kGilLastHolder, static_cast<int32_t>(holder - gil));
  if (out.free_threaded) {
    const uint64_t enabled =
        w.Get("interpreter_state.gil_runtime_state_enabled");
    if (enabled > interp_size - gil || 4 > interp_size - gil - enabled) {
      return OutOfRange("_gil_runtime_state.enabled", enabled,
                        interp_size - gil);
    }
    out.layout.Set(Field::kGilEnabled, static_cast<int32_t>(enabled));
  }

  // Facts of every header set (3.13-3.15) that catch an image whose words
  // are shifted or garbage even though each lies inside its struct.
  const int32_t ob_type = *out.layout.Offset(Field::kObType);
  if (ob_type != (out.free_threaded ? 24 : 8)) {
    return InconsistentError(absl::StrCat(
        "_Py_DebugOffsets: PyObject.ob_type at ", ob_type, " in a ",
        out.free_threaded ? "free-threaded" : "default", " build"));
  }
  const int32_t adaptive = *out.layout.Offset(Field::kCodeCodeAdaptive);
  for (Field f : {Field::kCodeFilename, Field::kCodeName, Field::kCodeQualname,
                  Field::kCodeLinetable, Field::kCodeFirstlineno}) {
    if (*out.layout.Offset(f) < ob_type + 8 ||
        *out.layout.Offset(f) >= adaptive) {
      return InconsistentError(absl::StrCat(
          "_Py_DebugOffsets: ", std::string(FieldName(f)),
          " is not between the object header and co_code_adaptive"));
    }
  }
  if (*out.layout.Offset(Field::kSizeofAsciiObject) <=
      *out.layout.Offset(Field::kUnicodeState)) {
    return InconsistentError(
        "_Py_DebugOffsets: PyASCIIObject ends before its state");
  }
  return out;
}

Layout LayoutFromDebugOffsets(const DebugOffsets& offsets,
                              const LayoutEntry* entry) {
  const bool free_threaded = offsets.free_threaded;
  const int minor = static_cast<int>((offsets.version >> 16) & 0xFF);
  if (entry != nullptr && entry->free_threaded == free_threaded &&
      ((entry->version_hex >> 16) & 0xFF) == static_cast<uint32_t>(minor)) {
    bool agree = true;
    for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
      const auto f = static_cast<Field>(i);
      // Debian's 3.15.0 carries a sizeof(PyInterpreterState) 8 bytes larger
      // than the probe compiled against its headers finds; pystrobe never
      // copies that struct whole, so its size decides nothing.
      if (f == Field::kSizeofInterpreterState) continue;
      const std::optional<int32_t> theirs = offsets.layout.Offset(f);
      const std::optional<int32_t> ours = entry->layout.Offset(f);
      if (theirs && ours && *theirs != *ours) agree = false;
    }
    if (agree) {
      Layout layout = entry->layout;
      ApplyDebugOffsets(offsets, layout);
      return layout;
    }
  }
  // No table entry of this flavour (3.14t, 3.15t), or one whose structs
  // moved: derive what the offsets lack from facts of the headers.
  Layout layout;
  ApplyDebugOffsets(offsets, layout);
  const int32_t ascii = *layout.Offset(Field::kSizeofAsciiObject);
  // PyCompactUnicodeObject is PyASCIIObject plus utf8_length and utf8, and
  // PyUnicodeObject adds the data union right after it
  // (Include/cpython/unicodeobject.h).
  if (!layout.Has(Field::kSizeofCompactUnicode)) {
    layout.Set(Field::kSizeofCompactUnicode, ascii + 16);
  }
  layout.Set(Field::kUnicodeDataAny,
             *layout.Offset(Field::kSizeofCompactUnicode));
  // struct _PyUnicodeObject_state: interned:2, kind:3, compact:1, ascii:1;
  // free-threaded 3.14+ declare `unsigned char interned`, which moves the
  // bit-fields after it to the next byte.
  const int shift = free_threaded && minor >= 14 ? 8 : 2;
  layout.Set(Field::kUnicodeKindBit, shift);
  layout.Set(Field::kUnicodeCompactBit, shift + 3);
  layout.Set(Field::kUnicodeAsciiBit, shift + 4);
  // PyCodeObject ends with `int _co_firsttraceable; void *co_extra;
  // [_PyCodeArray *co_tlbc;] char co_code_adaptive[]` (Include/cpython/
  // code.h, 3.13-3.15; co_tlbc only in free-threaded 3.14+).
  const int32_t adaptive = *layout.Offset(Field::kCodeCodeAdaptive);
  const int32_t co_extra = layout.Has(Field::kCodeTlbc)
                               ? *layout.Offset(Field::kCodeTlbc) - 8
                               : adaptive - 8;
  layout.Set(Field::kCodeFirstTraceable, co_extra - 8);
  return layout;
}

void ApplyDebugOffsets(const DebugOffsets& offsets, Layout& layout) {
  for (int i = 0; i < static_cast<int>(Field::kFieldCount); ++i) {
    const auto f = static_cast<Field>(i);
    if (std::optional<int32_t> v = offsets.layout.Offset(f)) layout.Set(f, *v);
  }
}

}  // namespace pystrobe
