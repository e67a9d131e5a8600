"""A CPU-bound loop that reads its own CPU clock between work items.

With more runnable threads than CPUs, the scheduler preempts it at the
clock call far more often than elsewhere (EEVDF notices an expired slice
when the call updates the thread's runtime), and it waits there, state R,
holding the GIL. Its truth, measured without pystrobe: the CPU time one
clock line costs (a calibration loop of the same line, less the loop's own
cost) times the calls made, over the thread's CPU time in the loop.

usage: cpu_wait_workload.py SECONDS READY_FILE RESULT_FILE
"""
import json
import sys
import time


def work():
    x = 0
    for i in range(3000):
        x += i
    return x


def calibrate(n=300000):
    clock = time.thread_time
    c0 = clock()
    for _ in range(n):
        t = clock()  # the same line as in main()'s loop
    c1 = clock()
    for _ in range(n):
        pass
    c2 = clock()
    return max((c1 - c0) - (c2 - c1), 0.0) / n


def main():
    seconds = float(sys.argv[1])
    per_call = min(calibrate(), calibrate())
    clock = time.thread_time
    end = time.monotonic() + seconds
    calls = 0
    import threading
    stat = "/proc/self/task/%d/schedstat" % threading.get_native_id()
    s0 = [int(x) for x in open(stat).read().split()]
    w0 = time.monotonic()
    start = clock()
    with open(sys.argv[2], "w") as f:
        f.write("ready\n")
    while time.monotonic() < end:
        t = clock()  # CLOCK LINE
        work()
        calls += 1
    total = clock() - start
    s1 = [int(x) for x in open(stat).read().split()]
    wall = time.monotonic() - w0
    line = next(i + 1 for i, text in enumerate(open(__file__))
                if text.rstrip().endswith("# CLOCK LINE"))
    with open(sys.argv[3], "w") as f:
        json.dump({"per_call_s": per_call, "calls": calls, "cpu_s": total,
                   "clock_line": line,
                   "wait_share": (s1[1] - s0[1]) / 1e9 / wall,
                   "mean_wait_ms": (s1[1] - s0[1]) / 1e6 / max(s1[2] - s0[2], 1),
                   "truth_share": per_call * calls / total}, f)


main()
