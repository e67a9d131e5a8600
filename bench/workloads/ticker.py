"""A CPU-bound target that logs its own progress, for phase-paired slowdown
measurements.

usage: ticker.py SECONDS READY_FILE LOG_FILE

Runs the same fixed function as throughput.py (20 frames deep) for SECONDS
of wall time and records, after every 20 calls, time.perf_counter() (the
host's CLOCK_MONOTONIC, which a controller in another process shares) and
the number of calls so far, and writes them to LOG_FILE as one JSON object
at the end: {"t": [...], "calls": [...]}. (A file, not stdout: under
--blocking a large write to a pipe can be interrupted part way, and CPython
3.8 was seen to lose the tail of a 688 KB print() that way; see
docs/cpython-notes.md.) A controller that switches a sampler on and
off in short phases can then compare each phase's throughput with its
neighbours', which cancels the host's slower drifts in speed.
"""
import json
import os
import sys
import time

from throughput import nest


def main():
    seconds = float(sys.argv[1])
    path = sys.argv[2]
    for _ in range(1000):
        nest(20)
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(path + ".tmp", path)
    ts, counts = [], []
    calls = 0
    clock = time.perf_counter
    end = clock() + seconds
    while True:
        for _ in range(20):
            nest(20)
        calls += 20
        now = clock()
        ts.append(now)
        counts.append(calls)
        if now >= end:
            break
    with open(sys.argv[3] + ".tmp", "w") as f:
        json.dump({"t": ts, "calls": counts}, f)
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])


if __name__ == "__main__":
    main()
