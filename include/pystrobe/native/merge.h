// Merging a thread's native stack with its Python stack.
//
// Each C-level call of the interpreter's eval function (PyEval_EvalFrameEx
// on 2.7, _PyEval_EvalFrameDefault on 3.x) runs one group of Python frames:
// one frame on <= 3.10, one or more on 3.11+ (Frame::entry marks the
// outermost frame of each group). The merged stack replaces the k-th eval
// frame (counted from the innermost) by the k-th group, in order:
//
//   native: burn_c  _PyEval_EvalFrameDefault  cfunction_call  burn_c  ...
//   python: [callback] [main, <module>]
//   merged: burn_c  callback  burn_c  main  <module>
//
// When the number of eval frames and of groups disagree (a native unwind
// cut short, a thread caught between pushing a frame and entering the eval
// loop) nothing is guessed: MergeNativeStack returns false and the caller
// keeps the Python frames alone and counts the thread's sample as a merge
// failure.
//
// By default the interpreter's own call machinery (the eval loop, call and
// vectorcall trampolines) is folded, and so is everything outside the
// outermost Python frame (process and thread start-up); `keep_all`
// (--native-all) keeps every frame.
#ifndef PYSTROBE_NATIVE_MERGE_H_
#define PYSTROBE_NATIVE_MERGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "pystrobe/native/native_unwinder.h"
#include "pystrobe/python/python_process.h"
#include "pystrobe/python/version.h"

namespace pystrobe {

// Which native frames are the interpreter's: those in its binary
// (libpython or the executable, compared by file name), named as the
// version names them.
class InterpreterFrames {
 public:
  InterpreterFrames(const PythonVersion& version, std::string_view binary);

  // An eval-function frame (one group of Python frames).
  bool IsEval(const NativeSymbol& symbol) const;
  // Call machinery that says nothing to a user (folded by default).
  bool IsMachinery(const NativeSymbol& symbol) const;

 private:
  bool InInterpreter(const NativeSymbol& symbol) const;
  std::string eval_name_;
  std::string binary_name_;
};

struct MergeOptions {
  bool keep_all = false;  // --native-all
};

// Writes the merged stack (innermost first) into `out` and returns true,
// or returns false (and leaves `out` empty) when the eval frames of
// `native` and the groups of `python` do not pair up.
bool MergeNativeStack(const std::vector<Frame>& python,
                      const std::vector<NativeFrame>& native,
                      const InterpreterFrames& interpreter,
                      const MergeOptions& options, std::vector<Frame>* out);

}  // namespace pystrobe

#endif  // PYSTROBE_NATIVE_MERGE_H_
