"""Workloads of fixed work in the shapes real programs have, for the gate's
tests on real recordings. Each measures its own CPU time per function
(time.thread_time) and can append it to a file (--truth FILE: one line per
run, "function=seconds" pairs separated by spaces), so a test can check
that the change it asked for is real, and that what it did not ask for
did not move, without trusting pystrobe.

    gate_shapes.py helper [--grow render_page=1.3] [--scale S]
        five request handlers doing all their work through one helper
        spin(n); --grow multiplies one handler's calls to it.
    gate_shapes.py suite [--grow compute_stats=1.3] [--scale S]
        a test suite: setup, then five test phases one after another, each
        with its own function (compute_stats among them).
    gate_shapes.py dominant [--grow crunch=1.3] [--scale S]
        one function with 70% of the work and three small ones.

--scale multiplies all work (longer runs for more samples).
"""
import argparse
import os
import time

CLOCK = time.thread_time
SPENT = {}


def measured(fn):
    def wrapper(*args):
        t0 = CLOCK()
        try:
            return fn(*args)
        finally:
            SPENT[fn.__name__] = SPENT.get(fn.__name__, 0.0) + CLOCK() - t0
    wrapper.__name__ = fn.__name__
    return wrapper


def spin(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFF
    return x


# --- helper: five callers, one shared helper ------------------------------
def render_page(calls):
    for _ in range(calls):
        spin(2000)


def parse_request(calls):
    for _ in range(calls):
        spin(2000)


def load_user(calls):
    for _ in range(calls):
        spin(2000)


def format_reply(calls):
    for _ in range(calls):
        spin(2000)


def log_access(calls):
    for _ in range(calls):
        spin(2000)


HANDLERS = [render_page, parse_request, load_user, format_reply, log_access]


def helper(grow, scale):
    for _ in range(int(40 * scale)):
        for h in HANDLERS:
            measured(h)(int(round(10 * grow.get(h.__name__, 1.0))))


# --- suite: sequential phases ---------------------------------------------
def setup_fixtures(n):
    return spin(n)


def parse_inputs(n):
    return spin(n)


def compute_stats(n):
    return spin(n)


def render_report(n):
    return spin(n)


def check_invariants(n):
    return spin(n)


def export_results(n):
    return spin(n)


PHASES = [parse_inputs, compute_stats, render_report, check_invariants,
          export_results]


def suite(grow, scale):
    measured(setup_fixtures)(int(300000 * scale))
    for phase in PHASES:
        n = int(600000 * scale * grow.get(phase.__name__, 1.0))
        # A test's body: many calls, as a test function makes.
        for _ in range(20):
            measured(phase)(n // 20)


# --- dominant: one function holds 70% ------------------------------------
def crunch(n):
    return spin(n)


def read_input(n):
    return spin(n)


def write_output(n):
    return spin(n)


def validate(n):
    return spin(n)


def dominant(grow, scale):
    for _ in range(int(50 * scale)):
        for fn, n in ((crunch, 42000), (read_input, 6000),
                      (write_output, 6000), (validate, 6000)):
            measured(fn)(int(n * grow.get(fn.__name__, 1.0)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("shape", choices=["helper", "suite", "dominant"])
    parser.add_argument("--grow", action="append", default=[])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--truth")
    args = parser.parse_args()
    grow = {}
    for item in args.grow:
        name, factor = item.split("=")
        grow[name] = float(factor)
    {"helper": helper, "suite": suite, "dominant": dominant}[args.shape](
        grow, args.scale)
    if args.truth:
        # One write of one line: runs one after another append whole lines.
        line = " ".join("%s=%.9f" % kv for kv in sorted(SPENT.items()))
        fd = os.open(args.truth, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
