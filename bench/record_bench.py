#!/usr/bin/env python3
"""Whole-process benchmarks of `pystrobe record` against live targets.

  rate      the highest sustained rate: `pystrobe record --pid P -r RATE -d 5`
            on a thread spinning 100 frames deep, at increasing rates;
            achieved ticks/s, late and missed ticks, pystrobe's own CPU time
            per tick (getrusage of the child) and its share of one core.
  slowdown  the target's throughput (calls per second of a fixed function,
            measured by the target itself) alone and while pystrobe samples
            it at 100 Hz and 1 kHz, wall and cpu modes, non-blocking and
            --blocking. Runs are interleaved (alone, then every
            configuration, repeated) so that load from other users of the
            machine spreads over all of them; medians and min..max reported.
  paired    the same slowdown, measured robustly on a noisy host: two
            identical targets run side by side over the same window, one
            sampled and the other not (alternating which), and the ratio of
            their throughputs is the slowdown. The host's speed varies
            between runs by tens of % on a shared VM, but it varies for both
            targets alike, so the ratio cancels it; "alone" (neither
            sampled) shows what is left of that noise.
  phases    the slowdown once more, resolved to well under 1% on a host
            whose speed wanders: one target (ticker.py) logs its progress
            while pystrobe, attached throughout, is paused (SIGSTOP) and
            resumed (SIGCONT) every PHASE seconds; each sampled phase's
            throughput is compared with the mean of its two unsampled
            neighbours, and the median of those ratios is the slowdown.
            "alone" does the same with pystrobe never resumed (the
            method's own zero).
  syscalls  every syscall pystrobe makes per tick (strace -c -f), by name.

Usage:
  bench/record_bench.py --pystrobe build-bench/pystrobe --out DIR \
      [--pythons P1:P2] [--reps N] [rate] [slowdown] [syscalls]

Prints Markdown tables and writes DIR/record_bench.json.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")
SUMMARY = re.compile(
    r"(\d+) samples in ([\d.]+) s \((\d+) ticks, ([\d.]+) Hz\), (\d+) late, "
    r"(\d+) missed, (\d+) errors")


def default_pythons():
    home = os.path.expanduser("~/.pyenv/versions")
    out = []
    for v in ("3.8.18", "3.11.7", "3.12.1", "3.13.0"):
        p = os.path.join(home, v, "bin", "python" + v.rsplit(".", 1)[0])
        if os.access(p, os.X_OK):
            out.append(p)
    return out


def label(python):
    base = os.path.basename(python).replace("python", "")
    return base + (" (Debian)" if python.startswith("/usr/bin/") else "")


def wait_for(path, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError("workload did not become ready")
        time.sleep(0.01)


def start_deep(python, depth, mode, tmp):
    ready = os.path.join(tmp, "deep-ready")
    if os.path.exists(ready):
        os.remove(ready)
    proc = subprocess.Popen(
        [python, os.path.join(WORKLOADS, "deep.py"), str(depth), mode, ready],
        stdout=subprocess.DEVNULL)
    wait_for(ready, proc)
    return proc


def run_record(pystrobe, pid, args, tmp, prefix=()):
    """Runs pystrobe record; returns (summary dict, child rusage)."""
    out = os.path.join(tmp, "profile.pb.gz")
    cmd = list(prefix) + [pystrobe, "record", "--pid", str(pid), "-o", out
                          ] + list(args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, ru = os.wait4(proc.pid, 0)[1:]
    stdout, stderr = proc.communicate()
    m = SUMMARY.search(stderr) or SUMMARY.search(stdout)
    if not m:
        raise RuntimeError("no summary from pystrobe: " + stderr[-500:])
    keys = ("samples", "seconds", "ticks", "hz", "late", "missed", "errors")
    summary = dict(zip(keys, (float(x) for x in m.groups())))
    return summary, ru


def bench_rate(args, results):
    rates = [int(r) for r in args.rates.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.pythons:
            target = start_deep(python, 100, "spin", tmp)
            try:
                for rate in rates:
                    runs = []
                    for _ in range(args.reps):
                        s, ru = run_record(args.pystrobe, target.pid,
                                           ["-r", str(rate), "-d", "5"], tmp,
                                           prefix=args.prefix.split())
                        cpu = ru.ru_utime + ru.ru_stime
                        runs.append(dict(s, cpu_s=cpu,
                                         cpu_per_tick_us=1e6 * cpu /
                                         max(s["ticks"], 1)))
                    med = {k: statistics.median(r[k] for r in runs)
                           for k in runs[0]}
                    row = {"python": label(python), "rate": rate, "runs": runs,
                           "median": med, "prefix": args.prefix}
                    rows.append(row)
                    print("rate%s %-6s %6d Hz: achieved %8.1f Hz (%s), late %d, "
                          "missed %d, errors %d, %.1f us CPU/tick, %.0f%% core"
                          % (" [" + args.prefix + "]" if args.prefix else "",
                             label(python), rate, med["hz"],
                             "..".join("%.0f" % r["hz"] for r in runs),
                             med["late"], med["missed"], med["errors"],
                             med["cpu_per_tick_us"],
                             100 * med["cpu_s"] / med["seconds"]), flush=True)
            finally:
                target.kill()
                target.wait()
    results["rate" + ("" if not args.prefix else " " + args.prefix)] = rows


CONFIGS = [
    ("alone", None),
    ("wall 100 Hz", ["-r", "100"]),
    ("wall 1 kHz", ["-r", "1000"]),
    ("cpu 100 Hz", ["-r", "100", "--mode", "cpu"]),
    ("cpu 1 kHz", ["-r", "1000", "--mode", "cpu"]),
    ("wall 100 Hz --blocking", ["-r", "100", "--blocking"]),
    ("wall 1 kHz --blocking", ["-r", "1000", "--blocking"]),
    ("cpu 1 kHz --blocking", ["-r", "1000", "--mode", "cpu", "--blocking"]),
]


def one_throughput_run(args, python, extra, tmp):
    seconds = args.seconds
    ready = os.path.join(tmp, "tp-ready")
    if os.path.exists(ready):
        os.remove(ready)
    target = subprocess.Popen(
        [python, os.path.join(WORKLOADS, "throughput.py"), str(seconds), ready],
        stdout=subprocess.PIPE, text=True)
    wait_for(ready, target)
    summary = None
    if extra is not None:
        # Sample for the whole measured window; the target ends it.
        summary, _ = run_record(args.pystrobe, target.pid,
                                extra + ["-d", str(seconds + 5)], tmp)
    out, _ = target.communicate()
    return json.loads(out.strip().splitlines()[-1]), summary


def bench_slowdown(args, results):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.pythons:
            runs = {name: [] for name, _ in CONFIGS}
            for _ in range(args.reps):
                for name, extra in CONFIGS:
                    tp, summary = one_throughput_run(args, python, extra, tmp)
                    runs[name].append({"target": tp, "pystrobe": summary})
            base_wall = statistics.median(r["target"]["per_wall_s"]
                                          for r in runs["alone"])
            base_cpu = statistics.median(r["target"]["per_cpu_s"]
                                         for r in runs["alone"])
            for name, _ in CONFIGS:
                walls = [r["target"]["per_wall_s"] for r in runs[name]]
                cpus = [r["target"]["per_cpu_s"] for r in runs[name]]
                slow = [100 * (1 - w / base_wall) for w in walls]
                slow_cpu = [100 * (1 - c / base_cpu) for c in cpus]
                row = {"python": label(python), "config": name,
                       "runs": runs[name],
                       "slowdown_wall_pct": statistics.median(slow),
                       "slowdown_wall_range": [min(slow), max(slow)],
                       "slowdown_cpu_pct": statistics.median(slow_cpu),
                       "slowdown_cpu_range": [min(slow_cpu), max(slow_cpu)]}
                if name != "alone":
                    ticks = [r["pystrobe"]["ticks"] for r in runs[name]]
                    row["ticks_per_s"] = statistics.median(
                        t / r["target"]["wall_s"]
                        for t, r in zip(ticks, runs[name]))
                    # Time lost by the target per tick, from its lost
                    # throughput (for --blocking: the freeze per sample).
                    lost = [(1 - w / base_wall) * r["target"]["wall_s"] / t
                            for w, t, r in zip(walls, ticks, runs[name]) if t]
                    row["lost_per_tick_us"] = 1e6 * statistics.median(lost)
                rows.append(row)
                print("slowdown %-6s %-24s wall %+6.2f%% [%+.2f..%+.2f] "
                      "cpu %+6.2f%% [%+.2f..%+.2f]%s" % (
                          label(python), name, row["slowdown_wall_pct"],
                          *row["slowdown_wall_range"],
                          row["slowdown_cpu_pct"], *row["slowdown_cpu_range"],
                          "" if name == "alone" else
                          ", %.0f ticks/s, %.1f us lost/tick" % (
                              row["ticks_per_s"], row["lost_per_tick_us"])),
                      flush=True)
    results["slowdown"] = rows


PAIRED_CONFIGS = [c for c in CONFIGS if c[0] in (
    "alone", "wall 100 Hz", "wall 1 kHz", "cpu 100 Hz", "cpu 1 kHz",
    "wall 100 Hz --blocking")]


def one_paired_run(args, python, extra, sampled, tmp):
    """Two targets over the same window; target `sampled` (0 or 1) is
    sampled with `extra` (None: neither). Returns both outputs, the sampled
    one first, and pystrobe's summary."""
    go = os.path.join(tmp, "go")
    if os.path.exists(go):
        os.remove(go)
    targets = []
    for k in range(2):
        ready = os.path.join(tmp, "tp-ready-%d" % k)
        if os.path.exists(ready):
            os.remove(ready)
        targets.append((subprocess.Popen(
            [python, os.path.join(WORKLOADS, "throughput.py"),
             str(args.seconds), ready, "20", go],
            stdout=subprocess.PIPE, text=True), ready))
    for proc, ready in targets:
        wait_for(ready, proc)
    recorder = None
    if extra is not None:
        out = os.path.join(tmp, "paired.pb.gz")
        recorder = subprocess.Popen(
            [args.pystrobe, "record", "--pid", str(targets[sampled][0].pid),
             "-o", out, "-d", str(args.seconds + 10)] + extra,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)  # attached and sampling before the window opens
    with open(go, "w"):
        pass
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1])
            for p, _ in targets]
    summary = None
    if recorder is not None:
        _, err = recorder.communicate()
        m = SUMMARY.search(err)
        summary = {"ticks": int(m.group(3))} if m else None
    return outs[sampled], outs[1 - sampled], summary


def bench_paired(args, results):
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.pythons:
            for name, extra in PAIRED_CONFIGS:
                wall, cpu = [], []
                for rep in range(args.reps):
                    a, b, _ = one_paired_run(args, python, extra, rep % 2, tmp)
                    wall.append(100 * (1 - a["per_wall_s"] / b["per_wall_s"]))
                    cpu.append(100 * (1 - a["per_cpu_s"] / b["per_cpu_s"]))
                q = statistics.quantiles
                row = {"python": label(python), "config": name,
                       "slowdown_wall_pct": statistics.median(wall),
                       "slowdown_wall_iqr": q(wall, n=4)[::2],
                       "slowdown_cpu_pct": statistics.median(cpu),
                       "slowdown_cpu_iqr": q(cpu, n=4)[::2],
                       "wall": wall, "cpu": cpu}
                rows.append(row)
                print("paired %-6s %-24s per wall s %+6.2f%% (IQR %+.2f..%+.2f)"
                      "  per CPU s %+6.2f%% (IQR %+.2f..%+.2f)  n=%d" % (
                          label(python), name, row["slowdown_wall_pct"],
                          *row["slowdown_wall_iqr"], row["slowdown_cpu_pct"],
                          *row["slowdown_cpu_iqr"], len(wall)), flush=True)
    results["paired"] = rows


def phase_rates(log, edges):
    """Calls per second of the target in each [edges[i], edges[i+1]),
    from its progress log, trimming 10% of each phase at both ends."""
    import bisect
    t, calls = log["t"], log["calls"]
    rates = []
    for a, b in zip(edges, edges[1:]):
        pad = (b - a) * 0.1
        i = bisect.bisect_left(t, a + pad)
        j = bisect.bisect_right(t, b - pad) - 1
        if j - i < 5:
            rates.append(None)
            continue
        rates.append((calls[j] - calls[i]) / (t[j] - t[i]))
    return rates


def one_phase_run(args, python, extra, tmp):
    """Returns the slowdowns (%) of each sampled phase against its
    neighbours. extra None: pystrobe is attached but never resumed."""
    ready = os.path.join(tmp, "ticker-ready")
    if os.path.exists(ready):
        os.remove(ready)
    seconds = args.seconds
    log_path = os.path.join(tmp, "ticker-log.json")
    target = subprocess.Popen(
        [python, os.path.join(WORKLOADS, "ticker.py"), str(seconds), ready,
         log_path])
    wait_for(ready, target)
    out = os.path.join(tmp, "phases.pb.gz")
    rec = subprocess.Popen(
        [args.pystrobe, "record", "--pid", str(target.pid), "-o", out,
         "-d", str(seconds + 10)] + (extra or ["-r", "100"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.2)
    os.kill(rec.pid, signal.SIGSTOP)
    edges, on = [], []
    end = time.perf_counter() + seconds - 0.5
    sampling = False
    while time.perf_counter() < end:
        edges.append(time.perf_counter())
        on.append(sampling)
        if extra is not None:
            os.kill(rec.pid, signal.SIGCONT if sampling else signal.SIGSTOP)
        time.sleep(args.phase)
        sampling = not sampling
    edges.append(time.perf_counter())
    os.kill(rec.pid, signal.SIGCONT)
    target.wait()
    rec.wait()
    with open(log_path) as f:
        log = json.load(f)
    rates = phase_rates(log, edges)
    slow = []
    for k in range(1, len(rates) - 1):
        if not on[k] or None in (rates[k - 1], rates[k], rates[k + 1]):
            continue
        neighbours = (rates[k - 1] + rates[k + 1]) / 2
        slow.append(100 * (1 - rates[k] / neighbours))
    return slow


def bench_phases(args, results):
    rows = []
    configs = [("alone", None), ("wall 100 Hz", ["-r", "100"]),
               ("cpu 100 Hz", ["-r", "100", "--mode", "cpu"]),
               ("wall 1 kHz", ["-r", "1000"]),
               # A positive control: stopping the target must show.
               ("wall 1 kHz --blocking", ["-r", "1000", "--blocking"])]
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.pythons:
            for name, extra in configs:
                slow = []
                for _ in range(args.reps):
                    slow += one_phase_run(args, python, extra, tmp)
                med = statistics.median(slow)
                # Standard error of the median, by bootstrap.
                import random
                rng = random.Random(1)
                boots = sorted(statistics.median(rng.choices(slow, k=len(slow)))
                               for _ in range(500))
                row = {"python": label(python), "config": name,
                       "slowdown_pct": med, "ci95": [boots[12], boots[487]],
                       "phases": len(slow)}
                rows.append(row)
                print("phases %-6s %-12s slowdown %+5.2f%% (95%% CI %+.2f..%+.2f)"
                      ", %d sampled phases of %.2f s" % (
                          label(python), name, med, boots[12], boots[487],
                          len(slow), args.phase), flush=True)
    results["phases"] = rows


def bench_syscalls(args, results):
    if shutil.which("strace") is None:
        print("syscalls: strace not found, skipped")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.pythons:
            for extra in (["--mode", "wall"], ["--mode", "cpu"],
                          ["--blocking"]):
                target = start_deep(python, 100, "spin", tmp)
                try:
                    log = os.path.join(tmp, "strace.txt")
                    s, _ = run_record(
                        args.pystrobe, target.pid,
                        ["-r", "200", "-d", "3"] + extra, tmp,
                        prefix=["strace", "-f", "-c", "-o", log])
                finally:
                    target.kill()
                    target.wait()
                # Attach and writing the profile cost a fixed number of calls;
                # a run without ticks (-d 0.05 s) measures it to subtract.
                target = start_deep(python, 100, "spin", tmp)
                try:
                    log0 = os.path.join(tmp, "strace0.txt")
                    s0, _ = run_record(
                        args.pystrobe, target.pid,
                        ["-r", "200", "-d", "0.05"] + extra, tmp,
                        prefix=["strace", "-f", "-c", "-o", log0])
                finally:
                    target.kill()
                    target.wait()
                calls, calls0 = parse_strace(log), parse_strace(log0)
                ticks = s["ticks"] - s0["ticks"]
                per_tick = {k: (v - calls0.get(k, 0)) / ticks
                            for k, v in calls.items()}
                per_tick = {k: v for k, v in per_tick.items() if v >= 0.05}
                row = {"python": label(python), "options": " ".join(extra),
                       "per_tick": per_tick,
                       "total_per_tick": sum(per_tick.values())}
                rows.append(row)
                print("syscalls %-6s %-12s %.1f per tick: %s" % (
                    label(python), " ".join(extra), row["total_per_tick"],
                    ", ".join("%s %.1f" % kv for kv in sorted(
                        per_tick.items(), key=lambda kv: -kv[1]))),
                      flush=True)
    results["syscalls"] = rows


def parse_strace(path):
    calls = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # usecs/call columns: % time, seconds, usecs/call, calls, [errors], name
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls[parts[-1]] = int(parts[3])
    return calls


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pystrobe", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pythons", default=":".join(default_pythons()))
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--seconds", type=float, default=4.0,
                   help="length of one throughput run")
    p.add_argument("--rates", default="1000,2000,5000,10000,20000,50000")
    p.add_argument("--prefix", default="",
                   help="run pystrobe under this command in the rate "
                   "benchmark, e.g. 'chrt -f 50' to take the scheduling "
                   "latency of a busy machine out of the achieved rate")
    p.add_argument("--phase", type=float, default=0.2,
                   help="length of one on or off phase (phases benchmark)")
    p.add_argument("what", nargs="*",
                   default=["rate", "slowdown", "paired", "phases",
                            "syscalls"])
    args = p.parse_args()
    args.pythons = [x for x in args.pythons.split(":") if x]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "record_bench.json")
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    results["machine"] = {"nproc": os.cpu_count(), "load": os.getloadavg()}
    for what in args.what:
        {"rate": bench_rate, "slowdown": bench_slowdown, "paired": bench_paired,
         "phases": bench_phases,
         "syscalls": bench_syscalls}[what](args, results)
        with open(path, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
