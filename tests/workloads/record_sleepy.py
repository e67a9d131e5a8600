"""Half-sleeping workload for the `pystrobe record` wall vs cpu tests.

Usage: python record_sleepy.py DIR

One thread (the main one) alternates spin_busy (a pure Python loop burning a
random 20-60 ms of CPU) and nap (time.sleep of a random 20-60 ms), so it
sleeps about half of the time and its CPU time is about half of the wall
time. Same DIR protocol as record_split.py (ready, start, stop, truth.json).

truth.json: {"pid", "window_start_unix_s", "window_s", "nap_wall_s" (wall
time spent inside nap over the window), "thread_cpu_s", "process_cpu_s"
(time.thread_time() and time.process_time() deltas over the window),
"points": [[unix_s, thread_cpu_s], ...]} where points are (time.time(),
time.thread_time()) read at every phase boundary while measuring, so that a
test can work out the CPU time of any sub-window (the CPU clock stands still
during a nap and advances at most at wall speed during a spin), and "naps":
[[begin_unix_s, end_unix_s], ...], the wall intervals spent in nap.
"""

import json
import os
import random
import sys
import time

thread_time = time.thread_time


def spin_busy(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def nap(seconds):
    time.sleep(seconds)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    directory = sys.argv[1]
    start_path = os.path.join(directory, "start")
    stop_path = os.path.join(directory, "stop")
    rng = random.Random()
    measuring = False
    ready = False
    points = []
    naps = []
    nap_wall = 0.0
    wall0 = cpu0 = proc0 = 0.0
    give_up = time.time() + 600
    while time.time() < give_up:
        if not measuring and os.path.exists(start_path):
            wall0, cpu0, proc0 = time.time(), thread_time(), time.process_time()
            points = [[wall0, cpu0]]
            naps = []
            nap_wall = 0.0
            measuring = True
        if measuring and (os.path.exists(stop_path) or
                          time.time() - wall0 > 60):
            break
        spin_busy(rng.uniform(0.020, 0.060))
        if measuring:
            points.append([time.time(), thread_time()])
        before = time.time()
        nap(rng.uniform(0.020, 0.060))
        after = time.time()
        if measuring:
            nap_wall += after - before
            naps.append([before, after])
            points.append([after, thread_time()])
        if not ready:
            write_atomically(os.path.join(directory, "ready"),
                             "%d\n" % os.getpid())
            ready = True
    end_wall, end_cpu = time.time(), thread_time()
    points.append([end_wall, end_cpu])
    truth = {
        "pid": os.getpid(),
        "window_start_unix_s": wall0,
        "window_s": end_wall - wall0,
        "nap_wall_s": nap_wall,
        "thread_cpu_s": end_cpu - cpu0,
        "process_cpu_s": time.process_time() - proc0,
        "points": points,
        "naps": naps,
    }
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


if __name__ == "__main__":
    main()
