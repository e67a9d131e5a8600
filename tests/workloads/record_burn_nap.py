"""Burn/nap workload for the `pystrobe record --mode cpu` attribution tests.

Usage: python record_burn_nap.py DIR BURN_MS NAP_MS [WARM_MS] [locked]

One thread (the main one) repeats a cycle: warm() burns WARM_MS (default
0: skipped) of CPU time, burn() burns BURN_MS of CPU time, nap() sleeps
NAP_MS (time.sleep). With "locked" the cycle is locked to the wall clock:
cycles start every WARM_MS + BURN_MS + NAP_MS on a fixed monotonic grid and
nap() sleeps until the next start, so the cycle keeps its phase against a
sampler's ticks (what aliasing needs). CPU time is measured with
time.thread_time() (the kernel's accounting of this thread).

Protocol, through files in DIR:
- DIR/ready  written (atomically) once the cycles run;
- DIR/stop   created by the test when it is done: the workload writes
             DIR/truth.json atomically and exits 0 (it also stops after
             10 minutes).
truth.json: {"pid", "python_version", "points": [[wall, cpu, warm, burn,
nap], ...]}: at the start of every 4th cycle, time.time() and the cumulative
thread CPU time overall and in each function, so that a test can take the
truth over exactly the window a profile covers.
"""

import json
import os
import sys
import time

thread_time = time.thread_time


def spin(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def warm(seconds):
    return spin(seconds)


def burn(seconds):
    return spin(seconds)


def nap(seconds):
    if seconds > 0:
        time.sleep(seconds)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    directory = sys.argv[1]
    burn_s = float(sys.argv[2]) / 1000.0
    nap_s = float(sys.argv[3]) / 1000.0
    warm_s = float(sys.argv[4]) / 1000.0 if len(sys.argv) > 4 else 0.0
    locked = len(sys.argv) > 5 and sys.argv[5] == "locked"
    cycle_s = warm_s + burn_s + nap_s
    stop_path = os.path.join(directory, "stop")
    used = {"warm": 0.0, "burn": 0.0, "nap": 0.0}
    points = []
    give_up = time.time() + 600
    grid = time.monotonic()
    n = 0
    while time.time() < give_up:
        # Every 4th cycle: the bookkeeping is CPU of neither function, keep
        # it small.
        if n % 4 == 0:
            points.append([time.time(), thread_time(), used["warm"],
                           used["burn"], used["nap"]])
        if warm_s > 0:
            before = thread_time()
            warm(warm_s)
            used["warm"] += thread_time() - before
        before = thread_time()
        burn(burn_s)
        used["burn"] += thread_time() - before
        before = thread_time()
        if locked:
            grid += cycle_s
            now = time.monotonic()
            while grid < now:  # fell behind: skip to the next start
                grid += cycle_s
            nap(grid - now)
        else:
            nap(nap_s)
        used["nap"] += thread_time() - before
        n += 1
        if n == 1:
            write_atomically(os.path.join(directory, "ready"),
                             "%d\n" % os.getpid())
        if n % 32 == 0 and os.path.exists(stop_path):
            break
    points.append([time.time(), thread_time(), used["warm"], used["burn"],
                   used["nap"]])
    truth = {
        "pid": os.getpid(),
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "points": points,
    }
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


if __name__ == "__main__":
    main()
