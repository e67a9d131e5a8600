#!/usr/bin/env python3
"""What --async and --async all cost per tick beside plain sampling, in the
same run, on a service with 1,000 pending tasks (bench/workloads/
async_pending.py) under Debian forky's CPython 3.14 (chrooted, as the tests
run it).

usage: bench/async_cost.py [--pystrobe build/pystrobe] [--seconds 5]
                           [--rounds 2] [--tasks 1000] [--python PATH]

--python runs the target with an interpreter of this machine instead
(pyenv's 3.11/3.12/3.13, whose tasks are read through asyncio.tasks'
WeakSet: docs/asyncio.md).

Each round records the same target once per mode, in an interleaved order,
at 100 Hz in wall mode, and reads pystrobe's own CPU time (user + sys, from
wait4) and its tick count (the summary line). Prints one line per mode:
CPU per tick in microseconds (median over rounds) and samples per tick.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORKY = os.environ.get("PYSTROBE_FORKY_ROOT",
                       os.path.expanduser("~/.cache/pystrobe/forky-root"))
MODES = [("plain", []), ("--async", ["--async"]),
         ("--async all", ["--async", "all"])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pystrobe", default=os.path.join(ROOT, "build", "pystrobe"))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--python", default=None,
                    help="an interpreter of this machine to run the target "
                    "with (default: forky's 3.14, chrooted)")
    args = ap.parse_args()
    if args.python:
        work = tempfile.mkdtemp(prefix="async-cost-")
        inside = work
        command = [args.python]
    else:
        work = tempfile.mkdtemp(prefix="async-cost-",
                                dir=os.path.join(FORKY, "tmp"))
        inside = "/tmp/" + os.path.basename(work)
        command = ["chroot", FORKY, "/usr/bin/python3.14"]
    shutil.copy(os.path.join(ROOT, "bench", "workloads", "async_pending.py"),
                work)
    target = subprocess.Popen(
        command + [inside + "/async_pending.py", inside + "/ready",
                   str(args.tasks)])
    try:
        while not os.path.exists(os.path.join(work, "ready")):
            if target.poll() is not None:
                sys.exit("the workload exited")
            time.sleep(0.1)
        results = {name: [] for name, _ in MODES}
        for r in range(args.rounds):
            order = MODES if r % 2 == 0 else list(reversed(MODES))
            for name, extra in order:
                out = os.path.join(work, "out.pb.gz")
                p = subprocess.Popen(
                    [args.pystrobe, "record", "--pid", str(target.pid), "-d",
                     str(args.seconds), "-r", "100", "--mode", "wall", "-o",
                     out] + extra,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    universal_newlines=True)
                text = p.stdout.read()
                _, status, usage = os.wait4(p.pid, 0)
                cpu = usage.ru_utime + usage.ru_stime
                m = re.search(r"(\d+) samples in [\d.]+ s \((\d+) ticks", text)
                if not m or status != 0:
                    sys.exit("pystrobe failed:\n" + text)
                samples, ticks = int(m.group(1)), int(m.group(2))
                results[name].append((cpu / ticks * 1e6, samples / ticks))
        for name, _ in MODES:
            per_tick = statistics.median(c for c, _ in results[name])
            spt = statistics.median(s for _, s in results[name])
            print("%-12s %8.1f us CPU per tick  %7.1f samples per tick  "
                  "(%d tasks, %d rounds)" % (name, per_tick, spt, args.tasks,
                                             args.rounds))
    finally:
        target.kill()
        target.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
