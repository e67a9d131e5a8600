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
import re
import statistics
import subprocess
import sys
import tempfile
import time

import peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tests", "workloads", "record_busy_threads.py")
DEFAULT_PYTHONS = [
    os.path.expanduser("~/.pyenv/versions/3.12.1/bin/python3.12"),
    os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python3.13"),
    "/usr/bin/python3.11",
]
SUMMARY = re.compile(r"(\d+) samples in [\d.]+ s \((\d+) ticks")
ERRORS = re.compile(r"missed, (\d+) errors")


def record_both(builds, pyspy, python, seconds, rate):
    """One target, every build (and py-spy) recording it at once:
    {name: (lost %, CPU us per tick)}."""
    with tempfile.TemporaryDirectory(prefix="torn-rereads-") as d:
        target = subprocess.Popen([python, WORKLOAD, d, "6"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not os.path.exists(os.path.join(d, "ready")):
                if time.time() > deadline or target.poll() is not None:
                    sys.exit(f"torn_rereads: {python}: the workload did not "
                             "start")
                time.sleep(0.05)
            procs = {}
            for name, binary in builds.items():
                log = open(os.path.join(d, name + ".log"), "w")
                procs[name] = (subprocess.Popen(
                    [binary, "record", "--pid", str(target.pid), "-r",
                     str(rate), "-d", str(seconds), "-o",
                     os.path.join(d, name + ".pb.gz")],
                    stdout=subprocess.DEVNULL, stderr=log), log)
            if pyspy:
                log = open(os.path.join(d, "py-spy.log"), "w")
                procs["py-spy"] = (subprocess.Popen(
                    peers.pyspy_record(pyspy, target.pid, rate, seconds,
                                       os.path.join(d, "py-spy.raw")),
                    stdout=log, stderr=subprocess.STDOUT), log)
            out = {}
            for name, (proc, log) in procs.items():
                _, status, ru = os.wait4(proc.pid, 0)
                log.close()
                text = open(log.name).read()
                if name == "py-spy":
                    samples, errors = peers.pyspy_samples(text)
                    if status != 0 or errors < 0:
                        sys.exit(f"torn_rereads: py-spy failed:\n{text}")
                    out[name] = (100.0 * errors / max(1, samples),
                                 1e6 * (ru.ru_utime + ru.ru_stime) /
                                 max(1, samples))
                    continue
                m = SUMMARY.search(text)
                if status != 0 or not m:
                    sys.exit(f"torn_rereads: {name} failed:\n{text}")
                samples, ticks = int(m.group(1)), int(m.group(2))
                e = ERRORS.search(text)
                errors = int(e.group(1)) if e else 0
                out[name] = (100.0 * errors / max(1, samples + errors),
                             1e6 * (ru.ru_utime + ru.ru_stime) / max(1, ticks))
            return out
        finally:
            open(os.path.join(d, "stop"), "w").close()
            try:
                target.wait(timeout=30)
            except subprocess.TimeoutExpired:
                target.kill()
                target.wait()


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
        rounds = [record_both(builds, pyspy, python, args.seconds, args.rate)
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
