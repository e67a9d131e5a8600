"""Periodic workload for the `pystrobe record` aliasing test.

Usage: python record_periodic.py DIR CYCLE_US [AHEAD_FRACTION]

One thread (the main one) runs a cycle locked to the wall clock: cycles
start every CYCLE_US microseconds on a fixed time.perf_counter() grid (the
monotonic clock, as a sampler's); ahead() spins until AHEAD_FRACTION
(default 0.3) of the cycle, behind() sleeps until the next cycle start. A
cycle that starts late (preempted, a long sleep) is shortened, never
shifted: the phase against the grid stays, as in a timer or a frame loop.
It measures the wall time it spends in each function itself.

Protocol, through files in DIR:
- DIR/ready  written (atomically) once the cycles run;
- DIR/start  created by the test right before it starts the profiler: the
             workload zeroes its counters;
- DIR/stop   created by the test once the profiler is done: the workload
             writes DIR/truth.json atomically and exits 0 (it also stops
             after 10 minutes).
truth.json: {"pid", "cycle_s", "cycles", "ahead_s", "behind_s"}.
"""

import json
import os
import sys
import time

clock = time.perf_counter


def ahead(until):
    while clock() < until:
        pass


def behind(until):
    left = until - clock()
    if left > 0:
        time.sleep(left)


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    directory = sys.argv[1]
    cycle = float(sys.argv[2]) / 1e6
    fraction = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    start_path = os.path.join(directory, "start")
    stop_path = os.path.join(directory, "stop")
    spent = {"ahead": 0.0, "behind": 0.0}
    cycles = 0
    measuring = False
    # Check the files about every 50 ms, whatever the cycle.
    check_every = max(1, int(0.05 / cycle))
    give_up = time.time() + 600
    grid = clock()
    n = 0
    while True:
        t0 = clock()
        ahead(grid + fraction * cycle)
        t1 = clock()
        behind(grid + cycle)
        t2 = clock()
        spent["ahead"] += t1 - t0
        spent["behind"] += t2 - t1
        cycles += 1
        grid += cycle
        now = clock()
        if now > grid:  # late: the next cycle keeps its place on the grid
            grid += cycle * int((now - grid) / cycle)
        n += 1
        if n == 1:
            write_atomically(os.path.join(directory, "ready"),
                             "%d\n" % os.getpid())
        if n % check_every == 0:
            if not measuring and os.path.exists(start_path):
                spent = {"ahead": 0.0, "behind": 0.0}
                cycles = 0
                measuring = True
            elif measuring and os.path.exists(stop_path):
                break
            if time.time() > give_up:
                break
    truth = {"pid": os.getpid(), "cycle_s": cycle, "cycles": cycles,
             "ahead_s": spent["ahead"], "behind_s": spent["behind"]}
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


if __name__ == "__main__":
    main()
