"""CPU-split workload for the `pystrobe record` accuracy tests.

Usage: python record_split.py DIR [MAX_WINDOW_SECONDS]

One thread (the main one) burns CPU in three functions, burn_twenty,
burn_thirty and burn_fifty, for about 20%, 30% and 50% of its CPU time: each
cycle calls the three in a random order, each for a random CPU time around
its share of a 10 ms cycle (random, so that no fixed period can alias with a
sampler's). It measures its own split with time.thread_time() (CPU time of
this thread only, the kernel's own accounting).

Protocol, through files in DIR:
- DIR/ready  written (atomically) once the workload runs its cycles;
- DIR/start  created by the test right before it starts the profiler: the
             workload zeroes its counters and starts measuring;
- DIR/stop   created by the test once the profiler is done: the workload
             stops measuring (it also stops after MAX_WINDOW_SECONDS, default
             300), writes DIR/truth.json atomically and exits 0.
truth.json: {"pid", "python_version", "window_s" (wall), "total_cpu_s" (this
thread's CPU over the window), "cpu_s": {function: seconds}}.

SIGINT (KeyboardInterrupt) makes it write DIR/interrupted and exit 42, so a
test can tell that the signal reached the Python code.
"""

import json
import os
import random
import sys
import time

thread_time = time.thread_time
CYCLE_S = 0.010


def burn_twenty(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def burn_thirty(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


def burn_fifty(seconds):
    end = thread_time() + seconds
    x = 0
    while thread_time() < end:
        x += 1
    return x


PLAN = [("burn_twenty", burn_twenty, 0.2), ("burn_thirty", burn_thirty, 0.3),
        ("burn_fifty", burn_fifty, 0.5)]


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def run(directory, max_window_s):
    start_path = os.path.join(directory, "start")
    stop_path = os.path.join(directory, "stop")
    cpu = dict((name, 0.0) for name, _, _ in PLAN)
    measuring = False
    wall0 = cpu0 = 0.0
    ready = False
    rng = random.Random()
    # Never outlive a test that lost track of us.
    give_up = time.time() + 600
    while time.time() < give_up:
        if not measuring and os.path.exists(start_path):
            cpu = dict((name, 0.0) for name, _, _ in PLAN)
            wall0, cpu0 = time.time(), thread_time()
            measuring = True
        if measuring and (os.path.exists(stop_path) or
                          time.time() - wall0 > max_window_s):
            break
        plan = list(PLAN)
        rng.shuffle(plan)
        for name, burn, share in plan:
            before = thread_time()
            burn(share * CYCLE_S * rng.uniform(0.5, 1.5))
            cpu[name] += thread_time() - before
        if not ready:
            write_atomically(os.path.join(directory, "ready"),
                             "%d\n" % os.getpid())
            ready = True
    truth = {
        "pid": os.getpid(),
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "window_s": time.time() - wall0,
        "total_cpu_s": thread_time() - cpu0,
        "cpu_s": cpu,
    }
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


def main():
    directory = sys.argv[1]
    max_window_s = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
    try:
        run(directory, max_window_s)
    except KeyboardInterrupt:
        write_atomically(os.path.join(directory, "interrupted"), "SIGINT\n")
        sys.exit(42)


if __name__ == "__main__":
    main()
