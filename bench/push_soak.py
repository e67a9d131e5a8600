#!/usr/bin/env python3
"""--push over a long recording, through a real OpenTelemetry Collector.

Issue 19's verification, in one run on one machine:

1. Soak. Starts the demo's pre-forking calendar service
   (tests/workloads/service/calendar_service.py, a master and WORKERS
   forked workers) under steady load (tests/workloads/service/load.py),
   the collector of tests/push/build_collector.sh on 127.0.0.1 (OTLP
   receiver, file exporter), and
     pystrobe record --pid MASTER --subprocesses --every 30 -d DURATION \\
         --push http://127.0.0.1:PORT --spool DIR
   After a third of the duration the collector is stopped (SIGTERM) for
   OUTAGE seconds and started again. Each time a window file appears,
   pystrobe's VmRSS is read. At the end: every window file against what
   the collector wrote (matched by the window's start time), in order; the
   push counts of pystrobe's summary; RSS after the first window, peak and
   last.

2. Rate. The same service, three recordings of RATE_SECONDS each at
   --every 10: without --push, with --push to a dead port (nothing
   listens), and with --push to a slow backend (accepts, answers after
   60 s, so every request times out). The achieved rate is pystrobe's own
   count of ticks over the recording's seconds (its summary line), the
   same measure in the three.

Usage:
  bench/push_soak.py --pystrobe build/pystrobe --out DIR \\
      [--duration 600] [--outage 20] [--rate-seconds 60]

Writes DIR/push_soak.json and prints a Markdown summary.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WINDOW_RE = re.compile(r"^svc\.\d{8}-\d{6}\.pb\.gz$")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def collector_binary():
    out = subprocess.run([os.path.join(ROOT, "tests/push/build_collector.sh")],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


class Collector:
    def __init__(self, binary, out_dir, port, name):
        config = os.path.join(out_dir, "otelcol-%s.yaml" % name)
        self.path = os.path.join(out_dir, "received-%s.json" % name)
        with open(config, "w") as f:
            f.write("receivers:\n  otlp:\n    protocols:\n      http:\n"
                    "        endpoint: 127.0.0.1:%d\n"
                    "exporters:\n  file:\n    path: %s\n"
                    "service:\n  telemetry:\n    metrics:\n      level: none\n"
                    "  pipelines:\n    profiles:\n      receivers: [otlp]\n"
                    "      exporters: [file]\n" % (port, self.path))
        log = open(os.path.join(out_dir, "otelcol-%s.log" % name), "w")
        self.proc = subprocess.Popen(
            [binary, "--config=file:" + config,
             "--feature-gates=service.profilesSupport"],
            stdout=log, stderr=log)
        deadline = time.time() + 60
        while not accepts(port):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the collector did not start (%s)" % log.name)
            time.sleep(0.2)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def received_windows(path):
    """Start times (ns) of the windows in a collector's JSON file, in order."""
    times = []
    if not os.path.exists(path):
        return times
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            req = json.loads(line)
            for rp in req.get("resourceProfiles", []):
                for sp in rp.get("scopeProfiles", []):
                    profiles = sp.get("profiles", [])
                    if profiles:
                        times.append(int(profiles[0].get("timeUnixNano", 0)))
    return times


def window_start_ns(path):
    """time_nanos (field 9) of a gzipped pprof file."""
    import gzip
    buf = gzip.open(path).read()
    i = 0

    def varint(i):
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value, i
            shift += 7
    while i < len(buf):
        key, i = varint(i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(i)
            if num == 9:
                return v
        elif wt == 2:
            n, i = varint(i)
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
    return 0


def start_service(python, out_dir, workers):
    port_file = os.path.join(out_dir, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    log = open(os.path.join(out_dir, "service.log"), "a")
    svc = subprocess.Popen(
        [python, os.path.join(ROOT, "tests/workloads/service/calendar_service.py"),
         port_file, "1", "--workers", str(workers), "--exit-with-parent"],
        stdout=log, stderr=log)
    deadline = time.time() + 60
    while not os.path.exists(port_file):
        if svc.poll() is not None or time.time() > deadline:
            raise SystemExit("the service did not start")
        time.sleep(0.1)
    return svc, port_file


def start_load(python, port_file, seconds, clients, pause):
    return [subprocess.Popen(
        [python, os.path.join(ROOT, "tests/workloads/service/load.py"),
         port_file, str(seconds), str(pause)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(clients)]


def slow_backend():
    """A server that accepts and never answers in time."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def run():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing
    threading.Thread(target=run, daemon=True).start()
    return srv, srv.getsockname()[1]


SUMMARY_RE = re.compile(r"pystrobe: (\d+) samples in ([\d.]+) s \((\d+) ticks, "
                        r"([\d.]+) Hz\), (\d+) late, (\d+) missed")
PUSH_RE = re.compile(r"push to \S+: (\d+) windows sent, (\d+) retried, "
                     r"(\d+) spooled, (\d+) dropped")


def record(pystrobe, args, out_dir, name, watch_windows=None):
    err_path = os.path.join(out_dir, name + ".stderr")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([pystrobe, "record"] + args, stdout=err,
                                stderr=err)
        if watch_windows:
            watch_windows(proc)
        proc.wait()
    text = open(err_path).read()
    return proc, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pystrobe", default=os.path.join(ROOT, "build/pystrobe"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--outage", type=float, default=20)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--rate-seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    binary = collector_binary()
    svc, port_file = start_service(args.python, out, args.workers)
    total_load = args.duration + 3 * args.rate_seconds + 120
    load = start_load(args.python, port_file, total_load, 2, 0.01)
    result = {"machine": os.uname().nodename, "cpus": os.cpu_count(),
              "duration_s": args.duration, "every_s": args.every,
              "outage_s": args.outage, "rate_hz": args.rate}
    try:
        # --- 1. Soak through the collector, with an outage. ---
        port = free_port()
        first = Collector(binary, out, port, "before")
        collectors = [first]
        rss = []  # (window count, RSS KiB)
        outage = {}

        def watch(proc):
            seen = set()
            t0 = time.time()
            stopped = False
            while proc.poll() is None:
                names = sorted(n for n in os.listdir(out) if WINDOW_RE.match(n))
                for n in names:
                    if n not in seen:
                        seen.add(n)
                        rss.append((len(seen), rss_kib(proc.pid)))
                        print("window %d: pystrobe RSS %d KiB" % rss[-1],
                              flush=True)
                if not stopped and time.time() - t0 >= args.duration / 3:
                    stopped = True
                    collectors[0].stop()
                    outage["from_window"] = len(seen)
                    outage["at_s"] = round(time.time() - t0, 1)
                    time.sleep(args.outage)
                    outage["to_window"] = len(
                        [n for n in os.listdir(out) if WINDOW_RE.match(n)])
                    collectors.append(Collector(binary, out, port, "after"))
                    print("collector away for %g s (windows %d..%d closed "
                          "meanwhile)" % (args.outage, outage["from_window"],
                                          outage["to_window"]), flush=True)
                time.sleep(0.5)

        proc, text = record(
            args.pystrobe,
            ["--pid", str(svc.pid), "--subprocesses", "-r", str(args.rate),
             "--every", str(args.every), "-d", str(args.duration),
             "-o", os.path.join(out, "svc.pb.gz"), "--push",
             "http://127.0.0.1:%d" % port, "--spool",
             os.path.join(out, "spool")],
            out, "soak", watch)
        collectors[-1].stop()
        files = sorted(n for n in os.listdir(out) if WINDOW_RE.match(n))
        written = [window_start_ns(os.path.join(out, n)) for n in files]
        arrived = (received_windows(first.path) +
                   received_windows(collectors[-1].path))
        m = PUSH_RE.search(text)
        result["soak"] = {
            "exit": proc.returncode, "windows_written": len(written),
            "windows_arrived": len(arrived),
            "arrived_in_order_and_complete": arrived == written,
            "push_counts": dict(zip(["sent", "retried", "spooled", "dropped"],
                                    map(int, m.groups()))) if m else None,
            "outage": outage,
            "rss_kib": rss,
            "error_lines": [l for l in text.splitlines() if "push to" in l],
        }
        # --- 2. The achieved rate: no push, dead backend, slow backend. ---
        srv, slow_port = slow_backend()
        dead_port = free_port()
        rates = {}
        for name, extra in [
                ("no --push", []),
                ("--push to a dead port", ["--push",
                                           "http://127.0.0.1:%d" % dead_port]),
                ("--push to a backend that never answers (timeout 5 s)",
                 ["--push", "http://127.0.0.1:%d" % slow_port,
                  "--push-timeout", "5"])]:
            rdir = os.path.join(out, "rate-%d" % len(rates))
            os.makedirs(rdir, exist_ok=True)
            proc, text = record(
                args.pystrobe,
                ["--pid", str(svc.pid), "--subprocesses", "-r", str(args.rate),
                 "--every", "10", "-d", str(args.rate_seconds),
                 "-o", os.path.join(rdir, "r.pb.gz")] + extra,
                rdir, "rate")
            sm = SUMMARY_RE.search(text)
            pm = PUSH_RE.search(text)
            rates[name] = {
                "exit": proc.returncode,
                "summary": [l for l in text.splitlines()
                            if "samples in" in l or "ticks" in l or
                            "Hz" in l or "push to" in l][:6],
                "samples": int(sm.group(1)) if sm else None,
                "seconds": float(sm.group(2)) if sm else None,
                "ticks": int(sm.group(3)) if sm else None,
                "hz": float(sm.group(4)) if sm else None,
                "late": int(sm.group(5)) if sm else None,
                "missed": int(sm.group(6)) if sm else None,
                "push_counts": pm.groups() if pm else None,
            }
            print(name, rates[name], flush=True)
        srv.close()
        result["rates"] = rates
    finally:
        for p in load:
            p.kill()
        svc.terminate()
        try:
            svc.wait(10)
        except subprocess.TimeoutExpired:
            svc.kill()
    with open(os.path.join(out, "push_soak.json"), "w") as f:
        json.dump(result, f, indent=1)
    soak = result["soak"]
    first_rss = soak["rss_kib"][0][1] if soak["rss_kib"] else 0
    peak = max((r for _, r in soak["rss_kib"]), default=0)
    print("\n| windows written | arrived (in order) | sent | retried | spooled "
          "| dropped | RSS after window 1 | peak RSS | last RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    c = soak["push_counts"] or {}
    print("| %d | %d (%s) | %s | %s | %s | %s | %d KiB | %d KiB (%+.0f%%) | "
          "%d KiB |" % (
              soak["windows_written"], soak["windows_arrived"],
              "yes" if soak["arrived_in_order_and_complete"] else "NO",
              c.get("sent"), c.get("retried"), c.get("spooled"),
              c.get("dropped"), first_rss, peak,
              100.0 * (peak - first_rss) / first_rss if first_rss else 0,
              soak["rss_kib"][-1][1] if soak["rss_kib"] else 0))
    print("\n| recording (-r %g) | ticks | seconds | achieved Hz | late | "
          "missed | samples | push |" % args.rate)
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in result["rates"].items():
        if r["ticks"] is not None:
            print("| %s | %d | %.1f | %.1f | %d | %d | %d | %s |" % (
                name, r["ticks"], r["seconds"], r["hz"], r["late"],
                r["missed"], r["samples"],
                "sent %s, retried %s, spooled %s, dropped %s" % r["push_counts"]
                if r["push_counts"] else "-"))
    return 0 if soak["arrived_in_order_and_complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
