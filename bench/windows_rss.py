#!/usr/bin/env python3
"""pystrobe's memory over a long continuous recording (`record --every`).

Starts bench/workloads/many_stacks_service.py (4 threads, 3000 call paths
8-60 frames deep: thousands of distinct stacks), attaches
`pystrobe record --pid P -r RATE --idle --every WINDOW -d DURATION`, and each
time a window file appears reads pystrobe's VmRSS (/proc/PID/status) and
counts the window's samples and distinct stacks (a minimal pprof reader
below: Profile.sample = field 2, Sample.location_id = field 1). At the end:
pystrobe's peak RSS and CPU time (getrusage of the child), the RSS of the
last window against the first (the issue asks within 20%), and a Markdown
table, plus DIR/windows_rss.json.

Usage:
  bench/windows_rss.py --pystrobe build/pystrobe --out DIR \
      [--python /usr/bin/python3.11] [--rate 100] [--window 60] \
      [--duration 3600]
"""
import argparse
import gzip
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WINDOW_RE = re.compile(r"^svc\.\d{8}-\d{6}\.pb\.gz$")


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """(field number, wire type, value or bytes) of one message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def window_stats(path):
    """(samples entries, distinct stacks, sample count) of a pprof file."""
    data = gzip.decompress(open(path, "rb").read())
    entries = 0
    stacks = set()
    count = 0
    for num, wt, v in fields(data):
        if num != 2 or wt != 2:
            continue
        entries += 1
        locs = []
        first_value = None
        for n2, w2, v2 in fields(v):
            if n2 == 1 and w2 == 2:
                j = 0
                while j < len(v2):
                    x, j = varint(v2, j)
                    locs.append(x)
            elif n2 == 1 and w2 == 0:
                locs.append(v2)
            elif n2 == 2 and w2 == 2 and first_value is None:
                first_value, _ = varint(v2, 0)
        stacks.add(tuple(locs))
        count += first_value or 0
    return entries, len(stacks), count


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pystrobe", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--rate", default="100")
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--threads", default="4")
    ap.add_argument("--paths", default="3000")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ready = os.path.join(a.out, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    svc = subprocess.Popen(
        [a.python, os.path.join(HERE, "workloads", "many_stacks_service.py"),
         ready, a.threads, a.paths])
    rec = None
    rows = []
    try:
        while not os.path.exists(ready):
            if svc.poll() is not None:
                sys.exit("the service exited")
            time.sleep(0.1)
        cmd = [a.pystrobe, "record", "--pid", str(svc.pid), "-r", a.rate,
               "--idle", "--every", "%g" % a.window, "-d", "%g" % a.duration,
               "--checkpoint", "0", "-o", os.path.join(a.out, "svc.pb.gz")]
        print("command:", " ".join(cmd), flush=True)
        log = open(os.path.join(a.out, "record.log"), "w")
        start = time.time()
        rec = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        seen = set()
        rec_usage = None
        rec_code = None
        while True:
            pid, status, usage = os.wait4(rec.pid, os.WNOHANG)
            done = pid != 0
            if done:
                rec_usage = usage
                rec_code = os.waitstatus_to_exitcode(status)
                rec.returncode = rec_code
            names = sorted(n for n in os.listdir(a.out) if WINDOW_RE.match(n))
            for n in names:
                if n in seen:
                    continue
                seen.add(n)
                kib = rss_kib(rec.pid) if not done else -1
                try:
                    entries, stacks, count = window_stats(
                        os.path.join(a.out, n))
                except (OSError, ValueError, EOFError):
                    entries = stacks = count = -1
                rows.append({"window": n, "t_s": round(time.time() - start, 1),
                             "rss_kib": kib, "entries": entries,
                             "distinct_stacks": stacks, "samples": count})
                print(json.dumps(rows[-1]), flush=True)
            if done:
                break
            time.sleep(0.25)
    finally:
        if rec is not None and rec.poll() is None:
            rec.send_signal(signal.SIGINT)
            rec.wait()
        svc.kill()
        svc.wait()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss = [r["rss_kib"] for r in rows if r["rss_kib"] > 0]
    summary = {
        "command": " ".join(cmd),
        "python": a.python,
        "windows": len(rows),
        "exit_code": rec.returncode,
        "rss_first_kib": rss[0] if rss else None,
        "rss_last_kib": rss[-1] if rss else None,
        "rss_max_kib": max(rss) if rss else None,
        "last_over_first": (rss[-1] / rss[0]) if rss else None,
        # pystrobe's own, from wait4.
        "pystrobe_maxrss_kib": rec_usage.ru_maxrss if rec_usage else None,
        "pystrobe_cpu_s": (rec_usage.ru_utime + rec_usage.ru_stime)
        if rec_usage else None,
        "service_and_pystrobe_cpu_s": children.ru_utime + children.ru_stime,
        "rows": rows,
    }
    with open(os.path.join(a.out, "windows_rss.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n| window | t (s) | pystrobe RSS (MiB) | samples | entries | "
          "distinct stacks |\n|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.0f | %.1f | %d | %d | %d |" % (
            r["window"], r["t_s"], r["rss_kib"] / 1024.0, r["samples"],
            r["entries"], r["distinct_stacks"]))
    if rss:
        print("\nRSS after the first window %.1f MiB, after the last %.1f MiB "
              "(%+.1f%%), max %.1f MiB; peak (ru_maxrss) %.1f MiB; pystrobe "
              "CPU %.1f s (%.2f%% of one core); exit %s" % (
                  rss[0] / 1024.0, rss[-1] / 1024.0,
                  100.0 * (rss[-1] / rss[0] - 1), max(rss) / 1024.0,
                  summary["pystrobe_maxrss_kib"] / 1024.0,
                  summary["pystrobe_cpu_s"],
                  100.0 * summary["pystrobe_cpu_s"] / max(1, rows[-1]["t_s"]),
                  rec_code))


if __name__ == "__main__":
    main()
