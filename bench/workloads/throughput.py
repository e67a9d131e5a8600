"""A CPU-bound target that measures its own throughput.

usage: throughput.py SECONDS READY_FILE [DEPTH [GO_FILE]]

Calls a fixed function (a small pure-Python computation at the bottom of a
DEPTH-deep stack, default 20) for SECONDS of wall time and prints one JSON
line: calls, wall seconds, CPU seconds (time.thread_time), calls per wall
second and per CPU second. A sampler slows the target down; comparing the
rates with and without it measures by how much. READY_FILE receives the PID
once the work starts, so a sampler can attach at the right moment. With
GO_FILE, the clock starts only once that file exists, so that two targets
measured side by side (one sampled, one not) measure the same window.
"""
import json
import os
import sys
import time


def work():
    s = 0
    for i in range(200):
        s += i * i % 7
    return s


def nest(n):
    if n <= 0:
        return work()
    return nest(n - 1)


def main():
    seconds = float(sys.argv[1])
    path = sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    # Warm up (3.11+ specializes the code) before the clock starts.
    for _ in range(1000):
        nest(depth)
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(path + ".tmp", path)
    if len(sys.argv) > 4:
        while not os.path.exists(sys.argv[4]):
            time.sleep(0.001)
    calls = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    end = t0 + seconds
    while True:
        for _ in range(100):
            nest(depth)
        calls += 100
        now = time.perf_counter()
        if now >= end:
            break
    wall, cpu = now - t0, time.thread_time() - c0
    print(json.dumps({"calls": calls, "wall_s": wall, "cpu_s": cpu,
                      "per_wall_s": calls / wall, "per_cpu_s": calls / cpu}))


if __name__ == "__main__":
    main()
