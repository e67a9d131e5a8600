"""Busy multi-threaded workload for the `pystrobe record` error-rate test.

Usage: python record_busy_threads.py DIR [THREADS]

THREADS (default 6) worker threads run pure Python without pause: each
recurses to a random depth (1..60) through four functions chosen at random
at every level (so the set of distinct stacks is large), does a little work
at the bottom (arithmetic, a dict and a list comprehension, a generator) and
returns; their stacks change every few microseconds, which is what tears a
stack read while the thread runs. Writes DIR/ready (atomically) once every
worker has started; stops when DIR/stop appears (at most 10 minutes), then
writes DIR/truth.json: {"pid", "threads": [native ids], "calls": N}.
"""

import json
import os
import random
import sys
import threading
import time

_stop = [False]


def leaf(rng):
    x = 0
    for i in range(rng.randrange(5, 50)):
        x += i * i
    d = {i: str(i) for i in range(rng.randrange(1, 20))}
    return x + len(d) + sum(j for j in range(rng.randrange(1, 20)))


def step_a(rng, depth):
    return leaf(rng) if depth <= 0 else pick(rng)(rng, depth - 1)


def step_b(rng, depth):
    return leaf(rng) if depth <= 0 else pick(rng)(rng, depth - 1) + 1


def step_c(rng, depth):
    if depth <= 0:
        return leaf(rng)
    return [pick(rng)(rng, depth - 1)][0]


def step_d(rng, depth):
    if depth <= 0:
        return leaf(rng)
    return sum(pick(rng)(rng, depth - 1) for _ in range(1))


STEPS = [step_a, step_b, step_c, step_d]


def pick(rng):
    return STEPS[rng.randrange(len(STEPS))]


def worker(index, counts):
    rng = random.Random(index)
    n = 0
    while not _stop[0]:
        pick(rng)(rng, rng.randrange(1, 60))
        n += 1
    counts[index] = n


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    directory = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    counts = [0] * count
    threads = [threading.Thread(target=worker, args=(i, counts), daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    write_atomically(os.path.join(directory, "ready"), "%d\n" % os.getpid())
    stop_path = os.path.join(directory, "stop")
    give_up = time.time() + 600
    while not os.path.exists(stop_path) and time.time() < give_up:
        time.sleep(0.05)
    _stop[0] = True
    for t in threads:
        t.join()
    truth = {"pid": os.getpid(), "threads": [t.native_id for t in threads],
             "calls": sum(counts)}
    write_atomically(os.path.join(directory, "truth.json"), json.dumps(truth))


if __name__ == "__main__":
    main()
