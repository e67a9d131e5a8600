# Workload of tests/integration/native_test.cc.
#   native_burn.py EXT_DIR hold READY_PATH
#     main -> outer -> native_ext.burn_c -> callback -> native_ext.hold_c
#     (writes the Python stack as the target sees it to READY_PATH, as
#     JSON [[function, line], ...] outermost first, then spins in C forever)
#   native_burn.py EXT_DIR deep PAIRS READY_PATH
#     PAIRS times level -> burn_c -> (callback) level ..., then hold_c: a
#     mixed stack of 2 * PAIRS + 4 frames for bench/native_bench.cc
#   native_burn.py EXT_DIR late GO_PATH SECONDS
#     spins until GO_PATH exists, then imports the extension (a dlopen
#     after pystrobe read the maps) and burns in it for SECONDS
#   native_burn.py EXT_DIR burn SECONDS TRUTH_PATH
#     main -> outer -> burn_c(callback) for SECONDS, alternating C spins
#     (burn_spin) and Python work in callback; then writes the CPU split as
#     measured by the target itself:  c_cpu_ns thread_cpu_ns
#   native_burn.py EXT_DIR sleepers SECONDS READY_PATH
#     two threads asleep in the kernel: nap (time.sleep(SECONDS), one call)
#     and wait_for_data (os.read of a pipe nobody writes); writes their
#     TIDs to READY_PATH as JSON {"nap": tid, "read": tid}, then burns in
#     burn_c on the main thread forever
import json
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, sys.argv[1])
MODE = sys.argv[2]
if MODE != "late":
    import native_ext  # noqa: E402


def py_work():
    total = 0
    for i in range(20000):
        total += i * i
    return total


def callback():
    if MODE == "hold":
        native_ext.hold_c(sys.argv[3], json.dumps([[f[2], f[1]] for f in traceback.extract_stack()]))  # noqa: E501
    else:
        py_work()


def level(k):
    if k == 0:
        native_ext.hold_c(sys.argv[4], "ready")
    else:
        native_ext.burn_c(lambda: level(k - 1), 0, 1)


def late():
    global native_ext
    while not os.path.exists(sys.argv[3]):
        pass  # running, so that pystrobe stops it at every tick
    import native_ext
    deadline = time.time() + float(sys.argv[4])
    while time.time() < deadline:
        native_ext.burn_c(callback, 2000000, 10)


def native_id():
    if hasattr(threading, "get_native_id"):
        return threading.get_native_id()
    import ctypes
    return ctypes.CDLL(None).syscall(186)  # gettid on x86-64, for < 3.8


def nap():
    time.sleep(float(sys.argv[3]))


def wait_for_data(fd):
    return os.read(fd, 1)


def sleepers():
    tids = {}
    fds = os.pipe()

    def run(name, target, *args):
        tids[name] = native_id()
        target(*args)

    for args in (("nap", nap), ("read", wait_for_data, fds[0])):
        t = threading.Thread(target=run, args=args)
        t.daemon = True  # 2.7's Thread() takes no daemon=
        t.start()
    while len(tids) < 2:
        time.sleep(0.01)
    with open(sys.argv[4] + ".tmp", "w") as f:
        json.dump(tids, f)
    os.rename(sys.argv[4] + ".tmp", sys.argv[4])
    while True:
        native_ext.burn_c(callback, 2000000, 10)


def outer():
    if MODE == "sleepers":
        sleepers()
        return
    if MODE == "late":
        late()
        return
    if MODE == "deep":
        level(int(sys.argv[3]))
        return
    if MODE == "hold":
        native_ext.burn_c(callback, 1000, 1)
        return
    deadline = time.time() + float(sys.argv[3])
    start = time.thread_time_ns()
    while time.time() < deadline:
        native_ext.burn_c(callback, 2000000, 10)
    total = time.thread_time_ns() - start
    with open(sys.argv[4] + ".tmp", "w") as f:
        f.write("%d %d\n" % (native_ext.c_cpu_ns(), total))
    os.rename(sys.argv[4] + ".tmp", sys.argv[4])


def main():
    outer()


main()
