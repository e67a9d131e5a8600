"""A workload for pystrobe-diff's gate tests: four functions with fixed
shares of the work, one of which can be made slower.

    diff_gate.py --seconds 2 [--rounds N] [--scale beta=1.3] [--truth F]

Each round (about 20 ms) calls alpha, beta, gamma and tiny, in a shuffled
order, with fixed iteration counts (about 35%, 25%, 40% and 0.15% of the
work); --scale multiplies one
function's iterations. Rounds repeat until --seconds have passed, or exactly
--rounds times. With --truth the workload writes its own measurement: the
thread CPU seconds spent in each function (JSON), so tests can check that
the slowdown they asked for is real without trusting pystrobe; and appends
the process's own schedstat (seconds on a CPU and waiting for one) to
F.sched, a line per run.
"""
import argparse
import json
import os
import random
import time

BASE_ITERATIONS = {"alpha": 70000, "beta": 50000, "gamma": 80000, "tiny": 300}


def alpha(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


def beta(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


def gamma(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


def tiny(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


FUNCTIONS = {"alpha": alpha, "beta": beta, "gamma": gamma, "tiny": tiny}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--scale", action="append", default=[])
    parser.add_argument("--truth")
    args = parser.parse_args()
    iterations = dict(BASE_ITERATIONS)
    for item in args.scale:
        name, factor = item.split("=")
        iterations[name] = int(round(iterations[name] * float(factor)))
    spent = {name: 0.0 for name in FUNCTIONS}
    clock = time.thread_time
    deadline = time.monotonic() + args.seconds
    rounds = 0
    rng = random.Random(rounds)
    while (rounds < args.rounds) if args.rounds else (time.monotonic() < deadline):
        # A fresh order each round: no function always follows another, so
        # that a sampling period never lines up with the round.
        order = list(FUNCTIONS.items())
        rng.shuffle(order)
        for name, fn in order:
            t0 = clock()
            fn(iterations[name])
            spent[name] += clock() - t0
        rounds += 1
    if args.truth:
        with open(args.truth + ".tmp", "w") as f:
            json.dump({"rounds": rounds, "cpu_seconds": spent}, f)
        os.rename(args.truth + ".tmp", args.truth)
        # The kernel's own account of this run (single-threaded: the
        # process is its main thread): seconds on a CPU and waiting for
        # one, a line per run appended.
        try:
            with open("/proc/self/schedstat") as f:
                ran_ns, wait_ns = (int(x) for x in f.read().split()[:2])
            with open(args.truth + ".sched", "a") as f:
                f.write(f"{ran_ns / 1e9} {wait_ns / 1e9}\n")
        except OSError:
            pass


if __name__ == "__main__":
    main()
