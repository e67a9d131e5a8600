"""A service with thousands of distinct stacks, mostly waiting.

usage: many_stacks_service.py READY_FILE [THREADS] [PATHS]

THREADS worker threads (default 4) each handle "requests" in a loop: a
request walks one of PATHS (default 3000) fixed call paths, 8 to 60 frames
deep through 24 handler functions (handler_00 .. handler_23), spins about
0.1 ms at the bottom and then waits 5 ms there (time.sleep): a new stack
every ~5 ms per thread, every path visited every ~15 s per thread, so a
recording sees thousands of distinct stacks (more with --idle, which keeps
the waiting threads) and about 10% of one core of Python work. The paths are
drawn from a fixed seed: every run has the same set. Writes its PID to
READY_FILE once the threads run; runs until killed.
"""
import os
import random
import sys
import threading
import time

FUNCS = 24


def leaf():
    end = time.perf_counter() + 0.0001
    while time.perf_counter() < end:
        pass
    time.sleep(0.005)


def make_handler(k):
    src = ("def handler_%02d(path, i):\n"
           "    if i + 1 >= len(path):\n"
           "        return leaf()\n"
           "    return HANDLERS[path[i + 1]](path, i + 1)\n" % k)
    exec(compile(src, __file__, "exec"), globals())
    return globals()["handler_%02d" % k]


HANDLERS = [make_handler(k) for k in range(FUNCS)]


def worker(paths, seed):
    rng = random.Random(seed)
    order = list(range(len(paths)))
    while True:
        rng.shuffle(order)
        for i in order:
            p = paths[i]
            HANDLERS[p[0]](p, 0)


def main():
    ready = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    npaths = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    sys.setrecursionlimit(1000)
    rng = random.Random(1234)
    paths = [[rng.randrange(FUNCS) for _ in range(rng.randint(8, 60))]
             for _ in range(npaths)]
    for t in range(threads):
        threading.Thread(target=worker, args=(paths, t), daemon=True,
                         name="worker-%d" % t).start()
    tmp = ready + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(tmp, ready)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
