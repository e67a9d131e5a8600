"""A threaded service's shape: many Python threads parked at a fixed depth.

usage: service.py THREADS DEPTH BUSY READY_FILE

THREADS Python threads in all (the main thread is one of them), each
recursing until its stack holds DEPTH Python frames; BUSY of them then spin
in a Python loop (on a CPU, taking turns with the GIL), the others block in
threading.Event.wait (asleep in the kernel, like request handlers waiting
for work). Once every thread is in place it writes its PID to READY_FILE.
It runs until killed.
"""
import os
import sys
import threading

ARRIVED = threading.Semaphore(0)
NEVER = threading.Event()


def park(busy):
    ARRIVED.release()
    if not busy:
        while True:
            NEVER.wait(3600)
    x = 0
    while True:
        x += 1


def recurse(n, busy):
    if n <= 1:
        park(busy)
    else:
        recurse(n - 1, busy)


def main():
    threads, depth, busy, path = (int(sys.argv[1]), int(sys.argv[2]),
                                  int(sys.argv[3]), sys.argv[4])
    sys.setrecursionlimit(max(1000, depth + 100))
    threading.stack_size(4 << 20)
    for i in range(1, threads):
        # Frames of a thread: Thread._bootstrap, _bootstrap_inner, run,
        # recurse x (depth - 4), park.
        threading.Thread(target=recurse, args=(depth - 4, i < busy),
                         daemon=True).start()
    for _ in range(1, threads):
        ARRIVED.acquire()
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(path + ".tmp", path)
    # Main thread: <module>, main, recurse x (depth - 3), park.
    recurse(depth - 3, busy > 0)


if __name__ == "__main__":
    main()
