#include "pystrobe/native/merge.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "pystrobe/base/text.h"

namespace pystrobe {
namespace {

// The symbol without the suffixes GCC gives to parts and clones of a
// function (".cold", ".isra.0", ".constprop.0", ".lto_priv.0").
std::string_view BaseName(std::string_view function) {
  return function.substr(0, function.find('.'));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// CPython's own ways from one Python call to the next, 2.7 to 3.15: the
// eval loop's entry points, the generic call API and its vectorcall
// trampolines, and the call helpers of builtin functions and methods.
// Names of functions that do work a user may want to see (builtin_sorted,
// list_sort_impl, time_sleep, PyObject_GetAttr...) are not here.
constexpr std::array<std::string_view, 19> kMachineryPrefixes = {
    "_Py_VectorCall",  // 3.15: _Py_VectorCallInstrumentation_StackRefSteal
    "_PyEval_",
    "PyEval_",
    "_PyObject_Call",
    "PyObject_Call",
    "_PyObject_Vectorcall",
    "PyObject_Vectorcall",
    "_PyObject_FastCall",
    "_PyObject_MakeTpCall",
    "_PyFunction_",
    "PyVectorcall_",
    "_PyVectorcall_",
    "cfunction_",
    "method_vectorcall",
    "_PyCFunction_",
    "PyCFunction_Call",
    "_PyMethodDef_Raw",
    "_PyMethodDescr_",
    "vectorcall_",
};
constexpr std::array<std::string_view, 14> kMachineryNames = {
    "call_function",       "fast_function",
    "do_call_core",        "ext_do_call",
    "function_call",       "function_code_fastcall",
    "slot_tp_call",        "method_call",
    "object_vacall",       "callmethod",
    "call_trampoline",     "_Py_call_instrumentation",
    "PyObject_Vectorcall", "_PyObject_VectorcallTstate",
};

// 3.12+: each eval call keeps the entry frame below its group of Python
// frames in its own C stack frame, so the native frame whose stack range
// holds a group's entry frame address is that group's eval call, named or
// not (a stripped executable whose .dynsym does not name its eval loop).
// Every group must have its address, found in native frames from the
// innermost out; then `is_eval` marks exactly those frames.
bool EvalFramesByAddress(const std::vector<Frame>& python,
                         const std::vector<NativeFrame>& native,
                         std::vector<bool>* is_eval) {
  std::vector<bool> found(native.size(), false);
  size_t next = 0;  // native frames inner to this one are taken
  for (const Frame& f : python) {
    if (!f.entry) continue;
    if (f.entry_frame == 0) return false;
    bool placed = false;
    // The outermost native frame has no known upper end: never taken
    // (an eval call always has callers: its caller's frame bounds it).
    for (size_t i = next; i + 1 < native.size() && !placed; ++i) {
      const uint64_t low = native[i].sp;
      const uint64_t high = native[i + 1].sp;
      if (low != 0 && low <= f.entry_frame && f.entry_frame < high) {
        found[i] = true;
        next = i + 1;
        placed = true;
      }
    }
    if (!placed) return false;
  }
  *is_eval = std::move(found);
  return true;
}

}  // namespace

InterpreterFrames::InterpreterFrames(const PythonVersion& version,
                                     std::string_view binary)
    : eval_name_(version.major == 2 ? "PyEval_EvalFrameEx"
                                    : "_PyEval_EvalFrameDefault"),
      binary_name_(Basename(binary)) {}

bool InterpreterFrames::InInterpreter(const NativeSymbol& symbol) const {
  return binary_name_.empty() || Basename(symbol.module) == binary_name_;
}

bool InterpreterFrames::IsEval(const NativeSymbol& symbol) const {
  return BaseName(symbol.function) == eval_name_ && InInterpreter(symbol);
}

bool InterpreterFrames::IsMachinery(const NativeSymbol& symbol) const {
  if (!InInterpreter(symbol)) return false;
  const std::string_view name = BaseName(symbol.function);
  // A stripped interpreter names only its exported functions; between two
  // Python frames its unnamed (static) ones are call helpers.
  if (name.empty()) return true;
  for (std::string_view prefix : kMachineryPrefixes) {
    if (StartsWith(name, prefix)) return true;
  }
  return std::find(kMachineryNames.begin(), kMachineryNames.end(), name) !=
         kMachineryNames.end();
}

bool MergeNativeStack(const std::vector<Frame>& python,
                      const std::vector<NativeFrame>& native,
                      const InterpreterFrames& interpreter,
                      const MergeOptions& options, std::vector<Frame>* out) {
  out->clear();
  // Python frames past the last entry would belong to no eval call.
  if (!python.empty() && !python.back().entry) return false;
  const auto groups = static_cast<size_t>(std::count_if(
      python.begin(), python.end(), [](const Frame& f) { return f.entry; }));
  std::vector<bool> is_eval(native.size());
  size_t evals = 0;
  for (size_t i = 0; i < native.size(); ++i) {
    is_eval[i] = interpreter.IsEval(*native[i].symbol);
    evals += is_eval[i];
  }
  if (evals != groups && !EvalFramesByAddress(python, native, &is_eval)) {
    return false;
  }

  size_t next_python = 0;
  size_t evals_seen = 0;
  for (size_t i = 0; i < native.size(); ++i) {
    const NativeSymbol& symbol = *native[i].symbol;
    if (is_eval[i]) {
      if (options.keep_all) out->push_back(Frame{symbol.code, symbol.line});
      // This call's Python frames, innermost first, up to its entry frame.
      for (bool done = false; !done;) {
        done = python[next_python].entry;
        out->push_back(python[next_python++]);
      }
      ++evals_seen;
      continue;
    }
    // Outside the outermost Python frame: start-up of the process or the
    // thread (main, Py_RunMain, start_thread, clone3...).
    if (!options.keep_all && groups > 0 && evals_seen == groups) break;
    if (!options.keep_all && interpreter.IsMachinery(symbol)) continue;
    out->push_back(Frame{symbol.code, symbol.line});
  }
  return true;
}

}  // namespace pystrobe
