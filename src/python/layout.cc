#include "pystrobe/python/layout.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace pystrobe {
namespace {

// The shape of one row of layouts_table.inc.
struct GeneratedRow {
  uint32_t version_hex;
  bool debug;
  bool free_threaded;
  std::vector<std::pair<Field, int32_t>> fields;
};

const std::vector<LayoutEntry>* BuildEntries() {
  const std::vector<GeneratedRow> rows = {
#include "layouts_table.inc"
  };
  auto* entries = new std::vector<LayoutEntry>();
  entries->reserve(rows.size());
  for (const GeneratedRow& row : rows) {
    LayoutEntry entry{row.version_hex, row.debug, row.free_threaded, Layout()};
    for (const auto& [field, value] : row.fields)
      entry.layout.Set(field, value);
    entries->push_back(entry);
  }
  return entries;
}

constexpr uint32_t kMajorMinorMask = 0xFFFF0000;

}  // namespace

const std::vector<LayoutEntry>& GeneratedLayouts() {
  // Never destroyed: samplers may still look layouts up during exit.
  static const std::vector<LayoutEntry>* const entries = BuildEntries();
  return *entries;
}

const LayoutEntry* FindLayout(const PythonVersion& version) {
  const uint32_t target = version.Hex();
  const LayoutEntry* below = nullptr;  // highest micro <= target
  const LayoutEntry* above = nullptr;  // lowest micro > target
  for (const LayoutEntry& entry : GeneratedLayouts()) {
    // A debug build has a different object header (before 3.8) and extra
    // debug-only members, so flavours never stand in for each other.
    // A free-threaded build has a larger object header: every offset moves.
    if (entry.debug != version.debug ||
        entry.free_threaded != version.free_threaded ||
        (entry.version_hex & kMajorMinorMask) != (target & kMajorMinorMask)) {
      continue;
    }
    if (entry.version_hex <= target) {
      if (below == nullptr || entry.version_hex > below->version_hex) {
        below = &entry;
      }
    } else if (above == nullptr || entry.version_hex < above->version_hex) {
      above = &entry;
    }
  }
  // Structs change within a minor series only rarely and then by appending,
  // so an older micro's headers are the safer guess.
  return below != nullptr ? below : above;
}

std::string_view FieldName(Field field) {
  switch (field) {
    case Field::kObType:
      return "PyObject.ob_type";
    case Field::kVarObSize:
      return "PyVarObject.ob_size";
    case Field::kBytesSval:
      return "PyBytesObject.ob_sval";
    case Field::kUnicodeLength:
      return "PyASCIIObject.length";
    case Field::kUnicodeState:
      return "PyASCIIObject.state";
    case Field::kUnicodeDataAny:
      return "PyUnicodeObject.data.any";
    case Field::kUnicodeStr:
      return "PyUnicodeObject.str";
    case Field::kSizeofAsciiObject:
      return "sizeof(PyASCIIObject)";
    case Field::kSizeofCompactUnicode:
      return "sizeof(PyCompactUnicodeObject)";
    case Field::kSizeofPyUnicode:
      return "sizeof(Py_UNICODE)";
    case Field::kRuntimeInterpretersHead:
      return "_PyRuntimeState.interpreters.head";
    case Field::kRuntimeTstateCurrent:
      return "_PyRuntimeState.gilstate.tstate_current";
    case Field::kInterpNext:
      return "PyInterpreterState.next";
    case Field::kInterpTstateHead:
      return "PyInterpreterState.tstate_head/threads.head";
    case Field::kInterpGil:
      return "PyInterpreterState.ceval.gil";
    case Field::kGilLocked:
      return "_gil_runtime_state.locked";
    case Field::kGilLastHolder:
      return "_gil_runtime_state.last_holder";
    case Field::kSizeofInterpreterState:
      return "sizeof(PyInterpreterState)";
    case Field::kTstateNext:
      return "PyThreadState.next";
    case Field::kTstateInterp:
      return "PyThreadState.interp";
    case Field::kTstateFrame:
      return "PyThreadState.frame";
    case Field::kTstateCframe:
      return "PyThreadState.cframe";
    case Field::kCframeCurrentFrame:
      return "_PyCFrame.current_frame";
    case Field::kTstateCurrentFrame:
      return "PyThreadState.current_frame";
    case Field::kTstateThreadId:
      return "PyThreadState.thread_id";
    case Field::kTstateNativeThreadId:
      return "PyThreadState.native_thread_id";
    case Field::kSizeofThreadState:
      return "sizeof(PyThreadState)";
    case Field::kFrameBack:
      return "PyFrameObject.f_back";
    case Field::kFrameCode:
      return "PyFrameObject.f_code";
    case Field::kFrameLasti:
      return "PyFrameObject.f_lasti";
    case Field::kFrameLineno:
      return "PyFrameObject.f_lineno";
    case Field::kSizeofFrameObject:
      return "sizeof(PyFrameObject)";
    case Field::kIframePrevious:
      return "_PyInterpreterFrame.previous";
    case Field::kIframeCode:
      return "_PyInterpreterFrame.f_code/f_executable";
    case Field::kIframeInstr:
      return "_PyInterpreterFrame.prev_instr/instr_ptr";
    case Field::kIframeOwner:
      return "_PyInterpreterFrame.owner";
    case Field::kIframeIsEntry:
      return "_PyInterpreterFrame.is_entry";
    case Field::kSizeofInterpreterFrame:
      return "sizeof(_PyInterpreterFrame)";
    case Field::kCodeFilename:
      return "PyCodeObject.co_filename";
    case Field::kCodeName:
      return "PyCodeObject.co_name";
    case Field::kCodeQualname:
      return "PyCodeObject.co_qualname";
    case Field::kCodeFirstlineno:
      return "PyCodeObject.co_firstlineno";
    case Field::kCodeLnotab:
      return "PyCodeObject.co_lnotab";
    case Field::kCodeLinetable:
      return "PyCodeObject.co_linetable";
    case Field::kCodeCodeAdaptive:
      return "PyCodeObject.co_code_adaptive";
    case Field::kCodeFirstTraceable:
      return "PyCodeObject._co_firsttraceable";
    case Field::kSizeofCode:
      return "sizeof(PyCodeObject)";
    case Field::kRuntimeGil:
      return "_PyRuntimeState.ceval.gil";
    case Field::kUnicodeKindBit:
      return "PyASCIIObject.state.kind";
    case Field::kUnicodeCompactBit:
      return "PyASCIIObject.state.compact";
    case Field::kUnicodeAsciiBit:
      return "PyASCIIObject.state.ascii";
    case Field::kGilEnabled:
      return "_gil_runtime_state.enabled";
    case Field::kIframeTlbcIndex:
      return "_PyInterpreterFrame.tlbc_index";
    case Field::kCodeTlbc:
      return "PyCodeObject.co_tlbc";
    case Field::kTstateBaseFrame:
      return "PyThreadState.base_frame";
    case Field::kTypeName:
      return "PyTypeObject.tp_name";
    case Field::kGenIframe:
      return "PyGenObject.gi_iframe";
    case Field::kGenFrameState:
      return "PyGenObject.gi_frame_state";
    case Field::kIframeStackpointer:
      return "_PyInterpreterFrame.stackpointer";
    case Field::kTaskState:
      return "TaskObj.task_state";
    case Field::kTaskFutWaiter:
      return "TaskObj.task_fut_waiter";
    case Field::kTaskCoro:
      return "TaskObj.task_coro";
    case Field::kTaskName:
      return "TaskObj.task_name";
    case Field::kTaskAwaitedBy:
      return "TaskObj.task_awaited_by";
    case Field::kTaskAwaitedByIsSet:
      return "TaskObj.task_awaited_by_is_set";
    case Field::kTaskIsTask:
      return "TaskObj.task_is_task";
    case Field::kTaskNode:
      return "TaskObj.task_node";
    case Field::kSizeofTask:
      return "sizeof(TaskObj)";
    case Field::kTstateAsyncioRunningLoop:
      return "_PyThreadStateImpl.asyncio_running_loop";
    case Field::kTstateAsyncioRunningTask:
      return "_PyThreadStateImpl.asyncio_running_task";
    case Field::kTstateAsyncioTasksHead:
      return "_PyThreadStateImpl.asyncio_tasks_head";
    case Field::kInterpAsyncioTasksHead:
      return "PyInterpreterState.asyncio_tasks_head";
    case Field::kSetMask:
      return "PySetObject.mask";
    case Field::kSetTable:
      return "PySetObject.table";
    case Field::kLongLvTag:
      return "PyLongObject.lv_tag";
    case Field::kLongDigit:
      return "PyLongObject.ob_digit";
    case Field::kIframeLocalsplus:
      return "_PyInterpreterFrame.localsplus";
    case Field::kTypeFlags:
      return "PyTypeObject.tp_flags";
    case Field::kTypeBasicsize:
      return "PyTypeObject.tp_basicsize";
    case Field::kTypeDictoffset:
      return "PyTypeObject.tp_dictoffset";
    case Field::kTypeBase:
      return "PyTypeObject.tp_base";
    case Field::kHeapTypeCachedKeys:
      return "PyHeapTypeObject.ht_cached_keys";
    case Field::kTpflagsManagedDict:
      return "Py_TPFLAGS_MANAGED_DICT";
    case Field::kTpflagsInlineValues:
      return "Py_TPFLAGS_INLINE_VALUES";
    case Field::kManagedDictBefore:
      return "managed dict pointer (before the object)";
    case Field::kManagedValuesBefore:
      return "managed values pointer (before the object)";
    case Field::kInlineValuesAfter:
      return "inline values (after the object)";
    case Field::kDictKeys:
      return "PyDictObject.ma_keys";
    case Field::kDictValues:
      return "PyDictObject.ma_values";
    case Field::kDictKeysLog2Size:
      return "PyDictKeysObject.dk_log2_size";
    case Field::kDictKeysLog2IndexBytes:
      return "PyDictKeysObject.dk_log2_index_bytes";
    case Field::kDictKeysKind:
      return "PyDictKeysObject.dk_kind";
    case Field::kDictKeysNentries:
      return "PyDictKeysObject.dk_nentries";
    case Field::kDictKeysIndices:
      return "PyDictKeysObject.dk_indices";
    case Field::kDictEntryKey:
      return "PyDictKeyEntry.me_key";
    case Field::kDictEntryValue:
      return "PyDictKeyEntry.me_value";
    case Field::kSizeofDictEntry:
      return "sizeof(PyDictKeyEntry)";
    case Field::kDictUnicodeEntryKey:
      return "PyDictUnicodeEntry.me_key";
    case Field::kDictUnicodeEntryValue:
      return "PyDictUnicodeEntry.me_value";
    case Field::kSizeofDictUnicodeEntry:
      return "sizeof(PyDictUnicodeEntry)";
    case Field::kDictValuesValues:
      return "PyDictValues.values";
    case Field::kDictValuesValid:
      return "PyDictValues.valid";
    case Field::kWeakrefObject:
      return "PyWeakReference.wr_object";
    case Field::kTupleItem:
      return "PyTupleObject.ob_item";
    case Field::kListItem:
      return "PyListObject.ob_item";
    case Field::kCellRef:
      return "PyCellObject.ob_ref";
    case Field::kCFunctionMl:
      return "PyCFunctionObject.m_ml";
    case Field::kCFunctionSelf:
      return "PyCFunctionObject.m_self";
    case Field::kMethodFunc:
      return "PyMethodObject.im_func";
    case Field::kMethodSelf:
      return "PyMethodObject.im_self";
    case Field::kFunctionClosure:
      return "PyFunctionObject.func_closure";
    case Field::kFunctionQualname:
      return "PyFunctionObject.func_qualname";
    case Field::kModuleDict:
      return "PyModuleObject.md_dict";
    case Field::kInterpModules:
      return "PyInterpreterState.modules";
    case Field::kIframeStacktop:
      return "_PyInterpreterFrame.stacktop";
    case Field::kOpcodeResume:
      return "RESUME";
    case Field::kOpcodeResumeVariant:
      return "RESUME_QUICK / INSTRUMENTED_RESUME";
    case Field::kTaskCallback0:
      return "TaskObj.task_callback0";
    case Field::kTaskCallbacks:
      return "TaskObj.task_callbacks";
    case Field::kTaskLoop:
      return "TaskObj.task_loop";
    case Field::kTypeMembers:
      return "PyTypeObject.tp_members";
    case Field::kMemberDefName:
      return "PyMemberDef.name";
    case Field::kMemberDefOffset:
      return "PyMemberDef.offset";
    case Field::kSizeofMemberDef:
      return "sizeof(PyMemberDef)";
    case Field::kFieldCount:
      break;
  }
  return "(unknown field)";
}

}  // namespace pystrobe
