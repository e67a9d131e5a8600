"""Workload for `pystrobe top` (tests/integration/top_test.cc).

Usage: python top_hot.py DIR

The main thread spins in hot_function_for_top (its whole time); a thread
named "napper" (also its OS name) sleeps in nap_in_helper (seen only with --idle). Every 0.2 s
the main thread rewrites DIR/beats with its count of loops, so a test can
tell that the target kept running. Writes DIR/ready (atomically) once it
runs; runs until killed (at most 10 minutes).
"""

import os
import sys
import threading
import time


def set_os_thread_name(name):
    # What /proc/PID/task/TID/comm (and so pystrobe) shows; Python threads'
    # own names do not reach the OS before 3.14.
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def nap_in_helper():
    set_os_thread_name("napper")
    while True:
        time.sleep(0.05)


def hot_function_for_top(seconds):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        n += 1
    return n


def main():
    directory = sys.argv[1]
    threading.Thread(target=nap_in_helper, name="napper", daemon=True).start()
    beats = 0
    give_up = time.time() + 600
    while time.time() < give_up:
        hot_function_for_top(0.2)
        beats += 1
        tmp = os.path.join(directory, "beats.tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % beats)
        os.rename(tmp, os.path.join(directory, "beats"))
        if beats == 1:
            tmp = os.path.join(directory, "ready.tmp")
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.rename(tmp, os.path.join(directory, "ready"))


if __name__ == "__main__":
    main()
