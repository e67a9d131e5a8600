"""Many-stacks workload for the `pystrobe record` memory-bound test.

Usage: python record_many_stacks.py DIR

One thread recurses to a depth taken from a shuffled cycle of 1..300 through
three functions (descend_a -> descend_b -> descend_c -> descend_a ...), spins
for 1-4 ms at the bottom (spin_leaf, a one-line loop), and starts over with
the next depth: a new stack every few ms, every depth once per cycle of about
a second. The stack at a given depth is always the same, so the number of
distinct stacks is bounded (about 300 with the spinning leaf, plus the
transient ones while it recurses) however long it runs.
Writes DIR/ready (atomically) once it runs; runs until killed (at most 10
minutes).
"""

import os
import random
import sys
import time

thread_time = time.thread_time


def spin_leaf(seconds):
    end = thread_time() + seconds
    while thread_time() < end: pass  # noqa: E701 (one line: one frame line)


def descend_a(depth, seconds):
    if depth <= 1:
        return spin_leaf(seconds)
    return descend_b(depth - 1, seconds)


def descend_b(depth, seconds):
    if depth <= 1:
        return spin_leaf(seconds)
    return descend_c(depth - 1, seconds)


def descend_c(depth, seconds):
    if depth <= 1:
        return spin_leaf(seconds)
    return descend_a(depth - 1, seconds)


def main():
    directory = sys.argv[1]
    sys.setrecursionlimit(2000)
    rng = random.Random()
    depths = list(range(1, 301))
    ready = False
    give_up = time.time() + 600
    while time.time() < give_up:
        rng.shuffle(depths)
        for depth in depths:
            descend_a(depth, rng.uniform(0.001, 0.004))
        if not ready:
            tmp = os.path.join(directory, "ready.tmp")
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.rename(tmp, os.path.join(directory, "ready"))
            ready = True


if __name__ == "__main__":
    main()
