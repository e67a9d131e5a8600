# -*- coding: utf-8 -*-
"""Stack-truth workload for the `pystrobe dump` integration tests.

Usage: python stacks.py TRUTH_JSON MODULE_DIR

Starts threads that each report their own stack (traceback.extract_stack()),
their thread ids and OS thread name, and then block forever ON THE SAME LINE in
a C-level call (os.read on a pipe that nobody writes), so the stack a profiler
sees while the thread waits is exactly the one reported. One more thread spins
in pure Python. When every thread has reported, the main thread reports its own
stack, writes TRUTH_JSON atomically (temp file + rename) and blocks the same
way.

Why os.read on a private pipe and not a lock: /proc/PID/task/TID/syscall then
shows `read(fd)` with that thread's own fd, so the test can see from outside
that each thread really sits in its blocking call (and not between its report
and the call) before it takes a dump. The spinner closes a reported fd (a high
number nothing else will reuse) right before it enters its loop, for the same
reason.

MODULE_DIR receives generated modules with non-ASCII file names (UCS1, UCS2
and UCS4 on Python 3; UTF-8 bytes on Python 2) whose functions have non-ASCII
names on Python 3. The source of this file stays ASCII and valid Python 2.7.
"""

import inspect
import json
import os
import platform
import sys
import threading
import traceback

try:
    import _thread as thread_module  # Python 3
except ImportError:  # Python 2
    import thread as thread_module

PY3 = sys.version_info[0] >= 3
HAS_QUALNAME = sys.version_info >= (3, 11)
DEEP_FRAMES = 250
NAMED_THREAD = b"strobe-named"  # <= 15 bytes: the kernel's TASK_COMM_LEN

_lock = threading.Lock()
_reported = threading.Condition(_lock)
_reports = []
_spin_info = {}


def _libc():
    import ctypes
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return ctypes.CDLL("libc.so.6", use_errno=True)


def _native_id():
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    # Before 3.8 Python does not expose the kernel TID: ask the kernel.
    nr_gettid = {"x86_64": 186, "aarch64": 178, "i686": 224,
                 "i386": 224}[platform.machine()]
    return _libc().syscall(nr_gettid)


def _comm(native_id):
    with open("/proc/self/task/%d/comm" % native_id, "rb") as f:
        return f.read().rstrip(b"\n").decode("utf-8", "replace")


def _text(s):
    # Python 2 file names are bytes; the JSON truth holds them as text.
    if not PY3 and isinstance(s, str):
        return s.decode("utf-8")
    return s


def _report(kind, stack, fd, depth=1):
    """Records the stack of the frame `depth` levels up (the one that called
    extract_stack()); returns None so that `or` goes on to the blocking call.
    """
    qualnames = None
    if HAS_QUALNAME:
        # extract_stack() has no qualname: walk the same frames ourselves.
        chain = []
        f = sys._getframe(depth)
        while f is not None:
            chain.append((f.f_code.co_name, f.f_lineno, f.f_code.co_qualname))
            f = f.f_back
        chain.reverse()
        if [(c[0], c[1]) for c in chain] != [(fs[2], fs[1]) for fs in stack]:
            raise AssertionError("frame chain and extract_stack disagree")
        qualnames = [c[2] for c in chain]
    frames = []
    for i, fs in enumerate(stack):
        frame = {"file": _text(fs[0]), "line": fs[1], "function": _text(fs[2])}
        if qualnames is not None:
            frame["qualname"] = qualnames[i]
        frames.append(frame)
    native_id = _native_id()
    entry = {
        "kind": kind,
        "thread_id": thread_module.get_ident(),
        "native_id": native_id,
        "name": _comm(native_id),
        "fd": fd,
        "frames": frames,  # outermost first, as extract_stack() gives them
    }
    with _reported:
        _reports.append(entry)
        _reported.notify_all()


def _pipe():
    r, w = os.pipe()
    _pipe.keep.append(w)  # the write end stays open: read() blocks forever
    return r


_pipe.keep = []


# --- the threads ------------------------------------------------------------

def _recurse(n, fd):
    if n > 1:
        return _recurse(n - 1, fd)
    return _report("deep", traceback.extract_stack(), fd) or os.read(fd, 1)


def _deep_thread():
    _recurse(DEEP_FRAMES, _pipe())


def _named_thread():
    # PR_SET_NAME: servers name their threads this way; Python's own thread
    # names never reach the kernel (before 3.14).
    if _libc().prctl(15, NAMED_THREAD, 0, 0, 0) != 0:
        raise OSError("prctl(PR_SET_NAME) failed")
    fd = _pipe()
    _report("named", traceback.extract_stack(), fd) or os.read(fd, 1)


def _generator(fd):
    yield 0
    _report("generator", traceback.extract_stack(), fd) or os.read(fd, 1)
    yield 1


def _generator_thread():
    for _ in _generator(_pipe()):
        pass


class Outer(object):
    class Inner(object):
        def method(self, fd):
            _report("nested", traceback.extract_stack(), fd) or os.read(fd, 1)


def _nested_thread():
    Outer.Inner().method(_pipe())


def _spin(fd):
    os.close(fd)  # tells the test that the loop below is all that runs now
    n = 0
    while True:
        n += 1


# Far above any descriptor the workload opens otherwise, so that when it
# disappears from /proc/PID/fd it was this close() and not a reuse.
SPIN_SIGNAL_FD = 500


def _spinner_thread():
    os.dup2(_pipe(), SPIN_SIGNAL_FD)
    fd = SPIN_SIGNAL_FD
    _report("spinner", traceback.extract_stack(), fd) or _spin(fd)


# --- generated modules with non-ASCII file and function names ----------------

# (kind, file name, function name) as escapes, so this file stays ASCII.
_PY3_MODULES = [
    ("ucs1", u"mod\u00fcl\u00e9.py", u"caf\u00e9"),
    ("ucs2", u"\u6a21\u5757.py", u"\u95a2\u6570"),
    ("ucs4", u"\U00020000\U00020001.py", u"\U00020000"),
]

_MODULE_SOURCE = u"""import os
import traceback


def %(function)s(report, fd):
    return report(%(kind)r, traceback.extract_stack(), fd) or os.read(fd, 1)
"""


def _load_modules(module_dir):
    """Returns [(kind, function)] loaded from files written to module_dir."""
    if PY3:
        specs = _PY3_MODULES
    else:
        # Python 2: file names are bytes; identifiers must be ASCII.
        specs = [("bytes", b"mod\xc3\xbcl\xc3\xa9.py", "ascii_in_utf8_file")]
    loaded = []
    for kind, file_name, function in specs:
        path = os.path.join(module_dir, file_name)
        source = _MODULE_SOURCE % {"function": function, "kind": str(kind)}
        with open(path, "wb") as f:
            f.write(source.encode("utf-8"))
        namespace = {"__name__": "strobe_" + kind}
        # compile() with the real path gives co_filename == path, as import
        # would, without depending on import machinery that differs by version.
        exec(compile(source, path, "exec"), namespace)
        loaded.append((kind, namespace[function]))
    return loaded


def _module_thread(function):
    function(_report, _pipe())


# --- main --------------------------------------------------------------------

def _write_truth(path):
    spin_lines, spin_first = inspect.getsourcelines(_spin)
    truth = {
        "pid": os.getpid(),
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "has_qualname": HAS_QUALNAME,
        "free_threaded": _free_threaded(),
        "gil_enabled": _gil_enabled(),
        "machine": platform.machine(),
        "spin": {
            "function": "_spin",
            "file": _text(_spin.__code__.co_filename),
            "first_line": spin_first,
            "last_line": spin_first + len(spin_lines) - 1,
        },
        "threads": _reports,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def _free_threaded():
    try:
        import sysconfig
        return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    except Exception:  # no sysconfig data: not a free-threaded build
        return False


def _gil_enabled():
    is_enabled = getattr(sys, "_is_gil_enabled", None)  # 3.13+
    return True if is_enabled is None else bool(is_enabled())


def _main_report(stack, fd, truth_path):
    _report("main", stack, fd, depth=2)
    _write_truth(truth_path)


def main():
    truth_path, module_dir = sys.argv[1], sys.argv[2]
    targets = [_deep_thread, _named_thread, _generator_thread, _nested_thread,
               _spinner_thread]
    for _, function in _load_modules(module_dir):
        targets.append(lambda function=function: _module_thread(function))
    for target in targets:
        t = threading.Thread(target=target)
        t.daemon = True
        t.start()
    with _reported:
        while len(_reports) < len(targets):
            _reported.wait()
    fd = _pipe()
    _main_report(traceback.extract_stack(), fd, truth_path) or os.read(fd, 1)


if __name__ == "__main__":
    main()
