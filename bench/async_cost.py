#!/usr/bin/env python3
"""What --async and --async all cost per tick beside plain sampling, and
beside CPython 3.15's own sampler, in the same run, on a service with 1,000
pending tasks (bench/workloads/async_pending.py) under Debian forky's
CPython 3.15 (chrooted, as the tests run it).

usage: bench/async_cost.py [--pystrobe build/pystrobe] [--seconds 5]
                           [--rounds 2] [--tasks 1000] [--rate 100]
                           [--python /usr/bin/python3.15] [--no-peer]
                           [--host-python PATH]

--host-python runs the target with an interpreter of this machine instead
of forky's (pyenv's 3.11/3.12/3.13, whose tasks are read through
asyncio.tasks' WeakSet: docs/asyncio.md); CPython 3.15's sampler reads
only 3.15, so no peer then.

Each round records the same target once per profiler and mode, one at a
time in an interleaved order (reversed every other round), at RATE Hz in
wall mode for SECONDS:
  pystrobe    `record --pid P` plain, `--async`, `--async all`;
  CPython     `python3.15 -m profiling.sampling attach P` (3.15's own
              sampler, the forky root's, run on this machine's root through
              the root's loader): plain, `--async-aware` (the running task) and
              `--async-aware --async-mode all` (every task), output with
              --collapsed into a file;
  floor       bench/cost_floor.c: one absolute-deadline wake-up per tick and
              one process_vm_readv of the ranges pystrobe read in its last
              plain sample (strace), as bench/cost_vs_peers.py does.
Figures are what a user pays: each profiler process's own CPU time (user +
system, from wait4's rusage; start-up, symbol reading and writing the
output included) per tick taken, the ticks actually taken per second, and
samples per tick (pystrobe's --async all takes one per task; CPython's
sampler reads all tasks into one snapshot per tick). Medians over rounds.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import cost_vs_peers  # noqa: E402  (ensure_floor, capture_ranges, Child)

FORKY = os.environ.get("PYSTROBE_FORKY_ROOT",
                       os.path.expanduser("~/.cache/pystrobe/forky-root"))
PYSTROBE_SUMMARY = re.compile(r"(\d+) samples in ([\d.]+) s \((\d+) ticks")
PEER_SUMMARY = re.compile(r"Captured ([\d,]+) samples? in ([\d.]+) seconds")
PEER_ERRORS = re.compile(r"Error rate: ([\d.]+)")


def in_forky(argv):
    """argv run chrooted in the forky root with a /proc of its own (a private
    mount namespace), keeping the PID: every step execs."""
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh",
            "-c", 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"',
            FORKY] + argv


def forky_python_on_host(python):
    """The forky root's interpreter run on this machine's root, through the
    root's dynamic loader and libraries (Debian 12's glibc is older) with
    PYTHONHOME in the root. CPython's sampler finds the target's binary
    through /proc/PID/maps, whose paths only make sense from this machine's
    root: run inside the forky root (another mount namespace) it finds no
    PyRuntime section."""
    libs = ":".join(os.path.join(FORKY, d) for d in
                    ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu"))
    return ["env", "PYTHONHOME=" + os.path.join(FORKY, "usr"),
            os.path.join(FORKY, "lib64", "ld-linux-x86-64.so.2"),
            "--library-path", libs, FORKY + python]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(name, cmd):
    """Runs a profiler to its end; its output and rusage."""
    c = cost_vs_peers.Child(name, cmd).wait()
    return c, (c.out + c.err).decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pystrobe", default=os.path.join(ROOT, "build", "pystrobe"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--python", default="/usr/bin/python3.15",
                    help="the target's interpreter, inside the forky root")
    ap.add_argument("--host-python", default=None,
                    help="an interpreter of this machine to run the target "
                    "with instead (no peer)")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    n, rate = args.seconds, args.rate
    version = os.path.basename(args.python)
    if args.host_python:
        args.no_peer = True
    modes = [("pystrobe", "plain", []), ("pystrobe", "--async", ["--async"]),
             ("pystrobe", "--async all", ["--async", "all"])]
    if not args.no_peer:
        modes += [("CPython " + version[6:], "plain", []),
                  ("CPython " + version[6:], "--async-aware",
                   ["--async-aware"]),
                  ("CPython " + version[6:], "--async-aware --async-mode all",
                   ["--async-aware", "--async-mode", "all"])]
    modes.append(("floor", "wake-up + 1 read", []))
    if args.host_python:
        work = tempfile.mkdtemp(prefix="async-cost-")
        inside = work
        command = [args.host_python]
    else:
        work = tempfile.mkdtemp(prefix="async-cost-",
                                dir=os.path.join(FORKY, "tmp"))
        inside = "/tmp/" + os.path.basename(work)
        command = in_forky([args.python])
    shutil.copy(os.path.join(HERE, "workloads", "async_pending.py"), work)
    target = subprocess.Popen(
        command + [inside + "/async_pending.py", inside + "/ready",
                   str(args.tasks)])
    floor = cost_vs_peers.ensure_floor()
    try:
        while not os.path.exists(os.path.join(work, "ready")):
            if target.poll() is not None:
                sys.exit("the workload exited")
            time.sleep(0.1)
        ranges = cost_vs_peers.capture_ranges(args, target.pid, work)
        range_args = ["%x:%d" % r for r in ranges]
        results = {(who, mode): [] for who, mode, _ in modes}
        load_before = loadavg()
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else list(reversed(modes))
            for who, mode, extra in order:
                if who == "pystrobe":
                    out = os.path.join(work, "out.pb.gz")
                    c, text = run(who, [
                        args.pystrobe, "record", "--pid", str(target.pid),
                        "-d", str(n), "-r", str(rate), "--mode", "wall",
                        "-o", out] + extra)
                    m = PYSTROBE_SUMMARY.search(text)
                    if not m or c.proc.returncode != 0:
                        sys.exit("pystrobe failed:\n" + text)
                    samples, seconds, ticks = (int(m.group(1)),
                                               float(m.group(2)),
                                               int(m.group(3)))
                    errors = None
                elif who == "floor":
                    c, text = run(who, [floor, str(target.pid), str(n),
                                        str(rate)] + range_args)
                    f = cost_vs_peers.floor_result(c, 1)
                    samples = ticks = f["ticks"]
                    seconds, errors = float(n), f["failed"]
                else:
                    out = os.path.join(work, "peer.txt")
                    c, text = run(who, forky_python_on_host(args.python) + [
                        "-m", "profiling.sampling", "attach", "-r", str(rate),
                        "-d", str(n), "--collapsed", "-o", out] + extra +
                        [str(target.pid)])
                    m = PEER_SUMMARY.search(text)
                    if not m or c.proc.returncode != 0:
                        sys.exit("%s %s failed (exit %s):\n%s" % (
                            who, mode, c.proc.returncode, text[-2000:]))
                    ticks = int(m.group(1).replace(",", ""))
                    seconds = float(m.group(2))
                    e = PEER_ERRORS.search(text)
                    errors = (round(float(e.group(1)) * ticks / 100)
                              if e else None)
                    samples = None
                    peer_out = os.path.join(work, "peer.txt")
                    if os.path.exists(peer_out):
                        # Collapsed stacks: "frames count" per line.
                        with open(peer_out) as f:
                            samples = sum(int(l.rsplit(" ", 1)[1]) for l in f
                                          if l.strip() and
                                          l.rsplit(" ", 1)[-1].strip()
                                          .isdigit())
                        os.remove(peer_out)
                results[(who, mode)].append({
                    "cpu_us_per_tick": c.cpu_s / ticks * 1e6,
                    "ticks_per_s": ticks / seconds,
                    "samples_per_tick": (samples / ticks
                                         if samples is not None else None),
                    "errors": errors, "cpu_s": c.cpu_s})
        target = (args.host_python if args.host_python else
                  "%s chrooted in %s" % (args.python, FORKY))
        print("# %d tasks, %s, %d Hz wall mode, %d s per "
              "recording, %d rounds, interleaved; load %s -> %s; %d CPUs" % (
                  args.tasks, target, rate, n, args.rounds,
                  load_before, loadavg(), os.cpu_count()))
        print("| profiler | mode | CPU per tick | ticks per second | "
              "samples per tick | errors |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for who, mode, _ in modes:
            rows = results[(who, mode)]
            med = lambda k: statistics.median(r[k] for r in rows)
            spt = [r["samples_per_tick"] for r in rows
                   if r["samples_per_tick"] is not None]
            errs = [r["errors"] for r in rows if r["errors"] is not None]
            print("| %s | %s | %.0f µs | %.1f | %s | %s |" % (
                who, mode, med("cpu_us_per_tick"), med("ticks_per_s"),
                "%.1f" % statistics.median(spt) if spt else "-",
                "%d" % max(errs) if errs else "-"), flush=True)
    finally:
        target.kill()
        target.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
