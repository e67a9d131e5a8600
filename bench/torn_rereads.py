#!/usr/bin/env python3
"""Torn stacks on busy threads: the samples lost to them and what reading
them again costs, for two builds of pystrobe attached to the SAME target at
the SAME time (so that the machine's load and the target's churn are the
same for both).

usage: bench/torn_rereads.py --baseline OLD_PYSTROBE [--pystrobe build/pystrobe]
           [--seconds 8] [--rounds 3] [--rate 100] [--no-peers] [PYTHON ...]

The target is tests/workloads/record_busy_threads.py: 6 threads of pure
Python recursing at random through four functions and generator
expressions, up to 60 deep, without pause (the stacks change every few
microseconds, which is what tears a stack read while its thread runs), as
record_errors_test runs it. Each round starts one target per interpreter
and records it with both builds at once: `record --pid P -r RATE -d
SECONDS` (wall mode, non-blocking: the default). Figures per build: the
share of samples lost to errors (errors / (samples + errors), from the
summary line), and the build's own CPU time (user + system, from wait4's
rusage; start-up, symbol reading and writing the profile included) per
tick taken. Medians over rounds; every round is printed too.

py-spy (bench/peers.py's pinned version, `record --nonblocking`, from the
cached venv) records the same target in the same run, as a peer: its
"lost %" is its own count, errors / samples from its summary, where a
sample is one look at the whole process (pystrobe counts one per thread).

Interpreters default to pyenv's 3.12.1 and 3.13.0 and Debian's 3.11.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import cost_vs_peers as side_by_side
import peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tests", "workloads", "record_busy_threads.py")
DEFAULT_PYTHONS = [
    os.path.expanduser("~/.pyenv/versions/3.12.1/bin/python3.12"),
    os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python3.13"),
    "/usr/bin/python3.11",
]


def record_all(args, builds, pyspy, python):
    """One target, every build (and py-spy) recording it at once:
    {name: (lost %, CPU us per tick)}."""
    with tempfile.TemporaryDirectory(prefix="torn-rereads-") as d:
        target = subprocess.Popen([python, WORKLOAD, d, "6"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            side_by_side.wait_ready(os.path.join(d, "ready"), target, 60)
            children = [side_by_side.Child(name, side_by_side.pystrobe_cmd(
                args, target.pid, args.rate, args.seconds,
                os.path.join(d, name + ".pb.gz"), binary=binary))
                for name, binary in builds.items()]
            raw = os.path.join(d, "py-spy.raw")
            spy = peers.start(side_by_side.Child, "py-spy", pyspy,
                              peers.pyspy_record(pyspy, target.pid, args.rate,
                                                 args.seconds, raw)
                              if pyspy else None, args.seconds, raw)
            out = {}
            for c in children:
                r = side_by_side.pystrobe_result(c.wait())
                out[c.name] = (100 * r["errors"] / max(1, r["samples"] +
                                                       r["errors"]),
                               1e6 * r["cpu_s"] / max(1, r["ticks"]))
            if spy:
                r = peers.result(spy.wait(), side_by_side.per)
                out["py-spy"] = (100 * r["errors"] / r["samples"],
                                 r["per_sample_us"])
            return out
        finally:
            side_by_side.stop(target)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pystrobe", default=os.path.join(ROOT, "build",
                                                      "pystrobe"))
    p.add_argument("--baseline", required=True,
                   help="the other build of pystrobe to compare with")
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=int, default=100)
    p.add_argument("--no-peers", dest="peers", action="store_false",
                   help="leave py-spy out")
    p.add_argument("pythons", nargs="*", default=DEFAULT_PYTHONS)
    args = p.parse_args()
    pyspy = None
    if args.peers:
        pyspy, why = peers.pyspy()
        if not pyspy:
            print(f"# py-spy skipped: {why}")
    builds = {"baseline": args.baseline, "pystrobe": args.pystrobe}
    for binary in builds.values():
        if not os.access(binary, os.X_OK):
            sys.exit(f"torn_rereads: no executable at {binary}")
    print(f"# {os.uname().nodename}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}; {args.seconds} s at {args.rate} Hz, "
          f"{args.rounds} rounds")
    print(f"{'interpreter':<12} {'build':<9} {'lost %':>7} {'us/tick':>8}"
          "   rounds (lost %, us/tick)")
    for python in args.pythons:
        if not os.access(python, os.X_OK):
            sys.exit(f"torn_rereads: no interpreter at {python}")
        rounds = [record_all(args, builds, pyspy, python)
                  for _ in range(args.rounds)]
        for name in rounds[0]:
            lost = [r[name][0] for r in rounds]
            cpu = [r[name][1] for r in rounds]
            each = ", ".join(f"{a:.1f}/{b:.0f}" for a, b in zip(lost, cpu))
            print(f"{os.path.basename(python):<12} {name:<9} "
                  f"{statistics.median(lost):>7.1f} "
                  f"{statistics.median(cpu):>8.0f}   {each}")


if __name__ == "__main__":
    main()
