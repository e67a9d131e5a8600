/* Struct-offset probe for one CPython header set.
 *
 * tools/layouts/generate compiles this file once per installed CPython
 * (-I <prefix>/include/pythonX.Y) and runs it. It prints one line per fact:
 *
 *   VERSION_HEX 0x030c01f0
 *   DEBUG 0|1
 *   TRACE_REFS 0|1
 *   FREE_THREADED 0|1
 *   FIELD kTstateNext 8
 *
 * The FIELD names are the enumerators of pystrobe::Field
 * (include/pystrobe/python/layout.h); the generator rejects names it does not
 * know. A field is printed only for the versions whose headers have it: the
 * #if ranges below are the single place that records which version has what.
 *
 * Internal structs (_PyRuntimeState, PyInterpreterState since 3.8,
 * _PyInterpreterFrame, struct _gil_runtime_state) are only visible with
 * Py_BUILD_CORE, so it is defined before Python.h for 3.7+. 3.7 keeps them in
 * internal/pystate.h; 3.8 in internal/pycore_pystate.h; 3.9+ in
 * internal/pycore_interp.h and internal/pycore_runtime.h; 3.11+ adds
 * internal/pycore_frame.h. 2.7 and 3.6 have no _PyRuntime: their
 * PyInterpreterState is public in pystate.h.
 */

/* Python.h is included twice below (the version is only known after the
 * first include), so the core define must come before it when the headers
 * are new enough. patchlevel.h alone is side-effect free. */
#include <patchlevel.h>

#if PY_VERSION_HEX >= 0x03070000
#define Py_BUILD_CORE 1
#endif

#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>

#if PY_VERSION_HEX < 0x03000000
#include <code.h>
#elif PY_VERSION_HEX < 0x03070000
/* 3.6: everything needed is public. */
#elif PY_VERSION_HEX < 0x03080000
#include <internal/pystate.h>
#elif PY_VERSION_HEX < 0x03090000
#include <internal/pycore_pystate.h>
#else
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>
#endif

#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_frame.h>
#endif
#if PY_VERSION_HEX >= 0x030E0000
/* 3.14 moved _PyInterpreterFrame into its own header. */
#include <internal/pycore_interpframe_structs.h>
#endif
#if PY_VERSION_HEX >= 0x030F0000
/* 3.15: _PyThreadStateImpl (its embedded base_frame). */
#include <internal/pycore_tstate.h>
#endif
#if PY_VERSION_HEX >= 0x030B0000
/* asyncio through Python objects (3.11-3.13, and pure-Python tasks on
 * 3.14+): dicts, instance dicts, modules, opcodes. */
#include <internal/pycore_dict.h>
#include <internal/pycore_moduleobject.h>
#include <internal/pycore_object.h>
/* PyMemberDef (3.11; descrobject.h from 3.12, which this still includes). */
#include <structmember.h>
#if PY_VERSION_HEX < 0x030D0000
#include <opcode.h>
#elif PY_VERSION_HEX < 0x030F0000
#include <internal/pycore_tstate.h>
#endif
#endif
#include <string.h>

#define OFF(field, type, member) \
  printf("FIELD %s %lu\n", #field, (unsigned long)offsetof(type, member))
#define SIZE(field, type) \
  printf("FIELD %s %lu\n", #field, (unsigned long)sizeof(type))

#if PY_VERSION_HEX >= 0x03030000
/* Bit-fields have no offsetof: set one in a zeroed PyASCIIObject and find
 * the lowest bit that changed in the 32-bit word at state's offset. */
static unsigned long StateBit(PyASCIIObject* o) {
  unsigned int word = 0;
  unsigned long bit = 0;
  memcpy(&word, (char*)o + offsetof(PyASCIIObject, state), sizeof(word));
  while (bit < 32 && !(word & (1u << bit))) ++bit;
  return bit;
}
#define STATE_BIT(field, member)                          \
  do {                                                    \
    PyASCIIObject o;                                      \
    memset(&o, 0, sizeof(o));                             \
    o.state.member = 1;                                   \
    printf("FIELD %s %lu\n", #field, StateBit(&o));       \
  } while (0)
#endif

int main(void) {
  printf("VERSION_HEX 0x%08lx\n", (unsigned long)PY_VERSION_HEX);
  printf("VERSION %s\n", PY_VERSION);
#ifdef Py_DEBUG
  printf("DEBUG 1\n");
#else
  printf("DEBUG 0\n");
#endif
#ifdef Py_TRACE_REFS
  printf("TRACE_REFS 1\n");
#else
  printf("TRACE_REFS 0\n");
#endif
#ifdef Py_GIL_DISABLED
  printf("FREE_THREADED 1\n");
#else
  printf("FREE_THREADED 0\n");
#endif
  printf("POINTER_SIZE %lu\n", (unsigned long)sizeof(void*));

  /* Object model. */
  OFF(kObType, PyObject, ob_type);
  OFF(kVarObSize, PyVarObject, ob_size);
#if PY_VERSION_HEX < 0x03000000
  OFF(kBytesSval, PyStringObject, ob_sval);
  OFF(kUnicodeLength, PyUnicodeObject, length);
  OFF(kUnicodeStr, PyUnicodeObject, str);
  SIZE(kSizeofPyUnicode, Py_UNICODE);
#else
  OFF(kBytesSval, PyBytesObject, ob_sval);
  OFF(kUnicodeLength, PyASCIIObject, length);
  OFF(kUnicodeState, PyASCIIObject, state);
  OFF(kUnicodeDataAny, PyUnicodeObject, data.any);
  SIZE(kSizeofAsciiObject, PyASCIIObject);
  SIZE(kSizeofCompactUnicode, PyCompactUnicodeObject);
#endif

  /* Runtime and interpreters. */
#if PY_VERSION_HEX >= 0x03070000
  OFF(kRuntimeInterpretersHead, _PyRuntimeState, interpreters.head);
#endif
#if PY_VERSION_HEX >= 0x03070000 && PY_VERSION_HEX < 0x030C0000
  OFF(kRuntimeTstateCurrent, _PyRuntimeState, gilstate.tstate_current);
  /* Until 3.11 the one GIL is a struct inside _PyRuntime. */
  OFF(kRuntimeGil, _PyRuntimeState, ceval.gil);
#endif
  OFF(kInterpNext, PyInterpreterState, next);
#if PY_VERSION_HEX >= 0x030B0000
  /* 3.11 already moved the list into PyInterpreterState.threads. */
  OFF(kInterpTstateHead, PyInterpreterState, threads.head);
#else
  OFF(kInterpTstateHead, PyInterpreterState, tstate_head);
#endif
#if PY_VERSION_HEX >= 0x030C0000
  OFF(kInterpGil, PyInterpreterState, ceval.gil);
#endif
#if PY_VERSION_HEX >= 0x03070000
  OFF(kGilLocked, struct _gil_runtime_state, locked);
  OFF(kGilLastHolder, struct _gil_runtime_state, last_holder);
#endif
  SIZE(kSizeofInterpreterState, PyInterpreterState);

  /* Thread states. */
  OFF(kTstateNext, PyThreadState, next);
  OFF(kTstateInterp, PyThreadState, interp);
#if PY_VERSION_HEX < 0x030B0000
  OFF(kTstateFrame, PyThreadState, frame);
#elif PY_VERSION_HEX < 0x030D0000
  OFF(kTstateCframe, PyThreadState, cframe);
  OFF(kCframeCurrentFrame, _PyCFrame, current_frame);
#else
  OFF(kTstateCurrentFrame, PyThreadState, current_frame);
#endif
  OFF(kTstateThreadId, PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
  OFF(kTstateNativeThreadId, PyThreadState, native_thread_id);
#endif
  SIZE(kSizeofThreadState, PyThreadState);

  /* Frame objects: the frame chain itself until 3.10. */
#if PY_VERSION_HEX < 0x030B0000
  OFF(kFrameBack, PyFrameObject, f_back);
  OFF(kFrameCode, PyFrameObject, f_code);
  OFF(kFrameLasti, PyFrameObject, f_lasti);
  OFF(kFrameLineno, PyFrameObject, f_lineno);
  SIZE(kSizeofFrameObject, PyFrameObject);
#endif

  /* Interpreter frames (3.11+). */
#if PY_VERSION_HEX >= 0x030B0000
  OFF(kIframePrevious, _PyInterpreterFrame, previous);
#if PY_VERSION_HEX < 0x030D0000
  OFF(kIframeCode, _PyInterpreterFrame, f_code);
  OFF(kIframeInstr, _PyInterpreterFrame, prev_instr);
#else
  OFF(kIframeCode, _PyInterpreterFrame, f_executable);
  OFF(kIframeInstr, _PyInterpreterFrame, instr_ptr);
#endif
  OFF(kIframeOwner, _PyInterpreterFrame, owner);
#if PY_VERSION_HEX < 0x030C0000
  OFF(kIframeIsEntry, _PyInterpreterFrame, is_entry);
#endif
  SIZE(kSizeofInterpreterFrame, _PyInterpreterFrame);
#endif

  /* Code objects. */
  OFF(kCodeFilename, PyCodeObject, co_filename);
  OFF(kCodeName, PyCodeObject, co_name);
#if PY_VERSION_HEX >= 0x030B0000
  OFF(kCodeQualname, PyCodeObject, co_qualname);
#endif
  OFF(kCodeFirstlineno, PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX < 0x030A0000
  OFF(kCodeLnotab, PyCodeObject, co_lnotab);
#else
  OFF(kCodeLinetable, PyCodeObject, co_linetable);
#endif
#if PY_VERSION_HEX >= 0x030B0000
  OFF(kCodeCodeAdaptive, PyCodeObject, co_code_adaptive);
  /* Still present in 3.13 even though layout.h documents 3.11-3.12. */
  OFF(kCodeFirstTraceable, PyCodeObject, _co_firsttraceable);
#endif
  SIZE(kSizeofCode, PyCodeObject);

  /* Appended to the enum after its first release. */
#if PY_VERSION_HEX >= 0x03030000
  /* PyASCIIObject.state: interned:2, kind:3, compact:1, ascii:1 with the
   * GIL; free-threaded 3.14+ make interned a whole byte, moving the rest. */
  STATE_BIT(kUnicodeKindBit, kind);
  STATE_BIT(kUnicodeCompactBit, compact);
  STATE_BIT(kUnicodeAsciiBit, ascii);
#endif
#if PY_VERSION_HEX >= 0x030D0000 && defined(Py_GIL_DISABLED)
  /* Free-threaded builds can run with the GIL off (the default) or on. */
  OFF(kGilEnabled, struct _gil_runtime_state, enabled);
#endif
#if PY_VERSION_HEX >= 0x030E0000 && defined(Py_GIL_DISABLED)
  /* Per-thread bytecode: instr_ptr points into co_tlbc->entries[idx]. */
  OFF(kIframeTlbcIndex, _PyInterpreterFrame, tlbc_index);
  OFF(kCodeTlbc, PyCodeObject, co_tlbc);
#endif
#if PY_VERSION_HEX >= 0x030F0000
  /* The sentinel at the bottom of every thread's frame chain. */
  OFF(kTstateBaseFrame, PyThreadState, base_frame);
#endif
#if PY_VERSION_HEX >= 0x030B0000
  /* asyncio tasks read as Python objects (src/python/async_tasks_weakset.cc:
   * every task before 3.14, pure-Python tasks from 3.14 on): reached
   * through sys.modules, dicts, instance attributes, sets and weak
   * references; a coroutine's awaited object is its frame's stack top. */
  OFF(kTypeName, PyTypeObject, tp_name);
  OFF(kTypeFlags, PyTypeObject, tp_flags);
  OFF(kTypeBasicsize, PyTypeObject, tp_basicsize);
  OFF(kTypeDictoffset, PyTypeObject, tp_dictoffset);
  OFF(kTypeBase, PyTypeObject, tp_base);
  OFF(kHeapTypeCachedKeys, PyHeapTypeObject, ht_cached_keys);
  printf("FIELD kTpflagsManagedDict %lu\n",
         (unsigned long)Py_TPFLAGS_MANAGED_DICT);
  {
    /* Where an object's managed dict (and values) live, as the headers'
     * own accessors compute it, on a fake object of a managed-dict type. */
    static PyTypeObject type;
    static PyObject* words[64];
    PyObject* o = (PyObject*)&words[32];
    memset(&type, 0, sizeof(type));
    type.tp_flags = Py_TPFLAGS_MANAGED_DICT;
    type.tp_basicsize = sizeof(PyObject);
    Py_SET_TYPE(o, &type);
#if PY_VERSION_HEX < 0x030C0000
    printf("FIELD kManagedDictBefore %ld\n",
           (long)((char*)o - (char*)_PyObject_ManagedDictPointer(o)));
    printf("FIELD kManagedValuesBefore %ld\n",
           (long)((char*)o - (char*)_PyObject_ValuesPointer(o)));
#elif PY_VERSION_HEX < 0x030D0000
    printf("FIELD kManagedDictBefore %ld\n",
           (long)((char*)o - (char*)_PyObject_DictOrValuesPointer(o)));
#else
    type.tp_flags |= Py_TPFLAGS_INLINE_VALUES;
    printf("FIELD kTpflagsInlineValues %lu\n",
           (unsigned long)Py_TPFLAGS_INLINE_VALUES);
    printf("FIELD kManagedDictBefore %ld\n",
           (long)((char*)o - (char*)_PyObject_ManagedDictPointer(o)));
    printf("FIELD kInlineValuesAfter %ld\n",
           (long)((char*)_PyObject_InlineValues(o) - (char*)o));
#endif
  }
  OFF(kDictKeys, PyDictObject, ma_keys);
  OFF(kDictValues, PyDictObject, ma_values);
  OFF(kDictKeysLog2Size, PyDictKeysObject, dk_log2_size);
  OFF(kDictKeysLog2IndexBytes, PyDictKeysObject, dk_log2_index_bytes);
  OFF(kDictKeysKind, PyDictKeysObject, dk_kind);
  OFF(kDictKeysNentries, PyDictKeysObject, dk_nentries);
  OFF(kDictKeysIndices, PyDictKeysObject, dk_indices);
  OFF(kDictEntryKey, PyDictKeyEntry, me_key);
  OFF(kDictEntryValue, PyDictKeyEntry, me_value);
  SIZE(kSizeofDictEntry, PyDictKeyEntry);
  OFF(kDictUnicodeEntryKey, PyDictUnicodeEntry, me_key);
  OFF(kDictUnicodeEntryValue, PyDictUnicodeEntry, me_value);
  SIZE(kSizeofDictUnicodeEntry, PyDictUnicodeEntry);
  OFF(kDictValuesValues, PyDictValues, values);
#if PY_VERSION_HEX >= 0x030D0000
  OFF(kDictValuesValid, PyDictValues, valid);
#endif
  OFF(kSetMask, PySetObject, mask);
  OFF(kSetTable, PySetObject, table);
  OFF(kWeakrefObject, PyWeakReference, wr_object);
  OFF(kTupleItem, PyTupleObject, ob_item);
  OFF(kListItem, PyListObject, ob_item);
  OFF(kCellRef, PyCellObject, ob_ref);
  OFF(kCFunctionMl, PyCFunctionObject, m_ml);
  OFF(kCFunctionSelf, PyCFunctionObject, m_self);
  OFF(kMethodFunc, PyMethodObject, im_func);
  OFF(kMethodSelf, PyMethodObject, im_self);
  OFF(kFunctionClosure, PyFunctionObject, func_closure);
  OFF(kFunctionQualname, PyFunctionObject, func_qualname);
  OFF(kModuleDict, PyModuleObject, md_dict);
#if PY_VERSION_HEX < 0x030C0000
  OFF(kInterpModules, PyInterpreterState, modules);
#else
  OFF(kInterpModules, PyInterpreterState, imports.modules);
#endif
  OFF(kGenIframe, PyGenObject, gi_iframe);
  OFF(kGenFrameState, PyGenObject, gi_frame_state);
#if PY_VERSION_HEX < 0x030E0000
  /* 3.14 keeps a stack pointer instead (_Py_DebugOffsets has it). */
  OFF(kIframeStacktop, _PyInterpreterFrame, stacktop);
#endif
  OFF(kIframeLocalsplus, _PyInterpreterFrame, localsplus);
#if PY_VERSION_HEX < 0x030C0000
  printf("FIELD kOpcodeResume %d\n", RESUME);
  printf("FIELD kOpcodeResumeVariant %d\n", RESUME_QUICK);
#elif PY_VERSION_HEX < 0x030D0000
  printf("FIELD kOpcodeResume %d\n", RESUME);
  printf("FIELD kOpcodeResumeVariant %d\n", INSTRUMENTED_RESUME);
#elif PY_VERSION_HEX < 0x030E0000
  /* 3.14+: the _asyncio module's own debug offsets give it. */
  OFF(kTstateAsyncioRunningLoop, _PyThreadStateImpl, asyncio_running_loop);
#endif
#if PY_VERSION_HEX >= 0x030C0000
  /* An unnamed task's name is its counter N, an int (Task-N). */
  OFF(kLongLvTag, PyLongObject, long_value.lv_tag);
  OFF(kLongDigit, PyLongObject, long_value.ob_digit);
#endif
  /* A C type's declared slots, for objects whose struct is private to
   * their module (functools.partial's func and args). */
  OFF(kTypeMembers, PyTypeObject, tp_members);
  OFF(kMemberDefName, PyMemberDef, name);
  OFF(kMemberDefOffset, PyMemberDef, offset);
  SIZE(kSizeofMemberDef, PyMemberDef);
#endif
  return 0;
}
